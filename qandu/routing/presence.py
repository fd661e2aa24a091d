"""Agent availability: the status an agent chooses, and a presence lease kept in the database.

An agent is *available* when they chose ``online`` and their lease (``present_until``) has
not run out.  While a console is connected to this node, the lease is pushed forward every
``tick``; when their last console here closes it is cut to *now + grace*, so a reload or a
short network drop changes nothing, but a closed laptop makes them ``offline`` once the
grace period is over.  Any node's sweep writes the expiry down and emits
``agent.status_changed`` (a routing plugin then requeues their conversations).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

import trio

from qandu.domain import User, utcnow
from qandu.routing.types import Agent

if TYPE_CHECKING:
    from qandu.routing.service import RoutingService

log = logging.getLogger("qandu.routing.presence")


class Presence:
    """Presence leases of the agents connected to this node, and the expiry sweep."""

    def __init__(self, routing: RoutingService) -> None:
        self.routing = routing
        self.grace = 30.0
        """Seconds after an agent's last console closed before they count as offline."""
        self.tick = 5.0
        """Seconds between lease renewals and expiry sweeps."""
        self._here: dict[str, User] = {}
        self._changes: dict[str, tuple[User, bool]] = {}
        self._wake = trio.Event()

    @property
    def lease(self) -> dt.timedelta:
        """How long one renewal keeps an agent present: a few ticks, then the grace period."""
        return dt.timedelta(seconds=3 * self.tick + self.grace)

    def configure(self, *, grace: float, tick: float) -> None:
        self.grace, self.tick = grace, tick
        self._wake.set()

    # -- called by the chat service (synchronous, from connection tasks) ---------------------

    def connected(self, user: User) -> None:
        """The agent's first console on this node opened."""
        self._here[user.id] = user
        self._changes[user.id] = (user, True)
        self._wake.set()

    def disconnected(self, user: User) -> None:
        """The agent's last console on this node closed."""
        self._here.pop(user.id, None)
        self._changes[user.id] = (user, False)
        self._wake.set()

    # -- the service -------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Apply connects and disconnects as they come, renew leases and sweep every tick."""
        task_status.started()
        while True:
            with trio.move_on_after(self.tick):
                await self._wake.wait()
            self._wake = trio.Event()
            try:
                await self.step()
            except Exception:
                log.exception("presence step failed; retrying at the next tick")

    async def step(self) -> None:
        """One round: record connects/disconnects, renew this node's leases, expire the lapsed."""
        db = self.routing.db
        changes, self._changes = self._changes, {}
        now = utcnow()
        for user, connected in changes.values():
            if connected:
                previous, current = await db.came_online(user.id, until=now + self.lease)
                if previous != current:
                    await self._changed(user.id, previous, current, "connected")
            else:
                await db.extend_presence([user.id], now + dt.timedelta(seconds=self.grace))
        if self._here:
            await db.extend_presence(list(self._here), now + self.lease)
            for agent_id in await db.lapsed(list(self._here)):  # this node stalled; they are still here
                previous, current = await db.came_online(agent_id, until=now + self.lease)
                if previous != current:
                    await self._changed(agent_id, previous, current, "connected")
        for agent_id, previous in await db.expire_presence():
            await self._changed(agent_id, previous, "offline", "disconnected")

    async def set_status(self, user: User, status: str, *, reason: str) -> Agent:
        """Record the agent's chosen availability; announce a change of the effective one."""
        until = utcnow() + self.lease if status != "offline" else None
        previous, current = await self.routing.db.set_status(user.id, status, present_until=until)
        if previous != current:
            return await self._changed(user.id, previous, current, reason)
        return await self.routing.agent(user.id)

    async def _changed(self, agent_id: str, previous: str, current: str, reason: str) -> Agent:
        agent = await self.routing.agent(agent_id)
        self.routing.publish_agent(agent)
        await self.routing.emit(
            "agent.status_changed", None, agentId=agent_id, status=current, previous=previous, reason=reason
        )
        return agent
