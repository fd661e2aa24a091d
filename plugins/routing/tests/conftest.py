"""A real server with the routing plugin (fast timers), an admin session and agent sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import attrs
import pytest

from qandu.client import ChatClient
from qandu.testing import EventLog, add_agent, make_app, running, until
from qandu_routing import Routing, RoutingConfig

PASSWORD = "secret-pass"

FAST = RoutingConfig(
    sweep_interval=0.1,
    offline_grace=1.0,
    max_chats=3,
    tiers={"enterprise": "high", "free": "low"},
    skills=["billing"],
)


class Desk:
    """One running server with helpers to add agents, customers and read conversations."""

    def __init__(
        self, app: Any, endpoints: Any, admin: ChatClient, stack: AsyncExitStack, events: EventLog
    ) -> None:
        self.app = app
        self.endpoints = endpoints
        self.admin = admin
        self.stack = stack
        self.events = events

    async def agent(self, email: str, name: str, *, connect: bool = True, **profile: Any) -> Any:
        """Create an agent, set their routing profile through the admin API, log in (console open)."""
        user = await add_agent(self.app, email, name=name)
        if profile:
            await self.admin.api.request("PATCH", f"/api/agents/{user.id}", json=profile)
        if not connect:
            return user
        client = await self.stack.enter_async_context(
            ChatClient.login(self.endpoints.http_url, self.endpoints.ws_url, email, PASSWORD)
        )
        await until(lambda: self.status_is(user.id, "online"))
        return client

    async def status_is(self, agent_id: str, status: str) -> bool:
        agents = (await self.admin.api.request("GET", "/api/agents"))["agents"]
        return any(a["id"] == agent_id and a["status"] == status for a in agents)

    async def customer(self, **init: Any) -> ChatClient:
        return await self.stack.enter_async_context(ChatClient.initialize(self.endpoints.http_url, **init))

    async def conversation(self, conversation_id: str) -> dict[str, Any]:
        return (await self.admin.api.request("GET", f"/api/conversations/{conversation_id}"))["conversation"]

    async def assignee_becomes(
        self, conversation_id: str, agent_id: str | None, timeout: float = 10.0
    ) -> dict[str, Any]:
        async def check() -> dict[str, Any] | None:
            conversation = await self.conversation(conversation_id)
            return conversation if conversation["assigneeId"] == agent_id else None

        return await until(check, timeout)

    async def queue(self) -> list[str]:
        return [c["id"] for c in (await self.admin.api.request("GET", "/api/queue"))["conversations"]]


@asynccontextmanager
async def open_desk(tmp_path: Any, config: RoutingConfig = FAST) -> AsyncIterator[Desk]:
    events = EventLog()
    app = make_app(tmp_path, plugins={"routing": Routing(config), "events": events})
    async with running(app) as endpoints, AsyncExitStack() as stack:
        await add_agent(app, "boss@example.com", PASSWORD, name="Boss", role="admin")
        admin = await stack.enter_async_context(
            ChatClient.login(endpoints.http_url, endpoints.ws_url, "boss@example.com", PASSWORD)
        )
        await admin.api.request("PUT", "/api/agents/me/status", json={"status": "away"})  # never routed to
        yield Desk(app, endpoints, admin, stack, events)


@pytest.fixture
def desk(tmp_path: Any) -> Callable[..., Any]:
    """``async with desk(**config_changes) as desk:`` a running server with the routing plugin.

    A factory rather than a running fixture: the clients a test opens must be closed by the
    test's own task (they hold nurseries).
    """

    def make(**changes: Any) -> Any:
        return open_desk(tmp_path, attrs.evolve(FAST, **changes))

    return make


@pytest.fixture
def wait_for() -> Callable[..., Awaitable[Any]]:
    """``await wait_for(async_check, timeout=5)``: poll until the check returns something truthy."""
    return until
