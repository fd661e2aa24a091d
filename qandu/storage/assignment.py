"""The human queue, assignment, priority and SLA clocks (run in the store's writer thread).

The queue is not a structure of its own: it is every ``pending`` conversation without an
assignee, ordered by priority (high first), then ``queued_at`` (longest waiting first).
Each assignment runs in one transaction that re-reads the conversation and the agent's
load, so two decisions (two nodes, or a claim racing the router) can never give one
conversation to two agents or push an agent past their limit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import attrs
import peewee

from qandu.domain import Conversation, StatusChange, utcnow
from qandu.errors import Conflict, NotFound
from qandu.routing.types import PRIORITY_RANK
from qandu.storage import conversations as convs
from qandu.storage.drafts import UNSET
from qandu.storage.teams import RoutingDb, _ensure_agent_row, effective_status, loads, require_team
from qandu.storage.users import get_user

CLOSED = ("resolved", "archived")


class AgentUnavailable(Conflict):
    """The agent cannot take the conversation: full, or not available."""


@attrs.frozen
class Change:
    """What an assignment operation did, for the events and frames sent after the commit."""

    conversation: Conversation
    previous_agent: str | None
    status_change: StatusChange | None = None


def _priority_order(r: RoutingDb) -> Any:
    c = r.m.Conversation
    return peewee.Case(c.priority, [(name, -rank) for name, rank in PRIORITY_RANK.items()], 0)


def queue(r: RoutingDb, *, team_id: str | None = None, limit: int = 200) -> list[Conversation]:
    """The waiting conversations in queue order (``team_id``: only that team's)."""
    c = r.m.Conversation
    query = (
        c.select()
        .where((c.status == "pending") & c.assignee_id.is_null())
        .order_by(_priority_order(r), c.queued_at, c.id)
        .limit(limit)
    )
    if team_id is not None:
        query = query.where(c.team_id == team_id)
    return convs._with_participants(r.db, list(query.dicts()))


def queue_count(r: RoutingDb) -> int:
    c = r.m.Conversation
    return c.select().where((c.status == "pending") & c.assignee_id.is_null()).count()


def _locked(r: RoutingDb, conversation_id: str) -> dict[str, Any]:
    c = r.m.Conversation
    query = c.select(c.id, c.status, c.assignee_id, c.team_id).where(c.id == conversation_id)
    if r.is_postgresql:
        query = query.for_update()
    row = query.dicts().first()
    if row is None:
        raise NotFound(f"conversation {conversation_id} not found", field="conversationId")
    return row


def assign(
    r: RoutingDb,
    conversation_id: str,
    agent_id: str,
    *,
    by: str | None,
    reason: str,
    default_limit: int | None,
    expect_unassigned: bool = False,
    require_available: bool = False,
    team_id: Any = UNSET,
) -> Change:
    """Give the conversation to ``agent_id`` if they are below their limit (and available).

    :param expect_unassigned: Fail with ``Conflict`` if someone already has it (claims).
    :param require_available: Fail unless the agent is online and present (the router).
    :raises AgentUnavailable: The agent is at their limit or not available.
    """
    now = utcnow()
    row = _locked(r, conversation_id)
    if row["status"] in CLOSED:
        raise Conflict(f"conversation is {row['status']}; reopen it first", field="conversationId")
    previous = row["assignee_id"]
    if previous == agent_id:
        return Change(convs.require_conversation(r.db, conversation_id), previous)
    if expect_unassigned and previous is not None:
        raise Conflict("the conversation is already assigned to another agent", field="conversationId")
    agent = _ensure_agent_row(r, agent_id, now)  # locks the agent's row on PostgreSQL
    if require_available and effective_status(agent["status"], agent["present_until"], now) != "online":
        raise AgentUnavailable("the agent is not available", field="agentId")
    limit = agent["max_chats"] if agent["max_chats"] is not None else default_limit
    if limit is not None and loads(r, [agent_id]).get(agent_id, 0) >= limit:
        raise AgentUnavailable(
            f"the agent already has {limit} open conversations (their limit)", field="agentId"
        )
    c = r.m.Conversation
    changes: dict[str, Any] = {"assignee_id": agent_id, "updated_at": now}
    if team_id is not UNSET:
        changes["team_id"] = team_id
    c.update(**changes).where(c.id == conversation_id).execute()
    r.Agent.update(last_assigned_at=now).where(r.Agent.user_id == agent_id).execute()
    user = get_user(r.db, agent_id)
    assert user is not None
    convs.add_participant(r.db, conversation_id, user)
    if previous is not None:
        convs.remove_participant(r.db, conversation_id, previous)
    status_change = None
    if row["status"] == "pending":
        _, status_change = convs.set_status(r.db, conversation_id, "active", by=by, reason=reason)
    return Change(convs.require_conversation(r.db, conversation_id), previous, status_change)


def release(
    r: RoutingDb,
    conversation_id: str,
    *,
    by: str | None,
    reason: str,
    expect_agent: str | None = None,
    requeue: bool = True,
    team_id: Any = UNSET,
) -> Change:
    """Take the conversation from its agent: back to the queue (``requeue``) or to the bot.

    :param expect_agent: Only if this agent has it (``Conflict`` otherwise).
    """
    row = _locked(r, conversation_id)
    previous = row["assignee_id"]
    if expect_agent is not None and previous != expect_agent:
        raise Conflict("the conversation is not assigned to this agent", field="conversationId")
    if row["status"] in CLOSED:
        raise Conflict(f"conversation is {row['status']}", field="conversationId")
    c = r.m.Conversation
    changes: dict[str, Any] = {"assignee_id": None, "updated_at": utcnow()}
    if team_id is not UNSET:
        changes["team_id"] = team_id
    c.update(**changes).where(c.id == conversation_id).execute()
    if previous is not None:
        convs.remove_participant(r.db, conversation_id, previous)
    target = "pending" if requeue else "active"
    status_change = None
    if row["status"] != target:
        _, status_change = convs.set_status(r.db, conversation_id, target, by=by, reason=reason)
    elif requeue:
        convs._queue_clock(r.db, conversation_id, "pending", utcnow())
    return Change(convs.require_conversation(r.db, conversation_id), previous, status_change)


def open_assigned(r: RoutingDb, agent_id: str) -> list[str]:
    """Ids of the agent's open conversations, oldest first."""
    c = r.m.Conversation
    query = c.select(c.id).where((c.assignee_id == agent_id) & c.status.in_(("active", "pending")))
    return [row[0] for row in query.order_by(c.queued_at, c.started_at).tuples()]


def set_team(r: RoutingDb, conversation_id: str, team_id: str | None) -> Conversation:
    if team_id is not None:
        require_team(r, team_id)
    _locked(r, conversation_id)
    c = r.m.Conversation
    c.update(team_id=team_id).where(c.id == conversation_id).execute()
    return convs.require_conversation(r.db, conversation_id)


def set_priority(
    r: RoutingDb, conversation_id: str, priority: str, reason: str | None, *, only_raise: bool
) -> tuple[Conversation, str] | None:
    """Change priority and its reason; ``only_raise``: never lower it.  ``None`` if unchanged."""
    convs.check_priority(priority)
    c = r.m.Conversation
    row = c.select(c.priority, c.priority_reason).where(c.id == conversation_id).tuples().first()
    if row is None:
        raise NotFound(f"conversation {conversation_id} not found", field="conversationId")
    current, current_reason = row
    if (priority, reason) == (current, current_reason):
        return None
    if only_raise and PRIORITY_RANK[priority] <= PRIORITY_RANK[current]:
        return None
    c.update(priority=priority, priority_reason=reason).where(c.id == conversation_id).execute()
    return convs.require_conversation(r.db, conversation_id), current


def set_sla(r: RoutingDb, conversation_id: str, **dues: Any) -> Conversation:
    """Set ``first_response_due`` / ``next_response_due`` (a new deadline clears its breach flag)."""
    changes: dict[str, Any] = {}
    for kind in ("first_response", "next_response"):
        due = dues.get(f"{kind}_due", UNSET)
        if due is not UNSET:
            changes[f"{kind}_due"] = due
            if kind == "next_response":
                changes["next_response_breached"] = False
    c = r.m.Conversation
    if changes:
        c.update(**changes).where(c.id == conversation_id).execute()
    return convs.require_conversation(r.db, conversation_id)


def record_response(r: RoutingDb, conversation_id: str, at: dt.datetime) -> tuple[Conversation, bool] | None:
    """An agent answered: stamp the first response, stop the next-response clock.

    Returns the conversation and whether this was the first response, or ``None`` if no
    clock was running (nothing written).
    """
    c = r.m.Conversation
    row = (
        c.select(c.first_response_at, c.next_response_due, c.queued_at)
        .where(c.id == conversation_id)
        .tuples()
        .first()
    )
    if row is None:
        return None
    first_at, next_due, queued_at = row
    first = first_at is None and queued_at is not None
    if not first and next_due is None:
        return None
    changes: dict[str, Any] = {"next_response_due": None, "next_response_breached": False}
    if first:
        changes.update(first_response_at=at, first_response_due=None)
    c.update(**changes).where(c.id == conversation_id).execute()
    return convs.require_conversation(r.db, conversation_id), first


def sla_breaches(r: RoutingDb, now: dt.datetime) -> list[tuple[Conversation, str, dt.datetime]]:
    """Flag every deadline that passed unanswered, once; return ``(conversation, kind, due)``."""
    c = r.m.Conversation
    open_ = c.status.in_(("active", "pending"))
    found: list[tuple[str, str, dt.datetime]] = []
    first = c.select(c.id, c.first_response_due).where(
        open_
        & (c.first_response_due <= now)
        & (c.first_response_breached == False)  # noqa: E712
        & c.first_response_at.is_null()
    )
    second = c.select(c.id, c.next_response_due).where(
        open_ & (c.next_response_due <= now) & (c.next_response_breached == False)  # noqa: E712
    )
    for kind, query in (("first_response", first), ("next_response", second)):
        if r.is_postgresql:
            query = query.for_update(skip_locked=True)
        rows = list(query.tuples())
        if rows:
            c.update(**{f"{kind}_breached": True}).where(c.id.in_([cid for cid, _ in rows])).execute()
            found += [(cid, kind, due) for cid, due in rows]
    return [(convs.require_conversation(r.db, cid), kind, due) for cid, kind, due in found]


def conversations_of(r: RoutingDb, ids: Sequence[str]) -> list[Conversation]:
    return [conversation for cid in ids if (conversation := convs.get_conversation(r.db, cid)) is not None]
