"""How fast the analytics plugin answers a dashboard query over 100k conversations.

Run as ``python -m benchmarks.analytics_query [--conversations 100000] [--days 30]
[--backend sqlite|postgresql] [--repeat 5] [--budget-ms 500]``.

The data goes in through the plugin's own write path (:func:`qandu_analytics.recorder.apply_batch`
in the store's writer, batches of 2,000 records): each conversation gets a start, customer
messages with intents and sentiment, and, as chance has it, a bot answer, a handoff, an
agent's first response, a resolution, a reopen and a CSAT answer, spread over ``--days``
days and 20 agents in 4 teams.  Then the dashboard's queries run through the store's reader
(``queries.summary``), as ``GET /api/analytics`` does: the whole range by day, the last week
by hour, and one agent's figures, each reported as the median wall time and the process's CPU
time.  The baseline, timed in the same run, is what any exact answer has to read at least:
the range's durations fetched as plain rows (resolutions, and first responses with their
start and handoff times) without sorting or grouping them; the ratio tells a slow machine
from a slow query.  Exit status 1 if the slowest median wall time passes the budget.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio
from rich.progress import MofNCompleteColumn, Progress

from qandu.storage import Store
from qandu.storage.urls import parse_url
from qandu_analytics import queries
from qandu_analytics.recorder import EventRecord, MessageRecord, Record, apply_batch
from qandu_analytics.schema import MIGRATIONS

PG_DSN = os.environ.get("QANDU_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
INTENTS = (
    "order_status",
    "refund",
    "shipping_info",
    "billing",
    "return_item",
    "technical_issue",
    "complaint",
)
BATCH = 2000
DAYS = 30
REPEAT = 5
BUDGET_MS = 500.0
ANALYTICS_TABLES = (
    "analytics_events",
    "analytics_conversations",
    "analytics_resolutions",
    "analytics_csat",
    "analytics_rollups",
    "analytics_cells",
)


def conversation(rng: random.Random, index: int, start: float, days: int) -> list[Record]:
    """The records one conversation produces, in time order."""
    cid = f"c{index}"
    t = start + rng.random() * days * 86400
    bot = rng.random() < 0.8
    agent = f"agent-{rng.randrange(20)}"
    team = f"team-{int(agent.split('-')[1]) % 4}"
    out: list[Record] = [EventRecord("conversation.started", cid, t, {"bot": "support" if bot else None})]
    for _ in range(rng.randint(2, 6)):
        t += rng.uniform(5, 60)
        score = rng.uniform(-1, 1)
        label = "negative" if score < -0.05 else "positive" if score > 0.05 else "neutral"
        out.append(MessageRecord(cid, t, "user", "cust", rng.choice(INTENTS), score, label))
        if bot:
            out.append(EventRecord("bot.replied", cid, t + 0.5, {"bot": "support", "handoff": False}))
    human = not bot or rng.random() < 0.5
    if human:
        if bot:
            t += 1
            out.append(EventRecord("conversation.handed_off", cid, t, {"bot": "support"}))
        out.append(EventRecord("conversation.assigned", cid, t + 1, {"agentId": agent, "teamId": team}))
        for _ in range(rng.randint(1, 4)):
            t += rng.uniform(10, 600)
            out.append(MessageRecord(cid, t, "agent", agent))
    if rng.random() < 0.85:
        t += rng.uniform(30, 3600)
        change = {"from": "active", "to": "resolved", "agentId": agent if human else None, "teamId": team}
        out.append(EventRecord("conversation.status_changed", cid, t, change))
        if rng.random() < 0.4:
            out.append(
                EventRecord(
                    "csat.submitted", cid, t + 60, {"surveyId": uuid.uuid4().hex, "rating": rng.randint(1, 5)}
                )
            )
        if rng.random() < 0.05:
            t += 3600
            out.append(
                EventRecord("conversation.status_changed", cid, t, {"from": "resolved", "to": "active"})
            )
            out.append(EventRecord("conversation.status_changed", cid, t + 300, {**change, "from": "active"}))
    if rng.random() < 0.3:
        out.append(
            EventRecord("conversation.tagged", cid, t, {"added": [rng.choice(("vip", "billing", "bug"))]})
        )
    return out


async def fill(
    store: Store,
    conversations: int,
    days: int,
    start: float,
    progress: Callable[[int], None] = lambda n: None,
) -> int:
    """Write the conversations' records in batches; ``progress`` gets the conversations of each."""
    rng = random.Random(20250303)
    batch: list[Record] = []
    written = done = 0
    for index in range(conversations):
        batch += conversation(rng, index, start, days)
        if len(batch) >= BATCH or index == conversations - 1:
            written += await store.run_write(apply_batch, batch)
            progress(index + 1 - done)
            batch, done = [], index + 1
    return written


def vacuum(url: str, workdir: Path) -> None:
    """PostgreSQL: what autovacuum does soon after a bulk load (the fill updates every row
    several times; without it the planner sees a bloated index and no statistics)."""
    import psycopg

    target = parse_url(url, data_dir=workdir)
    options = f"-c search_path={target.schema}"
    with psycopg.connect(target.conninfo or "", options=options, autocommit=True) as connection:
        for table in ANALYTICS_TABLES:
            connection.execute(f"VACUUM ANALYZE {table}")


def baseline(db: Any, start: float, end: float) -> int:
    """Fetch the durations of ``[start, end)`` as rows, as a plain exact query would; return how many."""
    resolutions = db.sql(
        "SELECT at, seconds, agent_id, team_id FROM analytics_resolutions WHERE at >= ? AND at < ?",
        (start, end),
    ).fetchall()
    first_responses = db.sql(
        "SELECT first_response_at, handoff_at, started_at, first_agent_id, team_id"
        " FROM analytics_conversations WHERE first_response_at >= ? AND first_response_at < ?",
        (start, end),
    ).fetchall()
    return len(resolutions) + len(first_responses)


async def timed(
    store: Store, repeat: int, *args: Any, query: Any = queries.summary, **kwargs: Any
) -> tuple[dict[str, float], Any]:
    """Median wall time and process CPU time, in milliseconds, of ``repeat`` runs of ``query``.

    On a busy machine the wall time includes waiting for a core; the CPU time is what the
    query costs.
    """
    walls, cpus = [], []
    result: Any = None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = await store.run_read(query, *args, **kwargs)
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return {"wall": round(statistics.median(walls), 1), "cpu": round(statistics.median(cpus), 1)}, result


async def run(
    conversations: int,
    days: int,
    backend: str,
    repeat: int,
    workdir: Path,
    progress: Callable[[int], None] = lambda n: None,
) -> dict[str, Any]:
    if backend == "sqlite":
        url = f"sqlite:///{workdir / 'analytics.sqlite3'}"
    else:
        url = f"{PG_DSN}?schema=bench_analytics_{uuid.uuid4().hex[:8]}"
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC).timestamp()
    end = start + days * 86400
    async with Store.from_url(url, data_dir=workdir) as store:
        await store.migrate_plugin("analytics", MIGRATIONS)
        began = time.perf_counter()
        records = await fill(store, conversations, days, start, progress)
        fill_seconds = time.perf_counter() - began
        if backend == "postgresql":
            await trio.to_thread.run_sync(vacuum, url, workdir)
        rows, _ = await timed(store, repeat, start, end + 86400, query=baseline)
        by_day, result = await timed(store, repeat, start, end + 86400, "day")
        by_hour, _ = await timed(store, repeat, end - 7 * 86400, end + 86400, "hour")
        one_agent, _ = await timed(store, repeat, start, end + 86400, "day", agent="agent-3")
        if backend == "postgresql":
            await store.run_write(lambda db: db.sql(f'DROP SCHEMA "{url.rsplit("=", 1)[1]}" CASCADE'))
    totals = result["totals"]
    return {
        "backend": backend,
        "conversations": totals["conversations"],
        "records": records,
        "records_per_second_written": round(records / fill_seconds),
        "baseline_ms_fetch_rows": rows,
        "query_ms_range_by_day": by_day,
        "ratio_range_by_day_to_baseline": round(by_day["wall"] / rows["wall"], 2),
        "query_ms_week_by_hour": by_hour,
        "query_ms_one_agent": one_agent,
        "resolutions": totals["resolutions"],
        "first_response_median_s": totals["firstResponse"]["median"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=DAYS)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--repeat", type=int, default=REPEAT)
    parser.add_argument("--budget-ms", type=float, default=BUDGET_MS)
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="qandu-analytics-") as tmp,
        Progress(*Progress.get_default_columns(), MofNCompleteColumn(), transient=True) as progress,
    ):
        task = progress.add_task("conversations recorded", total=args.conversations)
        report = trio.run(
            run,
            args.conversations,
            args.days,
            args.backend,
            args.repeat,
            Path(tmp),
            lambda n: progress.advance(task, n),
        )
    print(json.dumps(report, indent=2))
    queries_ms = ("query_ms_range_by_day", "query_ms_week_by_hour", "query_ms_one_agent")
    slowest = max(report[key]["wall"] for key in queries_ms)
    if slowest > args.budget_ms:
        print(f"FAIL: a query took {slowest} ms (budget {args.budget_ms} ms)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
