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
- Medians and 90th percentiles are exact, from every value in the range, interpolating
  linearly between ranks (PostgreSQL's ``percentile_cont``, ``statistics.quantiles(...,
  method="inclusive")``); durations are rounded to milliseconds.  (Values reach Python as
  text: SQLite writes 15 significant digits, far below a millisecond.)
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import attrs
import numpy as np

from qandu_analytics import cells
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


def _figures(ordered: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> list[dict[str, Any]]:
    """The figures of each group of ``ordered``, a group being ``counts[i]`` values from ``starts[i]``,
    each group sorted."""

    def quantile(q: float) -> np.ndarray:  # linear between ranks, as percentile_cont
        rank = (counts - 1) * q
        below = np.floor(rank).astype(np.int64)
        low = ordered[starts + below]
        high = ordered[starts + np.minimum(below + 1, counts - 1)]
        return low + (high - low) * (rank - below)

    averages = np.add.reduceat(ordered, starts) / counts
    return [
        {"count": n, "average": round(a, 3), "median": round(m, 3), "p90": round(p, 3)}
        for n, a, m, p in zip(
            counts.tolist(), averages.tolist(), quantile(0.5).tolist(), quantile(0.9).tolist(), strict=True
        )
    ]


def _by_key(ordered: np.ndarray, keys: np.ndarray) -> dict[int, dict[str, Any]]:
    """The figures of ``ordered`` (sorted values) per distinct ``keys`` entry (non-negative codes)."""
    if not len(keys):
        return {}
    if keys.max() < 2**16:
        keys = keys.astype(np.uint16)  # numpy sorts these by radix, 5x faster
    order = np.argsort(keys, kind="stable")  # stable: each key's values stay sorted
    keys, ordered = keys[order], ordered[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    counts = np.diff(np.r_[starts, len(keys)])
    return dict(zip(keys[starts].tolist(), _figures(ordered, starts, counts), strict=True))


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _bucket_sql(db: Any, column: str, size: int) -> str:
    if db.backend == "postgresql":
        return f"(floor({column} / {size}) * {size})::bigint"
    return f"(CAST({column} / {size} AS INTEGER) * {size})"


def _rows(db: Any, statement: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    return db.sql(statement, params).fetchall()


@attrs.frozen
class _Cells:
    """The values of one kind of cell in a range, with their bucket and their agent-team pair."""

    values: np.ndarray
    buckets: np.ndarray  # bucket start // bucket size
    by_pair: np.ndarray  # index into pairs
    pairs: list[list[str]]  # [agent, team], "" for none


def _cells(
    db: Any,
    kind: str,
    start: int,
    end: int,
    size: int,
    agent: str | None,
    team: str | None,
    *,
    people: bool = True,
) -> _Cells:
    """``kind``'s values in ``[start, end)`` (of one agent or team only, if given).

    A few thousand rows of text that numpy parses; agent and team travel as one label, of
    which a range holds a few distinct values.  Splitting the labels is the dearest part: without
    ``people`` (figures per bucket only) and without a filter, they are not read.
    """
    people = people or agent is not None or team is not None
    rows = cells.read(db, kind, start, end, labels=people)
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return _Cells(empty.astype(np.float64), empty, empty, [])
    slots, counts, vals, labels = zip(*rows, strict=True)
    values = np.fromstring(",".join(vals), dtype=np.float64, sep=",")
    buckets = np.repeat(np.asarray(slots, dtype=np.int64) // size, counts)
    if not people:
        return _Cells(values, buckets, np.zeros(len(values), dtype=np.int64), [["", ""]])
    labels = cells.SEP.join(labels).split(cells.SEP)
    pairs = [pair.split(cells.PAIR) for pair in set(labels)]
    codes = {cells.PAIR.join(pair): code for code, pair in enumerate(pairs)}
    by_pair = np.fromiter(map(codes.__getitem__, labels), dtype=np.int64, count=len(labels))
    wanted = [(agent is None or a == agent) and (team is None or t == team) for a, t in pairs]
    if not all(wanted):
        keep = np.asarray(wanted)[by_pair]
        values, buckets, by_pair = values[keep], buckets[keep], by_pair[keep]
    return _Cells(values, buckets, by_pair, pairs)


def _distributions(
    db: Any, kind: str, start: int, end: int, size: int, agent: str | None, team: str | None
) -> Grouped:
    """Count, average, median and p90 of ``kind``'s durations in ``[start, end)``, overall, per
    bucket of ``size`` seconds, per agent and per team (optionally of one agent or team only)."""
    found = _cells(db, kind, start, end, size, agent, team)
    grouped: Grouped = {name: {} for name in GROUPS}
    if not len(found.values):
        return grouped
    order = np.argsort(found.values)
    ordered = found.values[order]
    grouped["all"][""] = _figures(ordered, np.array([0]), np.array([len(ordered)]))[0]
    buckets = found.buckets[order]
    first = int(buckets.min())
    by_bucket = _by_key(ordered, buckets - first)
    grouped["bucket"] = {str((first + key) * size): figures for key, figures in by_bucket.items()}
    for name, part in (("agent", 0), ("team", 1)):
        names, people = _people_codes(found, part)
        people = people[order]
        known = people >= 0
        figures = _by_key(ordered[known], people[known])
        grouped[name] = {names[code]: figure for code, figure in figures.items()}
    return grouped


def _ratings(db: Any, start: int, end: int, size: int, agent: str | None, team: str | None) -> Grouped:
    """CSAT average, count and distribution overall, per bucket, per agent and per team."""
    found = _cells(db, "csat", start, end, size, agent, team)
    grouped: Grouped = {name: {} for name in GROUPS}
    if not len(found.values):
        return grouped
    ratings = found.values.astype(np.int64)
    first = int(found.buckets.min())
    keys: dict[str, tuple[list[str] | None, np.ndarray]] = {
        "all": ([""], np.zeros(len(ratings), dtype=np.int64)),
        "bucket": (None, found.buckets - first),
        "agent": _people_codes(found, 0),
        "team": _people_codes(found, 1),
    }
    for name, (names, codes) in keys.items():
        known = codes >= 0
        counts = np.bincount(codes[known] * 6 + ratings[known])
        counts = np.pad(counts, (0, -len(counts) % 6)).reshape(-1, 6).tolist()
        for code, row in enumerate(counts):
            if any(row):
                key = str((first + code) * size) if names is None else names[code]
                grouped[name][key] = _csat_figures(Counter({r: row[r] for r in range(1, 6)}))
    return grouped


def _people_codes(found: _Cells, part: int) -> tuple[list[str], np.ndarray]:
    """The agents (``part`` 0) or teams (1) of ``found``'s values, sorted, and each value's index
    among them (-1 for none)."""
    of_pair = [pair[part] for pair in found.pairs]
    names = sorted(set(of_pair) - {""})
    index = {person: code for code, person in enumerate(names)}
    return names, np.array([index.get(person, -1) for person in of_pair], dtype=np.int64)[found.by_pair]


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
    first = _distributions(db, "first_response", start, end, size, agent, team)
    resolved = _distributions(db, "resolution", start, end, size, agent, team)
    contained = _resolutions(db, start, end, size, agent, team)
    csat = _ratings(db, start, end, size, agent, team)
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
    """Per bucket: conversations started, those a bot served, and those of them handed off."""
    return {
        at: (plain + bot + handed, bot + handed, handed)
        for at, (plain, bot, handed) in _per_bucket(db, "started", start, end, size, agent, team).items()
    }


def _resolutions(
    db: Any, start: int, end: int, size: int, agent: str | None, team: str | None
) -> dict[int, tuple[int, int]]:
    """Per bucket: resolutions of bot conversations, and how many of them no person took part in."""
    tallies = _per_bucket(db, "resolved", start, end, size, agent, team)
    return {at: (helped + alone, alone) for at, (_, helped, alone) in tallies.items() if helped + alone}


def _per_bucket(
    db: Any, kind: str, start: int, end: int, size: int, agent: str | None, team: str | None
) -> dict[int, list[int]]:
    """How many of ``kind``'s values are 0, 1 and 2 in each bucket that has any."""
    found = _cells(db, kind, start, end, size, agent, team, people=False)
    if not len(found.values):
        return {}
    first = int(found.buckets.min())
    counts = np.bincount((found.buckets - first) * 3 + found.values.astype(np.int64))
    table = np.pad(counts, (0, -len(counts) % 3)).reshape(-1, 3).tolist()
    return {(first + i) * size: row for i, row in enumerate(table) if any(row)}


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
        f"SELECT {_bucket_sql(db, 'hour', size)} AS b, metric, key, SUM(n), SUM(total) FROM analytics_rollups"
        " WHERE hour >= ? AND hour < ? GROUP BY b, metric, key",
        (start, end),
    )
    for at, metric, key, n, total in rows:
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
