"""The load generator's shared client code: identities for each server, and many WebSocket connections.

Both servers speak the same JSON frames, so the scenarios only differ in how they get
identities: QanDu customers come from ``POST /api/chat/initialize`` and agents log in with
``POST /api/auth/login``; the bare server takes any token as the user id.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, connect_websocket_url

from benchmarks.servers import ServerProcess

AGENT_PASSWORD = "bench-password"
CONNECT_CONCURRENCY = 64
HTTP_CONCURRENCY = 16

Progress = Callable[[int], None]
"""Called with how many more items are done."""


def _no_progress(_: int) -> None:
    pass


@dataclass
class Customer:
    token: str
    user_id: str
    conversation_id: str


class Target:
    """A server under test, as the load generator sees it."""

    name: str

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.ws_url = server.ws_url

    async def customers(self, count: int, progress: Progress = _no_progress) -> list[Customer]:
        raise NotImplementedError

    async def agent_tokens(self, count: int) -> list[str]:
        raise NotImplementedError

    async def aclose(self) -> None:
        pass


class QanduTarget(Target):
    """QanDu over its real API: each customer is a new visitor with a conversation of its own."""

    name = "qandu"

    def __init__(self, server: ServerProcess) -> None:
        super().__init__(server)
        limits = httpx.Limits(max_connections=HTTP_CONCURRENCY, max_keepalive_connections=HTTP_CONCURRENCY)
        self.http = httpx.AsyncClient(base_url=server.http_url or "", timeout=60, limits=limits)
        self._names = itertools.count(1)

    async def customers(self, count: int, progress: Progress = _no_progress) -> list[Customer]:
        results: list[Customer | None] = [None] * count
        limiter = trio.CapacityLimiter(HTTP_CONCURRENCY)

        async def one(index: int) -> None:
            async with limiter:
                response = await self.http.post(
                    "/api/chat/initialize", json={"name": f"Bench visitor {next(self._names)}"}
                )
            response.raise_for_status()
            data = response.json()
            results[index] = Customer(data["token"], data["user"]["id"], data["conversation"]["id"])
            progress(1)

        async with trio.open_nursery() as nursery:
            for index in range(count):
                nursery.start_soon(one, index)
        return [c for c in results if c is not None]

    async def agent_tokens(self, count: int) -> list[str]:
        """Log in the agents that :func:`create_agents` stored before the server started."""
        tokens = []
        for index in range(count):
            response = await self.http.post(
                "/api/auth/login", json={"email": agent_email(index), "password": AGENT_PASSWORD}
            )
            response.raise_for_status()
            tokens.append(response.json()["token"])
        return tokens

    async def aclose(self) -> None:
        await self.http.aclose()


class BareTarget(Target):
    """The bare server: any token is accepted and is the user id; conversations are just names."""

    name = "bare"

    async def customers(self, count: int, progress: Progress = _no_progress) -> list[Customer]:
        run = uuid.uuid4().hex[:8]
        progress(count)
        return [Customer(f"cust-{run}-{i}", f"cust-{run}-{i}", f"conv-{run}-{i}") for i in range(count)]

    async def agent_tokens(self, count: int) -> list[str]:
        return [f"agent-{i}" for i in range(count)]


def agent_email(index: int) -> str:
    return f"bench-agent-{index}@example.com"


def create_agents(data_dir: Path, count: int, url: str = "sqlite:///qandu.sqlite3") -> None:
    """Store ``count`` support agents in QanDu's store (``url``: its SQLite file by default)
    before the server starts.

    Uses the store's own API (``Store.create_user``), like ``qandu user add`` does; the
    argon2 hash is computed once and shared, since every agent has the same password.
    """
    from qandu.auth import hash_password
    from qandu.storage import Store

    password_hash = hash_password(AGENT_PASSWORD)

    async def run() -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        async with Store.from_url(url, data_dir=data_dir) as store:
            for index in range(count):
                await store.create_user(
                    kind="agent",
                    role="support",
                    name=f"Agent {index}",
                    email=agent_email(index),
                    password_hash=password_hash,
                )

    trio.run(run)


# --------------------------------------------------------------------------- connections


def send_frame(**fields: Any) -> str:
    return orjson.dumps(fields).decode()


#: Client-side connection errors swallowed after the handshake (see :func:`_hold`).
contained_errors = 0


async def _hold(url: str, *, task_status: trio.TaskStatus[WebSocketConnection]) -> None:
    """Keep one client connection, with its own error boundary, until cancelled.

    trio-websocket's reader task can raise wsproto's ``LocalProtocolError`` when a ping from
    the server arrives while we close (its issue #184, client side); contained here, it ends
    that connection only, instead of the whole load generator.
    """
    global contained_errors
    started = False
    try:
        async with trio.open_nursery() as nursery:
            ws = await connect_websocket_url(nursery, url)
            started = True
            task_status.started(ws)
            await trio.sleep_forever()
    except* Exception:
        if not started:
            raise
        contained_errors += 1


async def open_connection(
    nursery: trio.Nursery, ws_url: str, token: str
) -> tuple[WebSocketConnection, dict[str, Any]]:
    """Connect, and wait for ``ready``; the connection lives in ``nursery`` until it is cancelled."""
    ws: WebSocketConnection = await nursery.start(_hold, f"{ws_url}?token={token}")
    # QanDu queues the connection's own ``presence`` before ``ready``: skip up to ready
    # (as qandu.client.connect does).
    while (ready := orjson.loads(await ws.get_message())).get("type") != "ready":
        pass
    return ws, ready


async def open_many(
    nursery: trio.Nursery, ws_url: str, tokens: Sequence[str], progress: Progress = _no_progress
) -> list[WebSocketConnection]:
    """Open one connection per token, at most ``CONNECT_CONCURRENCY`` handshakes at a time."""
    connections: list[WebSocketConnection | None] = [None] * len(tokens)
    limiter = trio.CapacityLimiter(CONNECT_CONCURRENCY)

    async def one(index: int) -> None:
        async with limiter:
            connections[index], _ = await open_connection(nursery, ws_url, tokens[index])
        progress(1)

    async with trio.open_nursery() as opening:
        for index in range(len(tokens)):
            opening.start_soon(one, index)
    return [c for c in connections if c is not None]


async def close_all(connections: Sequence[WebSocketConnection], timeout: float = 5.0) -> None:
    """Close every connection (normal closure), concurrently, giving up after ``timeout``."""
    with trio.move_on_after(timeout):
        async with trio.open_nursery() as nursery:
            for ws in connections:
                nursery.start_soon(ws.aclose)


class PeerClosed(RuntimeError):
    """A :meth:`Peer.request` whose connection closed before the answer came."""


class Peer:
    """A connection whose frames are read continuously by :meth:`run` (so the server never
    sees a slow consumer), answering :meth:`request` calls and passing the rest to ``on_frame``.

    ``closed`` is the close code once the connection has ended (4008: the server dropped it
    as a slow consumer); :meth:`reconnect` opens a new one with the same token.
    """

    def __init__(
        self,
        ws: WebSocketConnection,
        on_frame: Callable[[Peer, dict[str, Any], float], None],
        tag: Any = None,
        token: str = "",
    ) -> None:
        self.ws = ws
        self.on_frame = on_frame
        self.tag = tag
        self.token = token
        self.frames = 0
        self.bytes = 0
        self.closed: int | None = None
        self._waiting: dict[str, tuple[trio.Event, list[dict[str, Any]]]] = {}
        self._ids = itertools.count(1)

    async def run(self) -> None:
        while True:
            try:
                data = await self.ws.get_message()
            except ConnectionClosed as exc:
                self.closed = int(exc.reason.code) if exc.reason is not None else -1
                for event, box in self._waiting.values():
                    box.append({"type": "closed", "reason": str(exc.reason)})
                    event.set()
                self._waiting.clear()
                return
            now = time.perf_counter()
            frame = orjson.loads(data)
            self.frames += 1
            self.bytes += len(data)
            ref = frame.get("ref")
            if ref is not None and ref in self._waiting:
                event, box = self._waiting.pop(ref)
                box.append(frame)
                event.set()
            else:
                self.on_frame(self, frame, now)

    async def reconnect(self, nursery: trio.Nursery, ws_url: str) -> None:
        """Replace a closed connection with a new one (same token), read by a new :meth:`run` task."""
        self.ws, _ = await open_connection(nursery, ws_url, self.token)
        self.closed = None
        nursery.start_soon(self.run)

    async def request(self, **frame: Any) -> dict[str, Any]:
        """Send a frame with a fresh ``id``; wait for its answer (``RuntimeError`` on ``error``,
        :class:`PeerClosed` if the connection closes first)."""
        ref = f"q{next(self._ids)}"
        event, box = trio.Event(), []
        self._waiting[ref] = (event, box)
        await self.ws.send_message(send_frame(id=ref, **frame))
        await event.wait()
        if box[0]["type"] == "closed":
            raise PeerClosed(f"{frame['type']}: the connection closed first ({box[0]['reason']})")
        if box[0]["type"] == "error":
            raise RuntimeError(f"{frame['type']} failed: {box[0]}")
        return box[0]

    async def send(self, **frame: Any) -> None:
        await self.ws.send_message(send_frame(**frame))


async def request(ws: WebSocketConnection, frame: dict[str, Any]) -> dict[str, Any]:
    """Send ``frame`` (with an ``id``) and return its ``ack``; other frames are skipped."""
    await ws.send_message(orjson.dumps(frame).decode())
    while True:
        answer = orjson.loads(await ws.get_message())
        if answer.get("ref") == frame["id"] and answer["type"] in ("ack", "error", "pong"):
            if answer["type"] == "error":
                raise RuntimeError(f"{frame['type']} failed: {answer}")
            return answer
