"""Frozen value types of routing: assessments, decisions, agents, teams, inboxes."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import attrs

from qandu.domain import PRIORITIES, Conversation, Priority, User, iso
from qandu.routing.hours import BusinessHours

Availability = Literal["online", "away", "offline"]
AVAILABILITIES: tuple[str, ...] = ("online", "away", "offline")

#: Priorities from least to most urgent, as sortable ranks.
PRIORITY_RANK: dict[str, int] = {name: rank for rank, name in enumerate(PRIORITIES)}


def higher_priority(priority: str, steps: int = 1) -> Priority:
    """The priority ``steps`` levels above ``priority`` (capped at ``high``)."""
    rank = min(PRIORITY_RANK[priority] + steps, len(PRIORITIES) - 1)
    return PRIORITIES[rank]  # type: ignore[return-value]


def is_queued(conversation: Conversation) -> bool:
    """Waiting in the human queue: ``pending`` and nobody assigned."""
    return conversation.status == "pending" and conversation.assignee_id is None


def _priority(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if value not in PRIORITY_RANK:
        raise ValueError(f"{attribute.name} must be one of {', '.join(PRIORITIES)}, got {value!r}")


@attrs.frozen
class PriorityAssessment:
    """The answer of ``qandu_assess_priority``: a level and why (shown to agents)."""

    priority: Priority = attrs.field(validator=_priority)
    reason: str

    @property
    def rank(self) -> int:
        return PRIORITY_RANK[self.priority]


@attrs.frozen
class RouteDecision:
    """The answer of ``qandu_route_conversation``: the candidate to assign, and why."""

    agent_id: str
    reason: str = ""


@attrs.frozen
class Agent:
    """An agent's routing profile and state: availability, limit, skills, teams, load.

    ``status`` is the effective availability: an agent whose presence lease ran out (no
    open console for longer than the grace period) is ``offline`` whatever they chose.
    ``max_chats`` is the agent's own limit, or ``None`` for the server default
    (``limit`` is the one in force, ``None`` meaning unlimited).
    """

    user: User
    status: Availability = "offline"
    status_at: dt.datetime | None = None
    present_until: dt.datetime | None = None
    skills: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    max_chats: int | None = None
    limit: int | None = None
    load: int = 0
    team_ids: tuple[str, ...] = ()
    last_assigned_at: dt.datetime | None = None

    @property
    def id(self) -> str:
        return self.user.id

    @property
    def has_capacity(self) -> bool:
        return self.limit is None or self.load < self.limit

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.user.id,
            "name": self.user.name,
            "role": self.user.role,
            "status": self.status,
            "statusAt": iso(self.status_at),
            "skills": list(self.skills),
            "languages": list(self.languages),
            "maxChats": self.max_chats,
            "limit": self.limit,
            "load": self.load,
            "teamIds": list(self.team_ids),
        }


#: What ``qandu_route_conversation`` chooses from: available agents below their limit.
Candidate = Agent


@attrs.frozen
class Team:
    """A group of agents with shared skills, languages and business hours."""

    id: str
    name: str
    skills: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    hours: BusinessHours | None = None
    timezone: str = "UTC"
    member_ids: tuple[str, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "skills": list(self.skills),
            "languages": list(self.languages),
            "businessHours": self.hours.to_wire() if self.hours is not None else None,
            "timezone": self.timezone,
            "memberIds": list(self.member_ids),
        }


@attrs.frozen
class Inbox:
    """Where conversations come from (a source and/or a bot), and the team they go to."""

    id: str
    name: str
    source: str | None = None
    bot: str | None = None
    team_id: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "source": self.source,
            "bot": self.bot,
            "teamId": self.team_id,
        }
