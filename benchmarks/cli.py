"""``python -m benchmarks``: run the scenarios, print the table, write ``benchmarks/results/latest.json``."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import psutil
import trio
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from benchmarks import analytics_query, cluster, fanout, history, memory, plugins_overhead, report, roundtrip
from benchmarks.loadgen import BareTarget, QanduTarget, Target, create_agents
from benchmarks.servers import (
    REPO,
    ServerProcess,
    installed_plugins,
    raise_fd_limit,
    running,
    start_bare,
    start_qandu,
)
from benchmarks.stats import Row

SCENARIOS = ("roundtrip", "fanout", "history", "memory", "cluster", "plugins", "analytics")
RESULTS = REPO / "benchmarks" / "results"


@dataclass(frozen=True)
class Settings:
    clients: tuple[int, ...] = (1, 10, 100)
    duration: float = 5.0
    """Seconds of round trips per client count."""
    messages: int | None = None
    """Stop a round-trip level after this many round trips (if the duration has not run out first)."""
    conversations: int = 50
    participants: int = 20
    rate: float = 100.0
    fanout_duration: float = 10.0
    rows: int = 1_000_000
    pages: int = 2000
    connections: int = 1000
    settle: float = 1.0
    """Seconds of quiet to wait for after set-up (the bot's handoffs), and for memory to settle."""
    plugins: str = "none"
    """QanDu's plugins: "none" (every installed plugin disabled: the core) or "installed"."""
    watchers: str = "both"
    """Fan-out receivers: "shared" (an agent watches every room on one connection), "per-room"
    (a connection per participant), or "both"."""
    nodes: tuple[int, ...] = (1, 2, 3)
    """Cluster: node counts on the Redis bus (after the one-node in-process baseline)."""
    cluster_conversations: int = 30
    cluster_watchers: int = 4
    """Cluster: agents watching each conversation (from the next node)."""
    cluster_duration: float = 10.0
    """Cluster: seconds of sending per phase (at ``rate``, then at max)."""
    plugin_rounds: int = 10
    """Plugins: alternated rounds of each server (routing, tagging, analytics off / on)."""
    plugin_duration: float = 4.0
    """Plugins: seconds of round trips per round."""
    analytics_conversations: int = 100_000
    """Analytics: conversations recorded (over 30 days) before the dashboard query is timed."""


FULL = Settings()
QUICK = Settings(
    duration=1.0,
    conversations=10,
    participants=10,
    fanout_duration=3.0,
    rows=20_000,
    pages=200,
    connections=200,
    settle=0.5,
    watchers="shared",
    cluster_conversations=6,
    cluster_watchers=2,
    cluster_duration=2.0,
    plugin_rounds=2,
    plugin_duration=2.0,
    analytics_conversations=10_000,
)


class Steps:
    """The progress display: an overall bar and one bar for the step running now."""

    def __init__(self, progress: Progress, total: int) -> None:
        self.progress = progress
        self.overall = progress.add_task("[bold]benchmarks", total=total)

    @contextlib.contextmanager
    def step(self, description: str, total: float | None = None) -> Iterator[Callable[[int], None]]:
        task = self.progress.add_task(description, total=total)

        def advance(n: int) -> None:
            self.progress.advance(task, n)

        started = time.monotonic()
        try:
            yield advance
        except BaseException:
            self.progress.console.log(f"[red]failed[/]: {description}")
            raise
        finally:
            self.progress.remove_task(task)
            self.progress.advance(self.overall, 1)
        self.progress.console.log(f"done: {description} ({time.monotonic() - started:.1f} s)")


class Machine:
    """How much CPU the rest of the machine used while a scenario ran (the suite cannot stop it)."""

    def __init__(self) -> None:
        self.wall = time.monotonic()
        self.busy = self._busy()
        self.own = self._own()

    @staticmethod
    def _busy() -> float:
        t = psutil.cpu_times()
        return t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0.0)

    @staticmethod
    def _own() -> float:
        me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime

    def other_cores(self) -> float:
        """Cores' worth of CPU used by processes outside the suite since this object was made."""
        wall = time.monotonic() - self.wall
        return max(0.0, (self._busy() - self.busy) - (self._own() - self.own)) / wall if wall else 0.0


def _both(s: Settings, workdir: Path, profile_dir: Path | None, scenario: str) -> tuple[Any, Any]:
    def profile(name: str) -> Path | None:
        return profile_dir / f"{scenario}-{name}.prof" if profile_dir else None

    return (
        running(start_qandu, workdir / f"{scenario}-qandu", profile=profile("qandu"), plugins=s.plugins),
        running(start_bare, workdir / f"{scenario}-bare", profile=profile("bare")),
    )


def _targets(q: ServerProcess, b: ServerProcess) -> list[Target]:
    return [QanduTarget(q), BareTarget(b)]


async def _close(targets: list[Target]) -> None:
    for target in targets:
        await target.aclose()


def run_roundtrip(s: Settings, workdir: Path, steps: Steps, profile_dir: Path | None) -> dict[str, list[Any]]:
    q_ctx, b_ctx = _both(s, workdir, profile_dir, "roundtrip")
    with q_ctx as q, b_ctx as b:

        async def go() -> dict[str, list[Any]]:
            targets = _targets(q, b)
            out: dict[str, list[Any]] = {t.name: [] for t in targets}
            try:
                for clients in s.clients:
                    for target in targets:  # alternate, so that both see the same machine
                        label = f"round trip: {target.name}, {clients} client{'s' if clients > 1 else ''}"
                        with steps.step(label) as tick:
                            out[target.name].append(
                                await roundtrip.measure(
                                    target,
                                    clients,
                                    duration=s.duration,
                                    max_messages=s.messages,
                                    settle=s.settle,
                                    progress=tick,
                                )
                            )
            finally:
                await _close(targets)
            return out

        return trio.run(go)


WATCHERS = {"shared": (True,), "per-room": (False,), "both": (True, False)}


def run_fanout(s: Settings, workdir: Path, steps: Steps, profile_dir: Path | None) -> dict[str, Any]:
    """Per watcher model ("shared", "per-room"): fresh servers, then QanDu and the bare server."""
    results: dict[str, Any] = {}
    for shared in WATCHERS[s.watchers]:
        model = "shared" if shared else "per-room"
        scenario = f"fanout-{model}"
        create_agents(workdir / f"{scenario}-qandu" / "data", s.participants - 1)
        q_ctx, b_ctx = _both(s, workdir, profile_dir, scenario)
        with q_ctx as q, b_ctx as b:

            async def go(
                q: ServerProcess = q, b: ServerProcess = b, shared: bool = shared, model: str = model
            ) -> dict[str, Any]:
                targets = _targets(q, b)
                out = {}
                sends = 2 * max(1, round(s.rate * s.fanout_duration / s.conversations)) * s.conversations
                connections = s.conversations + (s.participants - 1) * (1 if shared else s.conversations)
                try:
                    for target in targets:
                        label = f"fan-out + typing ({model} watchers): {target.name}"
                        with steps.step(label, total=connections + sends) as tick:
                            out[target.name] = await fanout.measure(
                                target,
                                conversations=s.conversations,
                                participants=s.participants,
                                rate=s.rate,
                                duration=s.fanout_duration,
                                shared=shared,
                                settle=s.settle,
                                progress=tick,
                            )
                finally:
                    await _close(targets)
                return out

            results[model] = trio.run(go)
    return results


def run_history(s: Settings, workdir: Path, steps: Steps, profile_dir: Path | None) -> history.HistoryResult:
    cached = history.cache_path(s.rows).exists()
    label = f"history: {'cached' if cached else 'building'} store of {s.rows:,} messages"
    with steps.step(label, total=s.rows) as build:
        history.ensure_store(s.rows, build)
    with steps.step(f"history: {s.pages:,} pages (raw sqlite3, Store, HTTP)", total=s.pages) as tick:
        return history.measure(
            workdir / "history",
            rows=s.rows,
            pages=s.pages,
            page_progress=tick,
            profile=profile_dir / "history-qandu.prof" if profile_dir else None,
            plugins=s.plugins,
        )


def run_memory(s: Settings, workdir: Path, steps: Steps, profile_dir: Path | None) -> dict[str, Any]:
    out = {}
    q_ctx, b_ctx = _both(s, workdir, None, "memory")  # a profiler would distort memory
    with q_ctx as q, b_ctx as b:
        for target_cls, server in ((QanduTarget, q), (BareTarget, b)):

            async def go(target_cls: type[Target] = target_cls, server: ServerProcess = server) -> Any:
                target = target_cls(server)
                try:
                    total = 2 * s.connections
                    with steps.step(
                        f"memory: {target.name}, {s.connections:,} connections", total=total
                    ) as tick:
                        return await memory.measure(target, s.connections, settle=2 * s.settle, progress=tick)
                finally:
                    await target.aclose()

            out[target_cls.name] = trio.run(go)
    return out


def run_cluster(
    s: Settings, workdir: Path, steps: Steps, profile_dir: Path | None
) -> list[cluster.ClusterRun]:
    """The in-process baseline, then 1, 2, 3 nodes on Redis (PostgreSQL and redis-server needed)."""
    reason = cluster.unavailable()
    if reason is not None:
        steps.progress.console.log(f"[yellow]cluster skipped: it needs {reason}[/]")
        return []
    return cluster.run_all(
        workdir,
        nodes=s.nodes,
        conversations=s.cluster_conversations,
        watchers=s.cluster_watchers,
        rate=s.rate,
        duration=s.cluster_duration,
        settle=s.settle,
        plugins=s.plugins,
        step=steps.step,
    )


def run_plugins(
    s: Settings, workdir: Path, steps: Steps, profile_dir: Path | None
) -> plugins_overhead.Overhead:
    """Round trips with routing, tagging and analytics off and on, in alternated rounds."""
    profile = None
    if profile_dir is not None:
        profile = profile_dir / "plugins"
        profile.mkdir(exist_ok=True)
    rounds = 2 * (s.plugin_rounds + 1)  # the warm-up round of each, then the measured ones
    with steps.step("plugins: routing + tagging + analytics off / on", total=rounds) as tick:
        return plugins_overhead.run(
            plugins_overhead.CLIENTS,
            s.plugin_duration,
            s.plugin_rounds,
            warmup=s.plugin_duration,
            profile=profile,
            on_round=lambda: tick(1),
        )


def run_analytics(s: Settings, workdir: Path, steps: Steps, profile_dir: Path | None) -> dict[str, Any]:
    """The analytics dashboard's query over a month of recorded conversations (SQLite)."""
    n = s.analytics_conversations
    with steps.step(f"analytics: {n:,} conversations recorded, then queried", total=n) as tick:
        return trio.run(
            analytics_query.run,
            n,
            analytics_query.DAYS,
            "sqlite",
            analytics_query.REPEAT,
            workdir,
            tick,
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="QanDu benchmarks: each figure beside a bare trio-websocket server, in the same run.",
    )
    parser.add_argument("--quick", action="store_true", help="smaller counts: a smoke run (about 2 min)")
    parser.add_argument(
        "--only",
        action="append",
        choices=SCENARIOS,
        metavar="SCENARIO",
        help=f"run only this scenario (repeatable): {', '.join(SCENARIOS)}; 'fanout' includes typing",
    )
    parser.add_argument("--clients", help="round trip: client counts, comma-separated (default 1,10,100)")
    parser.add_argument("--duration", type=float, help="round trip: seconds per client count")
    parser.add_argument("--messages", type=int, help="round trip: stop each client count after N round trips")
    parser.add_argument("--conversations", type=int, help="fan-out: conversations (rooms)")
    parser.add_argument("--participants", type=int, help="fan-out: participants per conversation (1 sender)")
    parser.add_argument("--rate", type=float, help="fan-out: messages (and typing frames) per second in all")
    parser.add_argument("--fanout-duration", type=float, help="fan-out: seconds of sending, per phase")
    parser.add_argument("--rows", type=int, help="history: messages in the store (cached per size)")
    parser.add_argument("--pages", type=int, help="history: pages to fetch")
    parser.add_argument("--connections", type=int, help="memory: idle connections")
    parser.add_argument(
        "--nodes", help="cluster: node counts on the Redis bus, comma-separated (default 1,2,3)"
    )
    parser.add_argument("--cluster-conversations", type=int, help="cluster: conversations")
    parser.add_argument("--cluster-watchers", type=int, help="cluster: agents watching each conversation")
    parser.add_argument("--cluster-duration", type=float, help="cluster: seconds of sending per phase")
    parser.add_argument("--plugin-rounds", type=int, help="plugins: alternated rounds of each server")
    parser.add_argument(
        "--analytics-conversations", type=int, help="analytics: conversations recorded before the query"
    )
    parser.add_argument("--plugin-duration", type=float, help="plugins: seconds of round trips per round")
    parser.add_argument(
        "--watchers",
        choices=tuple(WATCHERS),
        help="fan-out receivers: shared (each agent watches every room on one connection), "
        "per-room (a connection per participant), or both (default)",
    )
    parser.add_argument(
        "--plugins",
        choices=("none", "installed"),
        help="QanDu's plugins: none (default: the core, every installed plugin disabled) or installed",
    )
    parser.add_argument(
        "--profile", action="store_true", help="run the servers under cProfile (results/profiles/)"
    )
    parser.add_argument(
        "--json", type=Path, default=RESULTS / "latest.json", help="where to write the results"
    )
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 if a target is missed")
    parser.add_argument(
        "--nice",
        type=int,
        help="scheduling priority of the suite and its servers (e.g. -10, as root) on a shared machine",
    )
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    s = QUICK if args.quick else FULL
    overrides: dict[str, Any] = {
        name: getattr(args, name)
        for name in (
            "duration",
            "messages",
            "conversations",
            "participants",
            "rate",
            "fanout_duration",
            "rows",
            "pages",
            "connections",
            "plugins",
            "watchers",
            "cluster_conversations",
            "cluster_watchers",
            "cluster_duration",
            "plugin_rounds",
            "plugin_duration",
            "analytics_conversations",
        )
        if getattr(args, name) is not None
    }
    if args.clients:
        overrides["clients"] = tuple(int(c) for c in args.clients.split(","))
    if args.nodes:
        overrides["nodes"] = tuple(int(n) for n in args.nodes.split(","))
    s = replace(s, **overrides)
    if s.participants < 2 or s.conversations < 1:
        raise SystemExit("fan-out needs at least 1 conversation and 2 participants")
    return s


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    s = settings_from(args)
    selected = [name for name in SCENARIOS if not args.only or name in args.only]
    console = Console() if sys.stdout.isatty() else Console(width=160)
    if args.nice is not None:  # the servers are children: they inherit it
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)
    fd_limit = raise_fd_limit(max(4096, 2 * s.connections + 2 * s.conversations * s.participants + 256))
    profile_dir = RESULTS / "profiles" if args.profile else None
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)

    steps_per = {
        "roundtrip": 2 * len(s.clients),
        "fanout": 2 * len(WATCHERS[s.watchers]),
        "history": 2,
        "memory": 2,
        "cluster": 1 + len(s.nodes),
        "plugins": 1,
        "analytics": 1,
    }
    raw: dict[str, Any] = {}
    rows: list[Row] = []
    background: dict[str, float] = {}
    started = time.monotonic()
    load_before = os.getloadavg()
    runners = {
        "roundtrip": run_roundtrip,
        "fanout": run_fanout,
        "history": run_history,
        "memory": run_memory,
        "cluster": run_cluster,
        "plugins": run_plugins,
        "analytics": run_analytics,
    }
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with (
        tempfile.TemporaryDirectory(prefix="qandu-bench-") as tmp,
        Progress(*columns, console=console) as progress,
    ):
        steps = Steps(progress, sum(steps_per[name] for name in selected))
        for name in selected:
            machine = Machine()
            raw[name] = runners[name](s, Path(tmp), steps, profile_dir)
            background[name] = machine.other_cores()

    if "roundtrip" in raw:
        rows += report.roundtrip_rows(raw["roundtrip"])
    for results in raw.get("fanout", {}).values():
        rows += report.fanout_rows(
            results, conversations=s.conversations, participants=s.participants, rate=s.rate
        )
    if "history" in raw:
        rows += report.history_rows(raw["history"])
    if "memory" in raw:
        rows += report.memory_rows(raw["memory"])
    if "cluster" in raw:
        rows += report.cluster_rows(raw["cluster"], rate=s.rate)
    if "plugins" in raw:
        rows += report.plugins_rows(raw["plugins"])
    if "analytics" in raw:
        rows += report.analytics_rows(raw["analytics"])

    elapsed = time.monotonic() - started
    mode = "quick" if args.quick else "full"
    plugins = installed_plugins()
    core = "core only" if s.plugins == "none" else f"plugins: {', '.join(plugins) or 'none installed'}"
    title = f"QanDu benchmarks ({mode}, SQLite durable storage, {core}, {os.cpu_count()} cores)"
    report.render(rows, console, title=title)
    busy = {k: round(v, 2) for k, v in background.items() if v > 0.2}
    if busy:
        console.print(
            "[yellow]Other processes on this machine used CPU during the run "
            f"(cores' worth per scenario: {busy}); figures are noisier than on an idle machine.[/]"
        )
    if args.markdown:
        console.print(report.markdown(rows), markup=False, highlight=False, soft_wrap=True)
    meta = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "scenarios": selected,
        "settings": asdict(s),
        "plugins": {"mode": s.plugins, "installed": plugins},
        "seconds": round(elapsed, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "fd_limit": fd_limit,
            "nice": os.getpriority(os.PRIO_PROCESS, 0),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
            "other_processes_cores": {k: round(v, 2) for k, v in background.items()},
        },
    }
    report.write_json(args.json, rows=rows, raw=raw, meta=meta)
    console.print(f"{len(rows)} rows in {elapsed:.0f} s; results written to {args.json}")
    broken = [run for run in raw.get("cluster", []) if run.violations.total or run.dropped]
    for run in broken:  # a correctness failure, not a missed target: always exit 1
        console.print(f"[bold red]cluster, {run.label}: {run.violations.brief()}, {run.dropped} dropped[/]")
        for example in run.violations.examples:
            console.print(f"  {example}", markup=False)
        console.print(f"  the nodes' logs: {cluster.RESULTS}/cluster-{run.layout.slug}-*.log")
    if broken:
        sys.exit(1)
    if args.strict and any(row.passed is False for row in rows):
        sys.exit(1)
