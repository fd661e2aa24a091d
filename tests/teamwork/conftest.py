"""A real server on loopback with an event recorder, plus customer, agent and admin sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from qandu.client import ChatClient
from qandu.testing import EventLog, add_agent, make_app, running, until

PASSWORD = "secret-pass"
TIMEOUT = 20


class Desk:
    """One running server: open customer and staff sessions (HTTP + gateway) on it."""

    def __init__(self, app: Any, endpoints: Any, stack: AsyncExitStack, events: EventLog) -> None:
        self.app = app
        self.endpoints = endpoints
        self.stack = stack
        self.events = events

    async def customer(self, **body: Any) -> ChatClient:
        return await self.stack.enter_async_context(ChatClient.initialize(self.endpoints.http_url, **body))

    async def agent(self, email: str, name: str = "Agent", *, role: str = "support") -> ChatClient:
        await add_agent(self.app, email, PASSWORD, name=name, role=role)
        return await self.login(email)

    async def login(self, email: str) -> ChatClient:
        return await self.stack.enter_async_context(
            ChatClient.login(self.endpoints.http_url, self.endpoints.ws_url, email, PASSWORD)
        )


@asynccontextmanager
async def open_desk(
    tmp_path: Path, *, plugins: dict[str, object] | None = None, **sections: Any
) -> AsyncIterator[Desk]:
    """Run a server (SQLite file under ``tmp_path``) with an :class:`EventLog` and ``plugins``."""
    events = EventLog()
    app = make_app(tmp_path, plugins={"events": events, **(plugins or {})}, **sections)
    async with running(app) as endpoints, AsyncExitStack() as stack:
        yield Desk(app, endpoints, stack, events)


@pytest.fixture
def desk(tmp_path: Path) -> Callable[..., Any]:
    """``async with desk(**sections) as d:`` a running server (a factory: the sessions a test
    opens hold nurseries, so the test's own task must open and close them)."""

    def make(**options: Any) -> Any:
        return open_desk(tmp_path, **options)

    return make


@pytest.fixture
def wait_for() -> Callable[..., Awaitable[Any]]:
    """``await wait_for(async_check, timeout=10)``: poll until the check returns something truthy."""
    return until


@pytest.fixture
def frames() -> Callable[..., Awaitable[list[dict[str, Any]]]]:
    """``await frames(client, "mention", seconds)``: the frames of one type received meanwhile."""
    return frames_of


async def frames_of(client: ChatClient, kind: str, seconds: float = 0.5) -> list[dict[str, Any]]:
    """Every frame of type ``kind`` the client receives within ``seconds`` (others stay queued)."""
    found: list[dict[str, Any]] = []
    with trio.move_on_after(seconds):
        while True:
            found.append(await client.gateway.next_frame(kind))
    return found
