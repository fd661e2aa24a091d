"""Aggregating the analytics tables over a date range, in hour or day buckets.

Definitions (every figure counts what *happened* in the range, bucketed by when it happened):

- ``conversations``: conversations started.  ``botConversations``: those a bot served;
  ``handoffs``: those of them handed to people (so far); ``handoffRate`` = handoffs / botConversations.
- ``firstResponse``: for conversations whose first agent message falls in the range, the
  seconds from when a person was needed (the bot's handoff, or the start of a conversation
  without a bot, or answered before any handoff) to that message.
- ``resolution``: for each resolution, the seconds since the conversation started or was
  last reopened.  ``containmentRate``: the share of bot conversations' resolutions in
  which no person took part before (no handoff, no agent message).
- ``csat``: answered surveys: average, count and distribution of ratings 1-5.
- ``messages``, ``intents``, ``sentiment``, ``tags``, ``slaBreaches``: from hourly counters,
  so a range boundary inside an hour is rounded to the hour (the response's ``from``/``to``
  say the range used: it is always widened to whole buckets).
- Medians and 90th percentiles interpolate linearly between ranks (PostgreSQL's
  ``percentile_cont``, ``statistics.quantiles(..., method="inclusive")``); durations are
  rounded to milliseconds.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from typing import Any

from qandu_analytics.recorder import HOUR

BUCKETS = {"hour": HOUR, "day": 24 * HOUR}
TOP = 10
EMPTY = {"count": 0, "average": None, "median": None, "p90": None}
#: The groupings of every figure: overall, per time bucket, per agent, per team.
GROUPS = ("all", "bucket", "agent", "team")

Grouped = dict[str, dict[str, Any]]  # grouping -> key -> figures


def bucket_range(start: float, end: float, size: int) -> tuple[int, int]:
    """``[start, end)`` widened to whole buckets."""
    first = int(start // size) * size
    last = int(-(-end // size)) * size
    return first, max(last, first + size)


def durations(values: list[float]) -> dict[str, Any]:
    """Count, average, median and 90th percentile of a list of seconds."""
    if not values:
        return dict(EMPTY)
    ordered = sorted(values)  # linear for the already sorted lists of the queries
    p90 = ordered[0] if len(ordered) == 1 else statistics.quantiles(ordered, n=10, method="inclusive")[8]
    return {
        "count": len(ordered),
        "average": round(statistics.fmean(ordered), 3),
        "median": round(statistics.median(ordered), 3),
        "p90": round(p90, 3),
    }


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _bucket_sql(db: Any, column: str, size: int) -> str:
    if db.backend == "postgresql":
        return f"(floor({column} / {size}) * {size})::bigint"
    return f"(CAST({column} / {size} AS INTEGER) * {size})"


def _greatest(db: Any, *expressions: str) -> str:
    return f"{'GREATEST' if db.backend == 'postgresql' else 'MAX'}({', '.join(expressions)})"


def _rows(db: Any, statement: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    return db.sql(statement, params).fetchall()


def _where(
    column: str, agent: str | None, team: str | None, agent_column: str = "agent_id"
) -> tuple[str, list]:
    where, params = [f"{column} >= ? AND {column} < ?"], []
    if agent is not None:
        where.append(f"{agent_column} = ?")
        params.append(agent)
    if team is not None:
        where.append("team_id = ?")
        params.append(team)
    return " AND ".join(where), params


def _distributions(db: Any, base: str, params: tuple[Any, ...]) -> Grouped:
    """Count, average, median and p90 of ``base``'s values (``b``, ``v``, ``agent``, ``team``)
    overall, per bucket, per agent and per team.

    The database sorts by value, so every group's list is built in order; the loop that
    distributes the rows is the only per-row Python work.
    """
    rows = _rows(db, f"SELECT b, v, agent, team FROM ({base}) AS base ORDER BY v", params)
    groups: dict[str, dict[Any, list[float]]] = {"bucket": {}, "agent": {}, "team": {}}
    buckets, agents, teams = groups["bucket"], groups["agent"], groups["team"]
    for bucket, value, agent, team in rows:
        values = buckets.get(bucket)
        if values is None:
            values = buckets[bucket] = []
        values.append(value)
        if agent is not None:
            values = agents.get(agent)
            if values is None:
                values = agents[agent] = []
            values.append(value)
        if team is not None:
            values = teams.get(team)
            if values is None:
                values = teams[team] = []
            values.append(value)
    grouped: Grouped = {"all": {"": durations([row[1] for row in rows])} if rows else {}}
    for name, by_key in groups.items():
        grouped[name] = {str(key): durations(values) for key, values in by_key.items()}
    return grouped


def _ratings(db: Any, base: str, params: tuple[Any, ...]) -> Grouped:
    """CSAT average, count and distribution overall, per bucket, per agent and per team."""
    counts: dict[str, dict[str, Counter[int]]] = {name: defaultdict(Counter) for name in GROUPS}
    for bucket, rating, agent, team, n in _rows(
        db, f"SELECT b, v, agent, team, COUNT(*) FROM ({base}) AS base GROUP BY b, v, agent, team", params
    ):
        for group, key in (("all", ""), ("bucket", str(bucket)), ("agent", agent), ("team", team)):
            if key is not None:
                counts[group][key][int(rating)] += int(n)
    return {group: {key: _csat_figures(c) for key, c in by_key.items()} for group, by_key in counts.items()}


def _csat_figures(counts: Counter[int]) -> dict[str, Any]:
    n = sum(counts.values())
    return {
        "count": n,
        "average": round(sum(r * c for r, c in counts.items()) / n, 3) if n else None,
        "distribution": {str(r): counts.get(r, 0) for r in range(1, 6)},
    }


def summary(
    db: Any, start: float, end: float, bucket: str, *, agent: str | None = None, team: str | None = None
) -> dict[str, Any]:
    """Every figure of the dashboard for ``[start, end)`` (widened to whole buckets)."""
    size = BUCKETS[bucket]
    start, end = bucket_range(start, end, size)
    volume = _volume(db, start, end, size, agent, team)
    first = _first_responses(db, start, end, size, agent, team)
    resolved, contained = _resolutions(db, start, end, size, agent, team)
    csat = _csat(db, start, end, size, agent, team)
    counters = _rollups(db, start, end, size)
    bot_total = sum(v[1] for v in volume.values())
    handoffs = sum(v[2] for v in volume.values())
    bot_resolutions = sum(c[0] for c in contained.values())
    contained_total = sum(c[1] for c in contained.values())
    empty_csat = _csat_figures(Counter())

    def point(at: int) -> dict[str, Any]:
        key = str(at)
        return {
            "start": at,
            "conversations": volume.get(at, (0, 0, 0))[0],
            "handoffs": volume.get(at, (0, 0, 0))[2],
            "resolutions": resolved["bucket"].get(key, EMPTY)["count"],
            "messages": sum(counters["messages_by_bucket"][at].values()),
            "firstResponseMedian": first["bucket"].get(key, EMPTY)["median"],
            "resolutionMedian": resolved["bucket"].get(key, EMPTY)["median"],
            "csatAverage": csat["bucket"].get(key, empty_csat)["average"],
            "sentimentAverage": _sentiment(
                counters["sentiment_by_bucket"][at], counters["sentiment_total_by_bucket"][at]
            )["average"],
        }

    return {
        "from": start,
        "to": end,
        "bucket": bucket,
        "totals": {
            "conversations": sum(v[0] for v in volume.values()),
            "botConversations": bot_total,
            "handoffs": handoffs,
            "handoffRate": _rate(handoffs, bot_total),
            "resolutions": resolved["all"].get("", EMPTY)["count"],
            "botResolutions": bot_resolutions,
            "contained": contained_total,
            "containmentRate": _rate(contained_total, bot_resolutions),
            "firstResponse": first["all"].get("", dict(EMPTY)),
            "resolution": resolved["all"].get("", dict(EMPTY)),
            "csat": csat["all"].get("", empty_csat),
            "messages": dict(sorted(counters["messages"].items())),
            "slaBreaches": dict(sorted(counters["sla_breach"].items())),
            "sentiment": _sentiment(counters["sentiment"], counters["sentiment_total"]),
        },
        "series": [point(at) for at in range(start, end, size)],
        "topIntents": [{"intent": k, "count": n} for k, n in _top(counters["intent"])],
        "topTags": [{"tag": k, "count": n} for k, n in _top(counters["tag"])],
        "agents": _people(first["agent"], resolved["agent"], csat["agent"], "agentId"),
        "teams": _people(first["team"], resolved["team"], csat["team"], "teamId"),
    }


def _volume(
    db: Any, start: int, end: int, size: int, agent: str | None, team: str | None
) -> dict[int, tuple[int, int, int]]:
    where, params = _where("started_at", agent, team)
    rows = _rows(
        db,
        f"SELECT {_bucket_sql(db, 'started_at', size)} AS b, COUNT(*),"
        " SUM(CASE WHEN bot IS NOT NULL THEN 1 ELSE 0 END),"
        " SUM(CASE WHEN bot IS NOT NULL AND handoff_at IS NOT NULL THEN 1 ELSE 0 END)"
        f" FROM analytics_conversations WHERE {where} GROUP BY b",
        (start, end, *params),
    )
    return {int(b): (int(n), int(bots or 0), int(handoffs or 0)) for b, n, bots, handoffs in rows}


def _first_responses(
    db: Any, start: int, end: int, size: int, agent: str | None, team: str | None
) -> Grouped:
    where, params = _where("first_response_at", agent, team, "first_agent_id")
    waited = (
        "first_response_at - CASE WHEN handoff_at IS NOT NULL AND handoff_at <= first_response_at"
        " THEN handoff_at ELSE started_at END"
    )
    base = (
        f"SELECT {_bucket_sql(db, 'first_response_at', size)} AS b, {_greatest(db, waited, '0')} AS v,"
        f" first_agent_id AS agent, team_id AS team FROM analytics_conversations"
        f" WHERE {where} AND started_at IS NOT NULL"
    )
    return _distributions(db, base, (start, end, *params))


def _resolutions(
    db: Any, start: int, end: int, size: int, agent: str | None, team: str | None
) -> tuple[Grouped, dict[int, tuple[int, int]]]:
    where, params = _where("at", agent, team)
    bucket = _bucket_sql(db, "at", size)
    base = (
        f"SELECT {bucket} AS b, seconds AS v, agent_id AS agent, team_id AS team FROM analytics_resolutions"
        f" WHERE {where} AND seconds IS NOT NULL"
    )
    contained = _rows(
        db,
        f"SELECT {bucket} AS b, COUNT(*), SUM(1 - assisted) FROM analytics_resolutions"
        f" WHERE {where} AND bot IS NOT NULL GROUP BY b",
        (start, end, *params),
    )
    by_bucket = {int(b): (int(n), int(unassisted or 0)) for b, n, unassisted in contained}
    return _distributions(db, base, (start, end, *params)), by_bucket


def _csat(db: Any, start: int, end: int, size: int, agent: str | None, team: str | None) -> Grouped:
    where, params = _where("at", agent, team)
    base = (
        f"SELECT {_bucket_sql(db, 'at', size)} AS b, rating AS v, agent_id AS agent, team_id AS team"
        f" FROM analytics_csat WHERE {where}"
    )
    return _ratings(db, base, (start, end, *params))


def _rollups(db: Any, start: int, end: int, size: int) -> dict[str, Any]:
    counters: dict[str, Any] = {
        "messages": Counter(),
        "intent": Counter(),
        "tag": Counter(),
        "sla_breach": Counter(),
        "sentiment": Counter(),
        "sentiment_total": 0.0,
        "messages_by_bucket": defaultdict(Counter),
        "sentiment_by_bucket": defaultdict(Counter),
        "sentiment_total_by_bucket": defaultdict(float),
    }
    rows = _rows(
        db,
        "SELECT hour, metric, key, SUM(n), SUM(total) FROM analytics_rollups WHERE hour >= ? AND hour < ?"
        " GROUP BY hour, metric, key",
        (start, end),
    )
    for hour, metric, key, n, total in rows:
        at = int(hour) // size * size
        n = int(n)
        if metric in ("messages", "intent", "tag", "sla_breach", "sentiment"):
            counters[metric][key] += n
        if metric == "messages":
            counters["messages_by_bucket"][at][key] += n
        elif metric == "sentiment":
            counters["sentiment_total"] += float(total)
            counters["sentiment_by_bucket"][at][key] += n
            counters["sentiment_total_by_bucket"][at] += float(total)
    return counters


def _top(counts: Counter[str]) -> list[tuple[str, int]]:
    """The most frequent keys, ties in alphabetical order."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP]


def _sentiment(labels: Counter[str], total: float) -> dict[str, Any]:
    count = sum(labels.values())
    return {
        "count": count,
        "average": round(total / count, 4) if count else None,
        "labels": {label: labels.get(label, 0) for label in ("negative", "neutral", "positive")},
    }


def _people(
    first: dict[str, Any], resolved: dict[str, Any], csat: dict[str, Any], key: str
) -> list[dict[str, Any]]:
    empty_csat = _csat_figures(Counter())
    return [
        {
            key: person,
            "firstResponse": first.get(person, dict(EMPTY)),
            "resolution": resolved.get(person, dict(EMPTY)),
            "csat": csat.get(person, empty_csat),
        }
        for person in sorted(first.keys() | resolved.keys() | csat.keys())
    ]
