"""What the analytics tests compare the plugin's figures with."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import pytest


def durations(values: list[float]) -> dict[str, Any]:
    """Count, average, median and p90 of ``values`` as the dashboard defines them, by ``statistics``."""
    values = sorted(values)
    p90 = values[0] if len(values) == 1 else statistics.quantiles(values, n=10, method="inclusive")[8]
    return {
        "count": len(values),
        "average": round(statistics.fmean(values), 3),
        "median": round(statistics.median(values), 3),
        "p90": round(p90, 3),
    }


@pytest.fixture(scope="session")
def expected_durations() -> Callable[[list[float]], dict[str, Any]]:
    return durations
