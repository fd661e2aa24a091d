"""``RoutingService``: the queue, assignment, priority and SLA mechanisms behind the API.

Policy lives in plugins: ``qandu_assess_priority`` rates conversations and
``qandu_route_conversation`` picks agents; a routing plugin decides *when* to drain the
queue, requeue an offline agent's chats or flag SLA deadlines, through this service.
Every decision is a transaction in the store (see :mod:`qandu.storage.assignment`), and
what changed goes out afterwards as frames (``queue.updated``, ``assignment``,
``conversation.updated``) and events (``qandu_event``).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from typing import TYPE_CHECKING, Any

import attrs

from qandu.bus import STAFF_TOPIC, user_topic
from qandu.cluster import Lease
from qandu.domain import Conversation, Message, StatusChange, User, utcnow
from qandu.errors import Conflict, Forbidden, NotFound
from qandu.events import emit
from qandu.gateway.protocol import queue_updated_frame, server_frame
from qandu.routing.admin import RoutingAdmin
from qandu.routing.manual import PeopleAssignment
from qandu.routing.presence import Presence
from qandu.routing.types import PRIORITY_RANK, Agent, PriorityAssessment, RouteDecision, Team, is_queued
from qandu.storage.assignment import AgentUnavailable, Change
from qandu.storage.routing import RoutingStore

if TYPE_CHECKING:
    from qandu.chat import ChatService

log = logging.getLogger("qandu.routing")

#: Largest number of waiting conversations one drain looks at.
DRAIN_BATCH = 500
#: The lease that lets one node of the cluster drain the queue at a time.
DRAIN_LEASE = "routing.drain"


class RoutingService(PeopleAssignment):
    """Queue, assignment, priority, SLA and presence operations (``app.routing``)."""

    def __init__(self, chat: ChatService) -> None:
        self.chat = chat
        self.db = RoutingStore(chat.store)
        self.presence = Presence(self)
        self.admin = RoutingAdmin(self)
        self.default_max_chats: int | None = None
        """Limit of open conversations for agents without their own ``maxChats`` (None: no limit)."""
        self.next_response_targets: dict[str, float] = {}
        """Seconds an agent has to answer a customer's new message, per priority (a routing
        plugin's SLA policy; a priority without one starts no next-response clock)."""

    # -- plumbing ----------------------------------------------------------------------------

    async def emit(self, name: str, conversation_id: str | None = None, **data: Any) -> None:
        """Send an event to every ``qandu_event`` implementation (:func:`qandu.events.emit`)."""
        await emit(self.chat.pm, name, conversation_id, **data)

    async def publish_queue(self, conversation: Conversation, *, was_queued: bool) -> None:
        """Tell every agent how ``conversation`` changed the queue (a ``queue.updated`` delta).

        ``was_queued``: whether it waited in the queue before the change.  The frame carries
        only this conversation (added, updated or removed) and the new total, so its size
        does not grow with the queue; clients load the whole queue from ``GET /api/queue``.
        """
        queued = is_queued(conversation)
        if not (queued or was_queued) or not self.chat.bus.has_audience(STAFF_TOPIC):
            return
        total = await self.db.queue_count()
        if not queued:
            frame = queue_updated_frame(total, removed=[conversation.id])
        elif was_queued:
            frame = queue_updated_frame(total, updated=[conversation])
        else:
            frame = queue_updated_frame(total, added=[conversation])
        self.chat.bus.publish(STAFF_TOPIC, frame)

    def publish_agent(self, agent: Agent) -> None:
        self.chat.bus.publish(STAFF_TOPIC, server_frame("agent.updated", agent=agent.to_wire()))

    async def _team(self, team_id: str | None) -> Team | None:
        if team_id is None:
            return None
        team = await self.db.get_team(team_id)
        if team is None:
            raise NotFound(f"no team {team_id!r}", field="teamId")
        return team

    async def agent(self, agent_id: str) -> Agent:
        return await self.db.get_agent(agent_id, default_limit=self.default_max_chats)

    async def status_changed(self, conversation: Conversation, change: StatusChange) -> None:
        """Called by the chat service after every status change: queue entry and exit."""
        if change.to_status == "pending" and conversation.assignee_id is None:
            await self.emit(
                "conversation.queued",
                conversation.id,
                priority=conversation.priority,
                teamId=conversation.team_id,
                reason=change.reason,
            )
        await self.publish_queue(conversation, was_queued=change.from_status == "pending")

    async def _after(
        self, change: Change, event: str, *, by: User | None, reason: str, **data: Any
    ) -> Conversation:
        """Publish and announce what an assignment operation changed."""
        conversation = change.conversation
        if change.status_change is not None:
            await self.chat._status_changed(conversation, change.status_change)
        else:
            self.chat.publish_conversation(conversation)
            was_queued = conversation.status == "pending" and change.previous_agent is None
            await self.publish_queue(conversation, was_queued=was_queued)
            if is_queued(conversation) and change.previous_agent is not None:
                await self.emit(
                    "conversation.queued",
                    conversation.id,
                    priority=conversation.priority,
                    teamId=conversation.team_id,
                    reason=reason,
                )
        wire = conversation.to_wire()
        by_id = by.id if by is not None else None
        if conversation.assignee_id is not None and conversation.assignee_id != change.previous_agent:
            frame = server_frame("assignment", action="assigned", conversation=wire, by=by_id, reason=reason)
            self.chat.bus.publish(user_topic(conversation.assignee_id), frame)
        if change.previous_agent is not None and change.previous_agent != conversation.assignee_id:
            frame = server_frame(
                "assignment", action="unassigned", conversation=wire, by=by_id, reason=reason
            )
            self.chat.bus.publish(user_topic(change.previous_agent), frame)
        await self.emit(event, conversation.id, by=by_id, reason=reason, teamId=conversation.team_id, **data)
        return conversation

    # -- conversation lifecycle --------------------------------------------------------------

    async def started(self, conversation: Conversation) -> Conversation:
        """A new conversation: its inbox's team, and a first priority from its context."""
        inbox = await self.db.match_inbox(conversation.source, conversation.bot)
        if inbox is not None and inbox.team_id is not None:
            conversation = await self.db.set_team(conversation.id, inbox.team_id)
        return await self.assess(conversation, None, {})

    async def on_message(
        self, message: Message, conversation: Conversation, annotations: dict[str, Any]
    ) -> Conversation:
        """After analysis, before ``qandu_message_stored``: response clocks and priority."""
        if message.sender.type == "agent":
            waiting = conversation.queued_at is not None and conversation.first_response_at is None
            if waiting or conversation.next_response_due is not None:
                recorded = await self.db.record_response(conversation.id, message.timestamp)
                if recorded is not None:
                    conversation, first = recorded
                    if first and conversation.queued_at is not None:
                        waited = (message.timestamp - conversation.queued_at).total_seconds()
                        await self.emit(
                            "conversation.first_response",
                            conversation.id,
                            agentId=message.sender.id,
                            waitedSeconds=round(max(waited, 0.0), 3),
                        )
            return conversation
        if message.sender.type == "user":
            if conversation.priority != "high":  # it can only rise
                conversation = await self.assess(conversation, message, annotations)
            return await self._start_next_response_clock(conversation, message)
        return conversation

    async def _start_next_response_clock(self, conversation: Conversation, message: Message) -> Conversation:
        """A customer waiting on their agent (after the first response) starts the
        next-response clock, unless it already runs (only an agent's answer stops it)."""
        target = self.next_response_targets.get(conversation.priority)
        if (
            target is None
            or conversation.assignee_id is None
            or conversation.status != "active"
            or conversation.first_response_at is None
            or conversation.next_response_due is not None
        ):
            return conversation
        due = message.timestamp + dt.timedelta(seconds=target)
        return await self.set_sla(conversation.id, next_response_due=due)

    async def assess(
        self, conversation: Conversation, message: Message | None, annotations: dict[str, Any]
    ) -> Conversation:
        """Ask ``qandu_assess_priority``; the highest answer raises the priority (never lowers it)."""
        best: PriorityAssessment | None = None
        for plugin, result in await self.chat.pm.call_all(
            "qandu_assess_priority", conversation=conversation, message=message, annotations=annotations
        ):
            if not isinstance(result, PriorityAssessment):
                log.error(
                    "plugin %s: qandu_assess_priority returned %r, not a PriorityAssessment", plugin, result
                )
            elif best is None or result.rank > best.rank:
                best = result
        if best is None:
            return conversation
        if message is None:  # the first assessment replaces the default, in either direction
            return await self.set_priority(conversation.id, best.priority, best.reason)
        if best.rank <= PRIORITY_RANK[conversation.priority]:
            return conversation
        return await self.set_priority(conversation.id, best.priority, best.reason, only_raise=True)

    async def set_priority(
        self,
        conversation_id: str,
        priority: str,
        reason: str | None,
        *,
        only_raise: bool = False,
        by: User | None = None,
    ) -> Conversation:
        """Change a conversation's priority (and reason); announce it if it changed."""
        result = await self.db.set_priority(conversation_id, priority, reason, only_raise=only_raise)
        if result is None:
            conversation = await self.chat.store.get_conversation(conversation_id)
            assert conversation is not None
            return conversation
        conversation, previous = result
        self.chat.publish_conversation(conversation)
        await self.publish_queue(conversation, was_queued=is_queued(conversation))
        await self.emit(
            "conversation.priority_changed",
            conversation_id,
            priority=priority,
            previous=previous,
            reason=reason,
            by=by.id if by else None,
        )
        return conversation

    async def set_sla(self, conversation_id: str, **dues: dt.datetime | None) -> Conversation:
        """Set ``first_response_due`` and/or ``next_response_due`` (the SLA policy's deadlines)."""
        return await self.db.set_sla(conversation_id, **dues)

    async def sweep_sla(self) -> list[tuple[Conversation, str, dt.datetime]]:
        """Flag every passed deadline once (across nodes) and emit ``sla.breached`` for each."""
        breaches = await self.db.sla_breaches()
        for conversation, kind, due in breaches:
            self.chat.publish_conversation(conversation)
            await self.emit(
                "sla.breached",
                conversation.id,
                kind=kind,
                due=due.isoformat(),
                priority=conversation.priority,
                agentId=conversation.assignee_id,
            )
        return breaches

    # -- automatic assignment ----------------------------------------------------------------

    def routes(self) -> bool:
        """Whether any plugin implements ``qandu_route_conversation``."""
        return bool(self.chat.pm.hook.qandu_route_conversation.get_hookimpls())

    async def drain(self, *, limit: int = DRAIN_BATCH) -> int:
        """Offer waiting conversations, in queue order, to available agents; return how many were assigned.

        For each conversation, ``qandu_route_conversation`` picks among the agents who are
        online and below their limit; a pick that fails the transactional check (the agent
        filled up or went away meanwhile) drops that agent and asks again.  One node of the
        cluster drains at a time (lease ``routing.drain``; the others wait for it), so the
        router always sees the loads the previous drain left; each assignment is still a
        transaction that re-checks the conversation and the agent.
        """
        if not self.routes() or not await self.db.queue_count():
            return 0
        return await self.chat.cluster.exclusive(DRAIN_LEASE, functools.partial(self._drain, limit=limit))

    async def _drain(self, lease: Lease, *, limit: int) -> int:
        waiting = await self.db.queue(limit=limit)
        if not waiting:
            return 0
        agents = await self.db.list_agents(default_limit=self.default_max_chats)
        free = {a.id: a for a in agents if a.status == "online" and a.has_capacity}
        assigned = 0
        for conversation in waiting:
            if not free:
                break
            if await self._route_one(conversation, free):
                assigned += 1
        return assigned

    async def _route_one(self, conversation: Conversation, free: dict[str, Agent]) -> bool:
        while free:
            decision = await self.chat.pm.call_first(
                "qandu_route_conversation", conversation=conversation, candidates=list(free.values())
            )
            if not isinstance(decision, RouteDecision) or decision.agent_id not in free:
                if decision is not None:
                    log.error("qandu_route_conversation chose %r, which is not a candidate", decision)
                return False
            reason = decision.reason or "routed"
            try:
                change = await self.db.assign(
                    conversation.id,
                    decision.agent_id,
                    by=None,
                    reason=reason,
                    expect_unassigned=True,
                    require_available=True,
                    default_limit=self.default_max_chats,
                )
            except AgentUnavailable:
                free.pop(decision.agent_id)
                continue
            except Conflict:
                return False  # claimed or closed meanwhile
            agent = free[decision.agent_id]
            agent = attrs.evolve(agent, load=agent.load + 1, last_assigned_at=utcnow())
            if agent.has_capacity:
                free[agent.id] = agent
            else:
                free.pop(agent.id)
            await self.chat.post_system(change.conversation, f"{agent.user.name} joined the conversation")
            await self._after(change, "conversation.assigned", by=None, reason=reason, agentId=agent.id)
            return True
        return False

    # -- agents ------------------------------------------------------------------------------

    async def set_status(self, user: User, status: str, *, reason: str = "set by the agent") -> Agent:
        """An agent chooses online, away or offline (staff only)."""
        if not user.is_staff:
            raise Forbidden("only agents and admins have an availability")
        return await self.presence.set_status(user, status, reason=reason)
