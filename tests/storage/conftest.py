"""Fixtures: every storage test runs against a SQLite file and a fresh PostgreSQL schema."""

from __future__ import annotations

import contextlib
import functools
import pathlib
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import trio
import trio.testing

from qandu.domain import Content, User
from qandu.storage import MessageDraft, Store
from qandu.testing import PG_DSN, drop_schema, postgres_available, postgres_schema  # noqa: F401 (shared)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[str]:
    """A storage URL: a SQLite file under ``tmp_path`` or an isolated PostgreSQL schema."""
    if request.param == "sqlite":
        yield "sqlite:///db/qandu.sqlite3"
        return
    with postgres_schema() as url:  # CI runs both backends: a missing server is a failure there
        yield url


@pytest.fixture
def open_store(store_url: str, tmp_path: pathlib.Path) -> Any:
    """Return a factory of (unopened) stores on the test's database, for reopen tests."""

    def make(**options: Any) -> Store:
        return Store.from_url(store_url, data_dir=tmp_path, **options)

    return make


@pytest.fixture
async def store(open_store: Any) -> AsyncIterator[Store]:
    async with open_store() as opened:
        yield opened


@pytest.fixture
async def customer(store: Store) -> User:
    return await store.create_user(
        kind="user", role="customer", name="Cleo Customer", email="cleo@example.com"
    )


@pytest.fixture
async def agent(store: Store) -> User:
    return await store.create_user(
        kind="agent", role="support", name="Avery Agent", email="avery@example.com"
    )


@pytest.fixture
async def bot(store: Store) -> User:
    return await store.ensure_bot_user("support", display_name="Support Bot")


def _draft(conversation_id: str, sender: User, text: str = "hello", **kwargs: Any) -> MessageDraft:
    return MessageDraft(
        conversation_id=conversation_id, sender=sender.as_sender(), content=Content(text=text), **kwargs
    )


@pytest.fixture
def draft() -> Any:
    """``draft(conversation_id, sender, text="hello", **fields)`` builds a MessageDraft."""
    return _draft


@contextlib.asynccontextmanager
async def _writer_held(store: Store) -> AsyncIterator[None]:
    """Block the writer thread inside a job until the block exits.

    Writes submitted meanwhile queue up and are committed together in the next batch.
    """
    entered, release = threading.Event(), threading.Event()

    def gate(db: object) -> None:
        entered.set()
        release.wait(10)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(functools.partial(store._write, gate))
        await trio.to_thread.run_sync(entered.wait, 10)
        try:
            yield
            await trio.testing.wait_all_tasks_blocked()
        finally:
            release.set()


@pytest.fixture
def writer_held() -> Any:
    """``async with writer_held(store):`` queues writes so that they commit as one batch."""
    return _writer_held
