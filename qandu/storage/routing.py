"""``RoutingStore``: the async face of the routing tables, on the store's own threads.

Every write runs in the store's group-committing writer (one transaction per job, so an
assignment's check of the agent's load and its update are atomic); reads run in a reader.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from qandu.domain import Conversation, utcnow
from qandu.routing.types import Agent, Inbox, Team
from qandu.storage import assignment as asg
from qandu.storage import teams
from qandu.storage.models import Db
from qandu.storage.store import Store
from qandu.storage.teams import RoutingDb

T = TypeVar("T")


class RoutingStore:
    """Teams, inboxes, agents, the queue and assignments of one :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._rdb: RoutingDb | None = None

    def _bound(self, fn: Callable[..., T]) -> Callable[..., T]:
        def call(db: Db, *args: Any, **kwargs: Any) -> T:
            if self._rdb is None or self._rdb.db is not db:
                self._rdb = teams.bind_routing(db)
            return fn(self._rdb, *args, **kwargs)

        return functools.update_wrapper(call, fn)

    async def _write(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        return await self.store._write(self._bound(fn), *args, **kwargs)

    async def _read(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        return await self.store._read(self._bound(fn), *args, **kwargs)

    # -- teams and inboxes -------------------------------------------------------------------

    async def list_teams(self) -> list[Team]:
        return await self._read(teams.list_teams)

    async def get_team(self, team_id: str) -> Team | None:
        return await self._read(teams.get_team, team_id)

    async def save_team(self, team_id: str | None, **fields: Any) -> Team:
        """Create (``team_id=None``) or change a team: name, skills, languages, business_hours..."""
        return await self._write(teams.save_team, team_id, **fields)

    async def delete_team(self, team_id: str) -> list[str]:
        """Delete a team; return the open conversations that lost it."""
        return await self._write(teams.delete_team, team_id)

    async def list_inboxes(self) -> list[Inbox]:
        return await self._read(teams.list_inboxes)

    async def save_inbox(self, inbox_id: str | None, **fields: Any) -> Inbox:
        return await self._write(teams.save_inbox, inbox_id, **fields)

    async def delete_inbox(self, inbox_id: str) -> None:
        await self._write(teams.delete_inbox, inbox_id)

    async def match_inbox(self, source: str, bot: str | None) -> Inbox | None:
        return await self._read(teams.match_inbox, source, bot)

    # -- agents ------------------------------------------------------------------------------

    async def list_agents(
        self, *, default_limit: int | None, agent_ids: Sequence[str] | None = None
    ) -> list[Agent]:
        return await self._read(
            teams.list_agents, now=utcnow(), default_limit=default_limit, agent_ids=agent_ids
        )

    async def get_agent(self, agent_id: str, *, default_limit: int | None) -> Agent:
        return await self._read(teams.get_agent, agent_id, now=utcnow(), default_limit=default_limit)

    async def update_profile(self, agent_id: str, changes: dict[str, Any]) -> None:
        await self._write(teams.update_profile, agent_id, changes)

    async def set_status(
        self, agent_id: str, status: str, *, present_until: dt.datetime | None
    ) -> tuple[str, str]:
        return await self._write(
            teams.set_status, agent_id, status, now=utcnow(), present_until=present_until
        )

    async def came_online(self, agent_id: str, *, until: dt.datetime) -> tuple[str, str]:
        return await self._write(teams.came_online, agent_id, now=utcnow(), until=until)

    async def extend_presence(self, agent_ids: Sequence[str], until: dt.datetime) -> None:
        await self._write(teams.extend_presence, list(agent_ids), until)

    async def lapsed(self, agent_ids: Sequence[str]) -> list[str]:
        return await self._read(teams.lapsed, list(agent_ids))

    async def expire_presence(self) -> list[tuple[str, str]]:
        return await self._write(teams.expire_presence, utcnow())

    # -- queue and assignment ----------------------------------------------------------------

    async def queue(self, *, team_id: str | None = None, limit: int = 200) -> list[Conversation]:
        return await self._read(asg.queue, team_id=team_id, limit=limit)

    async def queue_count(self) -> int:
        return await self._read(asg.queue_count)

    async def assign(self, conversation_id: str, agent_id: str, **options: Any) -> asg.Change:
        """See :func:`qandu.storage.assignment.assign`."""
        return await self._write(asg.assign, conversation_id, agent_id, **options)

    async def release(self, conversation_id: str, **options: Any) -> asg.Change:
        """See :func:`qandu.storage.assignment.release`."""
        return await self._write(asg.release, conversation_id, **options)

    async def open_assigned(self, agent_id: str) -> list[str]:
        return await self._read(asg.open_assigned, agent_id)

    async def set_team(self, conversation_id: str, team_id: str | None) -> Conversation:
        return await self._write(asg.set_team, conversation_id, team_id)

    async def set_priority(
        self, conversation_id: str, priority: str, reason: str | None, *, only_raise: bool
    ) -> tuple[Conversation, str] | None:
        return await self._write(asg.set_priority, conversation_id, priority, reason, only_raise=only_raise)

    async def set_sla(self, conversation_id: str, **dues: Any) -> Conversation:
        return await self._write(asg.set_sla, conversation_id, **dues)

    async def record_response(
        self, conversation_id: str, at: dt.datetime
    ) -> tuple[Conversation, bool] | None:
        return await self._write(asg.record_response, conversation_id, at)

    async def sla_breaches(self) -> list[tuple[Conversation, str, dt.datetime]]:
        return await self._write(asg.sla_breaches, utcnow())
