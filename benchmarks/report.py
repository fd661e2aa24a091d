"""Turn scenario results into table rows, render the table, write ``results/latest.json``."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks import analytics_query
from benchmarks.cluster import ClusterRun
from benchmarks.cluster_load import Phase, describe_cpu
from benchmarks.fanout import Delivery, FanoutResult
from benchmarks.history import HistoryResult
from benchmarks.memory import MemoryResult
from benchmarks.plugins_overhead import BUDGET, Overhead
from benchmarks.roundtrip import RoundTrip
from benchmarks.stats import Row, fmt

ROUNDTRIP_TARGET = 0.5
FANOUT_P99_MS = 100.0
TYPING_P99_MS = 50.0
HISTORY_P99_MS = 10.0


def roundtrip_rows(results: dict[str, list[RoundTrip]]) -> list[Row]:
    rows = []
    for q, b in zip(results["qandu"], results["bare"], strict=True):
        row = Row(
            scenario=f"round trip, {q.clients} client{'s' if q.clients > 1 else ''}",
            metric="round trips/s (send -> ack)",
            unit="/s",
            qandu=q.per_second,
            baseline=b.per_second,
            higher_is_better=True,
            qandu_detail=f"{q.latency.brief()}; server CPU {fmt(q.server_cpu_ms, 3)} ms/round trip",
            baseline_detail=f"{b.latency.brief()}; server CPU {fmt(b.server_cpu_ms, 3)} ms/round trip",
        )
        if q.clients == 100:
            row.target = f">= {ROUNDTRIP_TARGET}x bare"
            row.passed = row.ratio is not None and row.ratio >= ROUNDTRIP_TARGET
        rows.append(row)
    return rows


def _delivery_detail(d: Delivery) -> str:
    text = (
        f"p50 {fmt(d.latency.p50)} / max {fmt(d.latency.max)} ms; "
        f"{d.delivered:,}/{d.expected:,} delivered, {d.lost} lost, {d.duplicated} duplicated"
    )
    if d.misrouted:
        text += f", {d.misrouted} misrouted"
    if d.errors:
        text += f", {d.errors} error frames"
    if d.acked is not None and d.acked != d.sent:
        text += f", {d.acked}/{d.sent} acked"
    if d.dropped:
        text += f", connections dropped by the server: {_codes(d.dropped)}"
    return (
        text
        + f"; server CPU {fmt(d.server_cpu_ms, 3)} ms/frame sent; load generator {d.client_cpu:.2f} cores"
    )


def _codes(counts: dict[int, int]) -> str:
    return ", ".join(f"{n} x {code}" for code, n in sorted(counts.items()))


def fanout_rows(
    results: dict[str, FanoutResult], *, conversations: int, participants: int, rate: float
) -> list[Row]:
    q, b = results["qandu"], results["bare"]
    watchers = (
        f"{participants - 1} agents each watching every room on one connection"
        if q.shared
        else "a connection per participant"
    )
    shape = f"{conversations} x {participants} @ {rate:g}/s, {watchers} ({q.connections:,} connections)"
    rows = []

    def setup_note(result: FanoutResult) -> str:
        note = (
            f"; set-up (connect, subscribe, one warm-up message per room): {result.setup_seconds:.0f} s,"
            f" {result.setup_frames:,} frames / {result.setup_bytes / 1e6:.1f} MB received"
        )
        if result.setup_drops:
            note += f", server closed {_codes(result.setup_drops)} connections (reconnected)"
        return note

    for title, q_d, b_d, budget in (
        ("fan-out", q.messages, b.messages, FANOUT_P99_MS),
        ("typing fan-out", q.typing, b.typing, TYPING_P99_MS),
    ):
        rows.append(
            Row(
                scenario=f"{title}, {shape}",
                metric="p99 send -> receive, ms",
                unit="ms",
                qandu=q_d.latency.p99,
                baseline=b_d.latency.p99,
                target=f"< {budget:g} ms, 0 lost/dup",
                passed=q_d.latency.p99 < budget and q_d.exact,
                qandu_detail=_delivery_detail(q_d) + (setup_note(q) if q_d is q.messages else ""),
                baseline_detail=_delivery_detail(b_d) + (setup_note(b) if b_d is b.messages else ""),
            )
        )
    return rows


def history_rows(result: HistoryResult) -> list[Row]:
    size = f"{result.rows:,} msgs"
    raw = result.raw_sqlite
    return [
        Row(
            scenario=f"history page (50), HTTP, {size}",
            metric="p99 GET /api/chat/history, ms",
            unit="ms",
            qandu=result.http.p99,
            baseline=raw.p99,
            baseline_name="raw sqlite3 keyset query",
            target=f"< {HISTORY_P99_MS:g} ms",
            passed=result.http.p99 < HISTORY_P99_MS,
            qandu_detail=(
                f"p50 {fmt(result.http.p50)} ms; {result.pages:,} pages; "
                f"server CPU {fmt(result.http_server_cpu_ms, 3)} ms/request; "
                f"HTTP floor (GET /healthz): p50 {fmt(result.http_floor.p50)}"
                f" / p99 {fmt(result.http_floor.p99)} ms"
            ),
            baseline_detail=f"p50 {fmt(raw.p50)} ms (raw sqlite3)",
        ),
        Row(
            scenario=f"history page (50), Store.history, {size}",
            metric="p99 in-process, ms",
            unit="ms",
            qandu=result.store.p99,
            baseline=raw.p99,
            baseline_name="raw sqlite3 keyset query",
            qandu_detail=f"p50 {fmt(result.store.p50)} ms",
            baseline_detail=f"p50 {fmt(raw.p50)} ms (raw sqlite3)",
        ),
    ]


def memory_rows(results: dict[str, MemoryResult]) -> list[Row]:
    q, b = results["qandu"], results["bare"]
    return [
        Row(
            scenario=f"memory, {q.connections:,} idle connections",
            metric="server RSS per connection, KB",
            unit="KB",
            qandu=q.per_connection_kb,
            baseline=b.per_connection_kb,
            qandu_detail=f"RSS {q.rss_before / 2**20:.0f} -> {q.rss_after / 2**20:.0f} MB",
            baseline_detail=f"RSS {b.rss_before / 2**20:.0f} -> {b.rss_after / 2**20:.0f} MB",
        )
    ]


def _cluster_detail(run: ClusterRun, phase: Phase) -> str:
    text = (
        f"p50 {fmt(phase.latency.p50)} / max {fmt(phase.latency.max)} ms; "
        f"{phase.acked:,}/{phase.sent:,} acked, {phase.delivered:,}/{phase.expected:,} delivered "
        f"in {phase.seconds:.1f} s ({phase.per_second:,.0f} messages/s); "
        f"{run.violations.brief()} (whole run); "
        f"CPU per message: {describe_cpu(phase)}; {phase.commits:,} commits"
        f" ({phase.writes / max(phase.commits, 1):.1f} writes each);"
        f" load generator {phase.client_cpu:.2f} cores"
    )
    if run.dropped:
        text += f"; {run.dropped:,} publications DROPPED (outbox full)"
    if run.reconnects:
        text += f"; watcher connections closed by the server, then resumed: {_codes(run.reconnects)}"
    return text


def _idle(run: ClusterRun) -> str:
    cores = ", ".join(f"{name} {value:.3f}" for name, value in run.idle_cores.items())
    return f"; idle, all connections open: {cores} cores"


def cluster_rows(runs: list[ClusterRun], *, rate: float) -> list[Row]:
    """Per Redis layout: fan-out p99 at ``rate`` and messages/s at max, beside one node on the
    in-process bus (the first run)."""
    if not runs:
        return []
    base, rows = runs[0], []
    name = base.label
    for run in runs[1:]:
        where = "on the same node" if run.layout.nodes == 1 else "on another node"
        shape = (
            f"{run.conversations} conversations x {run.watchers} watchers {where}, PostgreSQL"
            f" ({run.connections} connections)"
        )
        exact = not (run.violations.total or run.dropped or base.violations.total or base.dropped)
        rows.append(
            Row(
                scenario=f"cluster, {run.label}: fan-out @ {rate:g}/s, {shape}",
                metric="p99 send -> receive, ms",
                unit="ms",
                qandu=run.rate.latency.p99,
                baseline=base.rate.latency.p99,
                baseline_name=name,
                target=f"< {FANOUT_P99_MS:g} ms, 0 violations",
                passed=run.rate.latency.p99 < FANOUT_P99_MS and exact,
                qandu_detail=_cluster_detail(run, run.rate) + _idle(run),
                baseline_detail=_cluster_detail(base, base.rate) + _idle(base),
            )
        )
        rows.append(
            Row(
                scenario=f"cluster, {run.label}: max, each customer sends on its ack, {shape}",
                metric="messages/s, acked and delivered to every watcher",
                unit="/s",
                qandu=run.max.per_second,
                baseline=base.max.per_second,
                baseline_name=name,
                higher_is_better=True,
                target="0 violations",
                passed=exact,
                qandu_detail=f"p99 {fmt(run.max.latency.p99)} ms, " + _cluster_detail(run, run.max),
                baseline_detail=f"p99 {fmt(base.max.latency.p99)} ms, " + _cluster_detail(base, base.max),
            )
        )
    return rows


def render(rows: list[Row], console: Console, *, title: str) -> None:
    table = Table(title=title, show_lines=True, expand=False)
    table.add_column("Scenario", ratio=3)
    table.add_column("QanDu", justify="right", ratio=3)
    table.add_column("Baseline", justify="right", ratio=3)
    table.add_column("Ratio", justify="right", no_wrap=True)
    table.add_column("Target", ratio=1)
    table.add_column("Result", justify="center", no_wrap=True)
    for row in rows:
        ratio = row.ratio
        verdict = "" if row.passed is None else ("[green]pass[/]" if row.passed else "[bold red]FAIL[/]")
        table.add_row(
            f"{row.scenario}\n[dim]{row.metric}[/]",
            f"[bold]{fmt(row.qandu)}[/]\n[dim]{row.qandu_detail}[/]",
            f"{fmt(row.baseline)}\n[dim]{row.baseline_name}: {row.baseline_detail}[/]",
            "-" if ratio is None else f"{ratio:.2f}x",
            row.target or "-",
            verdict,
        )
    console.print(table)


def markdown(rows: list[Row]) -> str:
    """The table as Markdown (for docs/benchmarks.md)."""
    lines = [
        "| Scenario | Metric | QanDu | Baseline | Ratio | Target | Result |",
        "| --- | --- | ---: | ---: | ---: | --- | :---: |",
    ]
    for row in rows:
        ratio = row.ratio
        verdict = "" if row.passed is None else ("pass" if row.passed else "**FAIL**")
        lines.append(
            f"| {row.scenario} | {row.metric} | **{fmt(row.qandu)}**<br>{row.qandu_detail} "
            f"| {fmt(row.baseline)}<br>{row.baseline_name}: {row.baseline_detail} "
            f"| {'-' if ratio is None else f'{ratio:.2f}x'} | {row.target or '-'} | {verdict} |"
        )
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        for name in ("per_second", "server_cpu_ms", "per_connection_kb", "exact", "total", "dropped"):
            if hasattr(type(value), name):
                data[name] = getattr(value, name)
        return data
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def plugins_rows(result: Overhead) -> list[Row]:
    """The support-team plugins on, beside the same server with them off."""
    return [
        Row(
            scenario=(
                f"plugins {' + '.join(result.plugins_on)} on, round trip, {result.clients} clients"
                f" ({len(result.off)} alternated rounds of each)"
            ),
            metric="round trips/s (send -> ack)",
            unit="/s",
            qandu=result.rate("on"),
            baseline=result.rate("off"),
            baseline_name="the same server, plugins off",
            higher_is_better=True,
            target=f"cost < {BUDGET:.0%}",
            passed=result.overhead < BUDGET and not result.plugins_missing,
            qandu_detail=(
                f"cost {result.overhead:.1%}; server CPU {fmt(result.cpu_ms('on'), 3)} ms/round trip"
                + (f"; not installed: {', '.join(result.plugins_missing)}" if result.plugins_missing else "")
            ),
            baseline_detail=f"server CPU {fmt(result.cpu_ms('off'), 3)} ms/round trip",
        )
    ]


def analytics_rows(result: dict[str, Any]) -> list[Row]:
    """The analytics dashboard's query, beside fetching the same durations as plain rows."""
    by_day, week, agent = (
        result["query_ms_range_by_day"],
        result["query_ms_week_by_hour"],
        result["query_ms_one_agent"],
    )
    slowest = max(by_day["wall"], week["wall"], agent["wall"])
    return [
        Row(
            scenario=f"analytics query, {result['conversations']:,} conversations, the month by day",
            metric="median wall time",
            unit="ms",
            qandu=by_day["wall"],
            baseline=result["baseline_ms_fetch_rows"]["wall"],
            baseline_name="fetching the month's durations as rows",
            target=f"< {analytics_query.BUDGET_MS:.0f} ms (each query)",
            passed=slowest < analytics_query.BUDGET_MS,
            qandu_detail=(
                f"CPU {fmt(by_day['cpu'])} ms; last week by hour {fmt(week['wall'])} ms;"
                f" one agent {fmt(agent['wall'])} ms"
            ),
            baseline_detail=(
                f"{result['records']:,} records written at {result['records_per_second_written']:,}/s"
            ),
        )
    ]


def write_json(path: Path, *, rows: list[Row], raw: dict[str, Any], meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {**meta, "rows": [_plain(row.to_json()) for row in rows], "results": _plain(raw)}
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
