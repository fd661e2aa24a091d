"""Two nodes in one process: two apps (each with its own store) on one SQLite file or PostgreSQL schema."""

from __future__ import annotations

import contextlib
import pathlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from qandu.app import App
from qandu.testing import EventLog, make_app, postgres_schema


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[str]:
    """A SQLite file both nodes open, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.sqlite3'}"
        return
    with postgres_schema("qandu_once") as url:
        yield url


class Node:
    """One app of the pair, with the events it emitted."""

    def __init__(self, name: str, app: App, events: EventLog) -> None:
        self.name = name
        self.app = app
        self.events = events


@pytest.fixture
def nodes(db_url: str, tmp_path: pathlib.Path) -> Any:
    """``nodes(plugins=lambda name: {...}, **sections)``: build nodes ``a`` and ``b`` (not started)."""

    def make(plugins: Any = None, **sections: Any) -> tuple[Node, Node]:
        pair = []
        for name in ("a", "b"):
            events = EventLog()
            extra = plugins(name) if plugins is not None else {}
            app = make_app(
                tmp_path / name,
                plugins={"events": events, **extra},
                storage={"url": db_url},
                **sections,
            )
            app.cluster.node = f"node-{name}"
            pair.append(Node(name, app, events))
        return pair[0], pair[1]

    return make


@contextlib.asynccontextmanager
async def opened(*pair: Node) -> AsyncIterator[None]:
    """Open the nodes' stores (no listeners): enough to run sweeps and drains by hand."""
    async with contextlib.AsyncExitStack() as stack:
        for node in pair:
            await stack.enter_async_context(node.app.store)
        yield
