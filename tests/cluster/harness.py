"""Several ``qandu serve`` processes on loopback behind one PostgreSQL schema and one Redis.

A :class:`Cluster` owns everything it starts: its own ``redis-server`` on a free port (never
the system Redis), one process per node with its config file and its log file, and the
PostgreSQL schema they share.  Processes are plain :mod:`subprocess` children so that a
cluster can outlive one test (pytest-trio runs each test in its own ``trio.run``); the client
helpers are async and run inside the tests.
"""

from __future__ import annotations

import functools
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import trio
from prometheus_client.parser import text_string_to_metric_families

from qandu.auth import hash_password
from qandu.client import Api, ChatClient
from qandu.storage import Store
from qandu.testing import PG_DSN, postgres_available  # noqa: F401 (the conftest imports them from here)

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "cluster-pass-123"
SECRET = "cluster-secret-the-same-on-every-node"
START_TIMEOUT = 60.0
"""Seconds a node (or redis-server) may take to answer after it was started (2 loaded cores)."""

#: Plugins off in every node: the NLU trains models at start-up (seconds of CPU per node) and
#: the bot's answers would add messages the tests did not write.
QUIET_PLUGINS = {"nlu": {"enabled": False}, "autoreply": {"enabled": False}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_server_binary() -> str | None:
    return shutil.which("redis-server")


@functools.cache
def password_hash() -> str:
    """The argon2 hash of :data:`PASSWORD`, computed once (each hash costs half a second)."""
    return hash_password(PASSWORD)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_toml(tables: dict[str, dict[str, Any]]) -> str:
    """Render ``{"server": {...}, "plugins.nlu": {...}}`` as TOML tables of scalars and lists."""
    return "".join(
        f"[{name}]\n" + "".join(f"{key} = {_toml(value)}\n" for key, value in table.items()) + "\n"
        for name, table in tables.items()
    )


def _tail(path: Path, lines: int) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _wait_port_closed(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"port {port} still accepts connections")


class RedisServer:
    """A private ``redis-server`` (no persistence) that can be stopped and started on its port."""

    def __init__(self, directory: Path, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.log_path = directory / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.wait_ready()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.running, f"redis-server exited early:\n{_tail(self.log_path, 20)}"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"redis-server did not answer on port {self.port}")

    def stop(self, sig: int = signal.SIGKILL) -> None:
        """Stop the server (killed by default: what Redis had in memory is gone)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=10)
        _wait_port_closed(self.port)

    def logs(self, lines: int = 30) -> str:
        return _tail(self.log_path, lines)


class Node:
    """One ``qandu serve -c <config>`` process with fixed ports and a log file (stderr, JSON)."""

    def __init__(self, name: str, directory: Path, tables: dict[str, dict[str, Any]]) -> None:
        self.name = name
        self.http_port = free_port()
        self.ws_port = free_port()
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.config_path = directory / "config.toml"
        self.log_path = directory / "stderr.log"
        server = {
            "host": "127.0.0.1",
            "port": self.http_port,
            "ws_port": self.ws_port,
            "data_dir": str(directory / "data"),
            "log_format": "json",
            "drain_timeout": 2.0,
        }
        tables = {"server": server, **tables}
        tables["bus"] = {**tables.get("bus", {}), "node_id": name}
        self.config_path.write_text(to_toml(tables))
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/ws"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start the process (do not wait: see :meth:`wait_healthy`)."""
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts} of {self.name} ---\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "qandu", "serve", "-c", str(self.config_path)],
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        with httpx.Client(timeout=2) as http:
            while time.monotonic() < deadline:
                assert self.running, f"{self.name} exited early:\n{self.logs()}"
                try:
                    if http.get(f"{self.http_url}/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        raise AssertionError(f"{self.name} did not become healthy:\n{self.logs()}")

    def kill(self) -> None:
        """SIGKILL: no draining, no goodbye; its sockets are closed by the kernel."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> int | None:
        """SIGTERM and wait for the drain; return the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode

    def logs(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)


class Cluster:
    """``size`` nodes sharing a fresh PostgreSQL schema, a files directory and a private Redis.

    ``overrides`` are config tables merged into every node's (``{"lifecycle": {...}}``,
    ``{"plugins.routing": {...}}``).
    """

    def __init__(
        self, directory: Path, *, size: int = 3, overrides: dict[str, dict[str, Any]] | None = None
    ) -> None:
        binary = redis_server_binary()
        assert binary is not None, "redis-server is not installed"
        self.directory = directory
        self.schema = f"qandu_cluster_{uuid.uuid4().hex[:12]}"
        self.redis = RedisServer(directory, binary)
        self._db: psycopg.Connection[Any] | None = None
        tables: dict[str, dict[str, Any]] = {
            "storage": {"url": self.storage_url},
            "auth": {"secret": SECRET},
            "bus": {"backend": "redis", "url": self.redis.url},
            "files": {"directory": str(directory / "files")},
            "bots": {"paths": [str(REPO / "bots" / "support")]},
            "dispatch": {"hook_timeout": 5.0},
            **{f"plugins.{name}": table for name, table in QUIET_PLUGINS.items()},
        }
        for name, table in (overrides or {}).items():
            tables[name] = {**tables.get(name, {}), **table}
        self.nodes = [Node(f"node-{chr(ord('a') + i)}", directory / f"node-{i}", tables) for i in range(size)]

    @property
    def storage_url(self) -> str:
        return f"{PG_DSN}?schema={self.schema}"

    # -- lifetime ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start Redis, then every node at once (they migrate the empty schema in turn)."""
        with psycopg.connect(PG_DSN, autocommit=True) as connection:
            connection.execute(f'CREATE SCHEMA "{self.schema}"')
        self.redis.start()
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            node.wait_healthy()

    def ensure_running(self) -> None:
        """Bring back whatever a test stopped or killed (Redis first, then the nodes)."""
        if not self.redis.running:
            self.redis.start()
        stopped = [node for node in self.nodes if not node.running]
        for node in stopped:
            node.start()
        for node in stopped:
            node.wait_healthy()

    def close(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL) and drop the schema; never raises for a node."""
        try:
            for node in self.nodes:
                if node.running and node.process is not None:
                    node.process.send_signal(signal.SIGTERM)
            for node in self.nodes:
                node.stop()
        finally:
            try:
                self.redis.stop(signal.SIGTERM)
            finally:
                if self._db is not None:
                    self._db.close()
                with psycopg.connect(PG_DSN, autocommit=True) as connection:
                    connection.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')

    def report(self, lines: int = 40) -> str:
        """The end of every node's log and of Redis's, for a failed test's report."""
        parts = [f"===== {node.name} ({node.log_path}) =====\n{node.logs(lines)}" for node in self.nodes]
        parts.append(f"===== redis-server :{self.redis.port} =====\n{self.redis.logs(10)}")
        return "\n".join(parts)

    # -- the database ------------------------------------------------------------------------

    def sql(self, query: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one query on the cluster's schema (autocommit) and return its rows."""
        if self._db is None or self._db.closed:
            self._db = psycopg.connect(PG_DSN, autocommit=True, options=f"-c search_path={self.schema}")
        cursor = self._db.execute(query, tuple(params))
        return cursor.fetchall() if cursor.description else []

    async def add_staff(self, *people: tuple[str, str], role: str = "support") -> list[str]:
        """Create agents (or admins) ``(email, name)`` with :data:`PASSWORD`; return their ids."""
        async with Store.from_url(self.storage_url, data_dir=self.directory) as store:
            users = [
                await store.create_user(
                    kind="agent", role=role, name=name, email=email, password_hash=password_hash()
                )
                for email, name in people
            ]
        return [user.id for user in users]

    # -- clients -----------------------------------------------------------------------------

    def node(self, which: int | Node) -> Node:
        return which if isinstance(which, Node) else self.nodes[which]

    @asynccontextmanager
    async def customer(self, which: int | Node, **body: Any) -> AsyncIterator[ChatClient]:
        """A new customer and conversation created on a node, connected to that node's gateway."""
        async with ChatClient.initialize(self.node(which).http_url, **body) as client:
            yield client

    @asynccontextmanager
    async def staff(self, which: int | Node, email: str) -> AsyncIterator[ChatClient]:
        """An agent or admin logged in on a node and connected to its gateway."""
        node = self.node(which)
        async with ChatClient.login(node.http_url, node.ws_url, email, PASSWORD) as client:
            yield client

    @asynccontextmanager
    async def api(self, which: int | Node, token: str | None) -> AsyncIterator[Api]:
        """The HTTP API of a node with a token issued by any node (they share the secret)."""
        api = Api(self.node(which).http_url, token)
        try:
            yield api
        finally:
            await api.aclose()

    async def initialize(self, which: int | Node, **body: Any) -> dict[str, Any]:
        """``POST /api/chat/initialize`` on a node: a new customer's token and conversation."""
        async with self.api(which, None) as api:
            return await api.initialize(**body)

    async def login(self, which: int | Node, email: str) -> dict[str, Any]:
        """``POST /api/auth/login`` on a node: a staff member's token and user."""
        async with self.api(which, None) as api:
            return await api.login(email, PASSWORD)


# --------------------------------------------------------------------------- client-side helpers


async def metric(node: Node, name: str) -> float:
    """The value of one unlabelled metric on ``node``'s ``/metrics``."""
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(f"{node.http_url}/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in (name, f"{name}_total") and not sample.labels:
                return sample.value
    raise AssertionError(f"{node.name} has no metric {name}")


async def expect(client: ChatClient, kind: str, matches: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The next ``kind`` frame for which ``matches`` is true (other ``kind`` frames are dropped)."""
    while not matches(frame := await client.gateway.next_frame(kind)):
        pass
    return frame


class Stream:
    """Every frame one client receives, in order, read by the one task that waits on it."""

    def __init__(self, client: ChatClient) -> None:
        self.client = client
        self.frames: list[dict[str, Any]] = client.gateway.drain_pending()

    async def wait_for(self, predicate: Callable[[Stream], Any], timeout: float = 30.0) -> Any:
        """Receive frames until ``predicate(self)`` is truthy; return its value.

        Fails after ``timeout`` seconds with a summary of what did arrive.
        """
        with trio.move_on_after(timeout):
            while not (result := predicate(self)):
                self.frames.append(await self.client.gateway.receive())
            return result
        raise AssertionError(f"{self.client.user.get('name')} waited in vain; received: {self.summary()}")

    def summary(self) -> str:
        """The frames received so far, short: ``message.new#3 ack#4 typing``."""
        return " ".join(
            f"{f['type']}#{f['message']['seq']}" if "message" in f else f["type"] for f in self.frames
        )

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [frame for frame in self.frames if frame["type"] == kind]

    def new_seqs(self, conversation_id: str) -> list[int]:
        """Seqs of the ``message.new`` frames of a conversation, in arrival order."""
        return [
            f["message"]["seq"]
            for f in self.of("message.new")
            if f["message"]["conversationId"] == conversation_id
        ]

    def acked_seqs(self) -> list[int]:
        return [f["message"]["seq"] for f in self.of("ack") if "message" in f]
