"""Helpers for testing QanDu and its plugins against a real server on loopback.

::

    async def test_my_plugin(tmp_path):
        app = make_app(tmp_path, plugins={"mine": MyPlugin(MyPlugin.Config())})
        async with running(app) as endpoints, ChatClient.initialize(endpoints.http_url) as customer:
            await customer.send_text("hello")
            reply = await customer.gateway.next_frame("message.new")
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import psycopg
import trio

from qandu.app import App, Endpoints, serve
from qandu.auth import hash_password
from qandu.config import from_dict
from qandu.domain import User
from qandu.events import Event
from qandu.plugins import PluginManager, hookimpl

REPO = Path(__file__).resolve().parent.parent
PG_DSN = os.environ.get("QANDU_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
"""The PostgreSQL that tests use (``QANDU_TEST_POSTGRES``; the machine's by default)."""
DEMO_BOT = REPO / "bots" / "support"


def make_config(tmp_path: Path, **sections: dict[str, Any]) -> Any:
    """A config on a SQLite file under ``tmp_path``, ports 0, the demo bot; ``sections`` override."""
    raw: dict[str, Any] = {
        "server": {"port": 0, "ws_port": 0, "data_dir": str(tmp_path / "data"), "drain_timeout": 2.0},
        "bots": {"paths": [str(DEMO_BOT)]},
        "dispatch": {"hook_timeout": 2.0},
    }
    for name, table in sections.items():
        raw[name] = {**raw.get(name, {}), **table}
    return from_dict(raw, root=REPO)


def make_app(
    tmp_path: Path, *, plugins: dict[str, object] | None = None, installed: bool = False, **sections: Any
) -> App:
    """An app with only the given plugin objects registered (or, with ``installed``, every installed one)."""
    config = make_config(tmp_path, **sections)
    pm = PluginManager(hook_timeout=config.dispatch.hook_timeout)
    if installed:
        pm.load_installed(config.plugins)
    for name, plugin in (plugins or {}).items():
        pm.add(plugin, name)
    return App.create(config, pm=pm)


@asynccontextmanager
async def running(app: App) -> AsyncIterator[Endpoints]:
    """Run ``app`` in the background for the block; stop and drain it afterwards."""
    async with trio.open_nursery() as nursery:
        endpoints = await nursery.start(serve, app)
        try:
            yield endpoints
        finally:
            nursery.cancel_scope.cancel()


async def add_agent(
    app: App, email: str, password: str = "secret-pass", *, name: str = "Agent", role: str = "support"
) -> User:
    """Create an agent or admin account in a running app's store."""
    return await app.store.create_user(
        kind="agent", role=role, name=name, email=email, password_hash=hash_password(password)
    )


class EventLog:
    """A throwaway plugin that records every ``qandu_event``: ``make_app(plugins={"events": log})``."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    @hookimpl
    async def qandu_event(self, event: Event) -> None:
        self.events.append(event)

    def named(self, name: str) -> list[Event]:
        """The recorded events called ``name``, in the order they happened."""
        return [event for event in self.events if event.name == name]


async def until(check: Callable[[], Awaitable[Any]], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy, and return that; fail after ``timeout`` seconds."""
    with trio.fail_after(timeout):
        while True:
            result = await check()
            if result:
                return result
            await trio.sleep(interval)


@functools.cache
def postgres_available() -> bool:
    """Whether :data:`PG_DSN` accepts connections."""
    try:
        with psycopg.connect(PG_DSN, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def drop_schema(schema: str) -> None:
    with psycopg.connect(PG_DSN, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextmanager
def postgres_schema(prefix: str = "qandu_test") -> Iterator[str]:
    """A storage URL on a fresh schema of :data:`PG_DSN`, dropped afterwards.

    Without PostgreSQL the test is skipped, or fails under ``CI`` (where it must be there).
    """
    import pytest

    if not postgres_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL not reachable at {PG_DSN}")
        pytest.skip(f"PostgreSQL not reachable at {PG_DSN}")
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        yield f"{PG_DSN}?schema={schema}"
    finally:
        drop_schema(schema)
