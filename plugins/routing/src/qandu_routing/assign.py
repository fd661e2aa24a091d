"""Choosing an agent: team, skills and language must match; then round-robin or least-busy."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence

from qandu.domain import Conversation
from qandu.routing import Candidate, RouteDecision, Team

_NEVER = dt.datetime.min.replace(tzinfo=dt.UTC)


def conversation_language(conversation: Conversation) -> str | None:
    """The customer's language: ``context.language``, else the primary subtag of ``context.locale``."""
    context = conversation.context or {}
    for key in ("language", "locale"):
        value = context.get(key)
        if isinstance(value, str) and value.strip():
            return value.replace("_", "-").split("-")[0].lower()
    return None


def required_skills(conversation: Conversation, vocabulary: Iterable[str]) -> frozenset[str]:
    """Skills the conversation needs: its tags and ``context.skills`` that name a known skill."""
    context = conversation.context or {}
    wanted = set(conversation.tags)
    extra = context.get("skills")
    if isinstance(extra, list):
        wanted |= {skill for skill in extra if isinstance(skill, str)}
    return frozenset(wanted) & frozenset(vocabulary)


def eligible(
    conversation: Conversation,
    candidates: Sequence[Candidate],
    *,
    vocabulary: Iterable[str],
    match_language: bool,
) -> list[Candidate]:
    """The candidates who may take it: in its team, with every required skill, speaking its language."""
    skills = required_skills(conversation, vocabulary)
    language = conversation_language(conversation) if match_language else None
    found = []
    for agent in candidates:
        if conversation.team_id is not None and conversation.team_id not in agent.team_ids:
            continue
        if not skills <= set(agent.skills):
            continue
        if language is not None and agent.languages and language not in agent.languages:
            continue
        found.append(agent)
    return found


def choose(
    conversation: Conversation,
    candidates: Sequence[Candidate],
    *,
    strategy: str,
    vocabulary: Iterable[str],
    match_language: bool,
) -> RouteDecision | None:
    """Pick one eligible agent by ``strategy`` (ties: longest since their last assignment, then id)."""
    pool = eligible(conversation, candidates, vocabulary=vocabulary, match_language=match_language)
    if not pool:
        return None
    if strategy == "round_robin":
        agent = min(pool, key=lambda a: (a.last_assigned_at or _NEVER, a.id))
        return RouteDecision(agent.id, f"round robin: {agent.user.name}")
    agent = min(
        pool, key=lambda a: (a.load / a.limit if a.limit else a.load, a.last_assigned_at or _NEVER, a.id)
    )
    return RouteDecision(agent.id, f"least busy: {agent.user.name} ({agent.load} open)")


def skill_vocabulary(configured: Iterable[str], teams: Mapping[str, Team]) -> frozenset[str]:
    return frozenset(configured).union(*(team.skills for team in teams.values()))
