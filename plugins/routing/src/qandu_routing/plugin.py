"""The routing plugin: the policy on top of the core's queue, assignment and presence mechanisms."""

from __future__ import annotations

import datetime as dt
import logging
import math
from typing import Any

import trio

from qandu import Content, Service, hookimpl
from qandu.domain import Conversation, Message, StatusChange, utcnow
from qandu.events import Event
from qandu.routing import Candidate, PriorityAssessment, RouteDecision, Team, higher_priority
from qandu_routing.assign import choose, skill_vocabulary
from qandu_routing.config import RoutingConfig
from qandu_routing.notice import closed_notice
from qandu_routing.priority import PriorityRules

log = logging.getLogger("qandu_routing")


class Routing:
    """Priority rules, skill/language/team-aware assignment, SLA timers and business hours."""

    Config = RoutingConfig
    requires = ()

    def __init__(self, config: RoutingConfig) -> None:
        self.config = config
        self.rules = PriorityRules(config)
        self.app: Any = None
        self._wake = trio.Event()
        self._teams: dict[str, Team] = {}
        self._teams_at = -math.inf

    # -- start-up ----------------------------------------------------------------------------

    @hookimpl
    async def qandu_startup(self, app: Any) -> None:
        self.app = app
        app.routing.default_max_chats = self.config.max_chats
        app.routing.next_response_targets = {
            level: target.next_response for level, target in self.config.sla.items()
        }
        app.routing.presence.configure(grace=self.config.offline_grace, tick=self.config.sweep_interval)
        if self.config.sentiment_fallback:  # loads VADER's lexicon off the event loop
            await trio.to_thread.run_sync(self.rules.warm_up)

    @hookimpl
    def qandu_register_services(self, app: Any) -> list[Service]:
        return [Service("routing", self._run)]

    async def _run(self, app: Any, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Drain the backlog when woken (capacity freed, a conversation queued) and sweep SLA deadlines."""
        task_status.started()
        next_sweep = trio.current_time()
        while True:
            with trio.move_on_at(next_sweep):
                await self._wake.wait()
            self._wake = trio.Event()
            try:
                if trio.current_time() >= next_sweep:
                    next_sweep = trio.current_time() + self.config.sweep_interval
                    await app.routing.sweep_sla()
                await app.routing.drain()
            except Exception:
                log.exception("routing sweep failed; retrying")

    def wake(self) -> None:
        """Ask the service to drain the queue now."""
        self._wake.set()

    async def _team_map(self) -> dict[str, Team]:
        if trio.current_time() - self._teams_at > self.config.sweep_interval:
            self._teams = {team.id: team for team in await self.app.routing.db.list_teams()}
            self._teams_at = trio.current_time()
        return self._teams

    async def _closed_team(self, conversation: Conversation, now: dt.datetime) -> Team | None:
        """The conversation's team if it is outside its business hours right now."""
        if conversation.team_id is None:
            return None
        team = (await self._team_map()).get(conversation.team_id)
        if team is None or team.hours is None or team.hours.is_open(now):
            return None
        return team

    # -- hooks -------------------------------------------------------------------------------

    @hookimpl
    async def qandu_assess_priority(
        self, conversation: Conversation, message: Message | None, annotations: dict[str, Any]
    ) -> PriorityAssessment | None:
        return self.rules.assess(conversation, message, annotations)

    @hookimpl
    async def qandu_route_conversation(
        self, conversation: Conversation, candidates: list[Candidate]
    ) -> RouteDecision | None:
        if await self._closed_team(conversation, utcnow()) is not None:
            return None  # outside business hours: it waits (agents may still claim it)
        teams = await self._team_map()
        return choose(
            conversation,
            candidates,
            strategy=self.config.strategy,
            vocabulary=skill_vocabulary(self.config.skills, teams),
            match_language=self.config.match_language,
        )

    @hookimpl
    async def qandu_conversation_status_changed(
        self, conversation: Conversation, change: StatusChange
    ) -> None:
        if change.to_status in ("resolved", "archived") and change.from_status in ("active", "pending"):
            self.wake()  # its agent has room again

    @hookimpl
    async def qandu_event(self, event: Event) -> None:
        handler = getattr(self, "_on_" + event.name.replace(".", "_"), None)
        if handler is not None:
            await handler(event)
        elif event.name in ("conversation.unassigned", "conversation.transferred", "agent.updated"):
            self.wake()

    # -- events ------------------------------------------------------------------------------

    async def _on_team_updated(self, event: Event) -> None:
        self._teams_at = -math.inf
        self.wake()

    async def _on_agent_status_changed(self, event: Event) -> None:
        status = event.data.get("status")
        requeue = (status == "offline" and self.config.requeue_on_offline) or (
            status == "away" and self.config.requeue_on_away
        )
        if requeue:
            await self.app.routing.requeue_agent(event.data["agentId"], reason=f"agent went {status}")
        self.wake()

    async def _on_conversation_queued(self, event: Event) -> None:
        conversation = await self.app.store.get_conversation(event.conversation_id)
        if conversation is None:
            return
        await self._start_first_response_clock(conversation)
        now = utcnow()
        team = await self._closed_team(conversation, now)
        if team is not None and team.hours is not None:
            opening = team.hours.next_opening(now)
            if opening is not None:
                await self._tell_closed(conversation, opening)
            if self.config.outside_hours == "bot" and conversation.bot is not None:
                await self.app.routing.return_to_bot(conversation.id, reason="outside business hours")
                return
        self.wake()

    async def _on_conversation_priority_changed(self, event: Event) -> None:
        conversation = await self.app.store.get_conversation(event.conversation_id)
        if conversation is not None:
            await self._start_first_response_clock(conversation)

    async def _on_sla_breached(self, event: Event) -> None:
        if not self.config.breach_raises_priority or event.conversation_id is None:
            return
        conversation = await self.app.store.get_conversation(event.conversation_id)
        if conversation is not None and conversation.priority != "high":
            kind = str(event.data.get("kind", "response")).replace("_", " ")
            await self.app.routing.set_priority(
                conversation.id,
                higher_priority(conversation.priority),
                f"SLA breached: {kind}",
                only_raise=True,
            )

    async def _start_first_response_clock(self, conversation: Conversation) -> None:
        """Deadline = entering the queue + the priority's target (only ever moved earlier)."""
        target = self.config.sla.get(conversation.priority)
        if target is None or conversation.queued_at is None or conversation.first_response_at is not None:
            return
        due = conversation.queued_at + dt.timedelta(seconds=target.first_response)
        if conversation.first_response_due is None or due < conversation.first_response_due:
            await self.app.routing.set_sla(conversation.id, first_response_due=due)

    async def _tell_closed(self, conversation: Conversation, opening: dt.datetime) -> None:
        bot = self.app.bots.get(conversation.bot or "")
        locale = (conversation.context or {}).get("locale")
        text = closed_notice(self.config.closed_notice, opening, bot=bot, locale=locale)
        if bot is not None:
            await self.app.chat.post_as_bot(bot, conversation, Content(text=text))
        else:
            await self.app.chat.post_system(conversation, text)
