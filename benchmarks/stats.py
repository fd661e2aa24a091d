"""Percentiles, latency summaries and the rows of the result table."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of ``values`` (``q`` in 0..1); NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Latency:
    """A latency distribution in milliseconds."""

    count: int
    p50: float
    p99: float
    max: float
    mean: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        ordered = sorted(seconds)
        if not ordered:
            return cls(0, math.nan, math.nan, math.nan, math.nan)
        return cls(
            count=len(ordered),
            p50=percentile(ordered, 0.50) * 1000,
            p99=percentile(ordered, 0.99) * 1000,
            max=ordered[-1] * 1000,
            mean=sum(ordered) / len(ordered) * 1000,
        )

    def brief(self) -> str:
        return f"p50 {fmt(self.p50)} / p99 {fmt(self.p99)} / max {fmt(self.max)} ms"


def fmt(value: float | None, digits: int = 2) -> str:
    """A number for the table: 3 significant-ish digits, thousands separated."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.{digits}f}"


@dataclass
class Row:
    """One line of the table: a QanDu figure beside the bare server's (or another baseline's).

    ``higher_is_better`` says how to read the ratio; ``passed`` is None for rows without a target.
    """

    scenario: str
    metric: str
    unit: str
    qandu: float | None
    baseline: float | None
    baseline_name: str = "bare trio-websocket"
    higher_is_better: bool = False
    target: str = ""
    passed: bool | None = None
    qandu_detail: str = ""
    baseline_detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.qandu is None or self.baseline is None or self.baseline == 0:
            return None
        if math.isnan(self.qandu) or math.isnan(self.baseline):
            return None
        return self.qandu / self.baseline

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = self.ratio
        return data
