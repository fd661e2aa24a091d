"""Several nodes: messages/s and fan-out latency with 1, 2 and 3 ``qandu serve`` nodes.

Each layout runs on fresh processes and a fresh PostgreSQL schema (dropped afterwards):

- the baseline: one node with the in-process bus (``[bus] backend = "memory"``);
- 1, 2 and 3 nodes with the Redis bus, sharing a private ``redis-server`` started for the
  layout on a free port (never the system's Redis), one schema, one signing secret and one
  files directory.

The load, its correctness checks and what is measured are in :mod:`benchmarks.cluster_load`;
any violation fails the run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import trio

from benchmarks.cluster_load import Measured, Meter, Phase, Violations, measure
from benchmarks.loadgen import Progress, create_agents
from benchmarks.servers import REPO, ServerProcess, running, start_qandu, start_redis

PG_DSN = os.environ.get("QANDU_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
SECRET = "benchmark-cluster-secret-the-same-on-every-node"
RESULTS = REPO / "benchmarks" / "results"
"""Where the nodes' logs are kept when a layout had violations."""
CONNECTED_TIMEOUT = 30.0
"""Seconds a node may take to connect its bus (to Redis) once it answers ``/healthz``."""


@dataclass(frozen=True)
class Layout:
    nodes: int
    backend: str
    """``memory`` (the in-process bus: the baseline, one node) or ``redis``."""

    @property
    def slug(self) -> str:
        """``memory-1``, ``redis-2``: in file names."""
        return f"{self.backend}-{self.nodes}"

    @property
    def label(self) -> str:
        if self.backend == "memory":
            return "1 node, in-process bus"
        return f"{self.nodes} node{'s' if self.nodes > 1 else ''}, Redis bus"


def layouts(nodes: tuple[int, ...]) -> list[Layout]:
    """The baseline first, then one Redis layout per node count."""
    return [Layout(1, "memory"), *(Layout(n, "redis") for n in nodes)]


def unavailable() -> str | None:
    """Why the scenario cannot run here (no redis-server, no PostgreSQL), or None."""
    from shutil import which

    missing = []
    if which("redis-server") is None:
        missing.append("redis-server (not on PATH)")
    try:
        with psycopg.connect(PG_DSN, connect_timeout=3):
            pass
    except psycopg.Error:
        missing.append(f"PostgreSQL at {PG_DSN} (set QANDU_TEST_POSTGRES)")
    return " and ".join(missing) or None


@dataclass
class ClusterRun:
    """One layout's figures (see :class:`~benchmarks.cluster_load.Measured`)."""

    layout: Layout
    label: str
    conversations: int
    watchers: int
    connections: int
    rate: Phase
    max: Phase
    violations: Violations
    counters: dict[str, dict[str, float]]
    """Per node, at the end: the ``qandu_bus_*`` and ``qandu_gateway_*`` metrics."""
    reconnects: dict[int, int]
    """Watcher connections the server closed (by close code), reconnected and resumed."""
    log_problems: dict[str, int]
    """Per node: log lines at WARNING or above, and tracebacks."""
    setup_seconds: float
    idle_cores: dict[str, float]
    """CPU of each process with every connection open and nothing sent, in cores."""

    @property
    def dropped(self) -> int:
        return int(sum(c.get("qandu_bus_dropped", 0) for c in self.counters.values()))


# --------------------------------------------------------------------------- the processes


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema of the test database for one layout, dropped afterwards."""
    schema = f"bench_cluster_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_DSN, autocommit=True) as db:
        db.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_DSN}?schema={schema}"
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as db:
            db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def node_toml(name: str, *, bus: str, redis_url: str | None, files: Path) -> str:
    lines = ["", "[bus]", f'backend = "{bus}"']
    if redis_url is not None:
        lines += [f'url = "{redis_url}"', f'node_id = "{name}"']
    lines += ["", "[auth]", f'secret = "{SECRET}"', "", "[files]", f'directory = "{files}"', ""]
    return "\n".join(lines)


def wait_connected(node: ServerProcess) -> None:
    """Poll ``/healthz`` until the node's bus says ``connected`` (its Redis link is up)."""
    deadline = time.monotonic() + CONNECTED_TIMEOUT
    while time.monotonic() < deadline:
        node.check_alive()
        with contextlib.suppress(httpx.HTTPError, ValueError):
            if httpx.get(f"{node.http_url}/healthz", timeout=2).json()["bus"]["connected"]:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{node.name}: bus not connected after {CONNECTED_TIMEOUT:.0f} s:\n{node.log_tail()}")


def log_problems(node: ServerProcess) -> int:
    """Lines of the node's log at WARNING or above, and tracebacks."""
    text = node.log_path.read_text(errors="replace")
    return sum(1 for line in text.splitlines() if any(w in line for w in ("WARNING", "ERROR", "Traceback")))


def run_layout(
    layout: Layout,
    workdir: Path,
    *,
    conversations: int,
    watchers: int,
    rate: float,
    duration: float,
    settle: float,
    plugins: str,
    progress: Progress,
) -> ClusterRun:
    """Start the layout's processes, measure both phases, stop everything, drop the schema."""
    workdir.mkdir(parents=True, exist_ok=True)
    with postgres_schema() as storage_url, contextlib.ExitStack() as stack:
        create_agents(workdir / "agents", watchers, url=storage_url)  # also migrates the schema
        redis = None
        if layout.backend == "redis":
            redis = stack.enter_context(running(start_redis, workdir / "redis"))
        nodes = []
        for index in range(layout.nodes):
            name = f"node-{index + 1}"
            extra = node_toml(
                name, bus=layout.backend, redis_url=redis.url if redis else None, files=workdir / "files"
            )
            node = stack.enter_context(
                running(
                    start_qandu,
                    workdir / name,
                    plugins=plugins,
                    storage_url=storage_url,
                    extra_toml=extra,
                    name=name,
                )
            )
            wait_connected(node)
            nodes.append(node)
        meter = Meter(nodes, redis, PG_DSN)

        async def go() -> Measured:
            return await measure(
                layout.label,
                nodes,
                meter,
                conversations=conversations,
                watchers=watchers,
                rate=rate,
                duration=duration,
                settle=settle,
                progress=progress,
            )

        measured = trio.run(go)
        if measured.violations.total or any(c.get("qandu_bus_dropped") for c in measured.counters.values()):
            RESULTS.mkdir(parents=True, exist_ok=True)
            for node in nodes:  # for the report: what the nodes logged around the violations
                shutil.copyfile(node.log_path, RESULTS / f"cluster-{layout.slug}-{node.name}.log")
        return ClusterRun(
            layout=layout,
            label=layout.label,
            conversations=conversations,
            watchers=watchers,
            connections=measured.connections,
            rate=measured.rate,
            max=measured.max,
            violations=measured.violations,
            counters=measured.counters,
            reconnects=measured.reconnects,
            log_problems={node.name: log_problems(node) for node in nodes},
            setup_seconds=measured.setup_seconds,
            idle_cores=measured.idle_cores,
        )


def run_all(
    workdir: Path,
    *,
    nodes: tuple[int, ...],
    conversations: int,
    watchers: int,
    rate: float,
    duration: float,
    settle: float,
    plugins: str,
    step: Callable[[str], contextlib.AbstractContextManager[Progress]],
) -> list[ClusterRun]:
    """Every layout in turn (the baseline first), each on fresh processes and a fresh schema."""
    out = []
    for layout in layouts(nodes):
        with step(f"cluster: {layout.label}") as tick:
            out.append(
                run_layout(
                    layout,
                    workdir / f"cluster-{layout.slug}",
                    conversations=conversations,
                    watchers=watchers,
                    rate=rate,
                    duration=duration,
                    settle=settle,
                    plugins=plugins,
                    progress=tick,
                )
            )
    return out
