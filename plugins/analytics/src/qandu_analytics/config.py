"""Settings of ``[plugins.analytics]``, validated before the server starts."""

from __future__ import annotations

from typing import Any

import attrs
from attrs import validators as v


def _positive(instance: Any, attribute: attrs.Attribute, value: float) -> None:
    if value <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")


@attrs.frozen
class AnalyticsConfig:
    """How events are buffered and written, and how long the raw event log is kept."""

    flush_interval: float = attrs.field(default=1.0, validator=_positive)
    """Seconds between two writes of buffered events (a full batch is written at once)."""
    batch_size: int = attrs.field(default=500, validator=v.ge(1))
    """Events written in one transaction."""
    max_pending: int = attrs.field(default=20_000, validator=v.ge(1))
    """Events buffered in memory at most; beyond that new ones are dropped and counted (the
    writer has been failing that long), so that analytics never holds up the chat."""
    event_log_days: int = attrs.field(default=90, validator=v.ge(1))
    """Days the raw event log (``analytics_events``) is kept; the aggregates are kept for good."""
    max_range_days: int = attrs.field(default=400, validator=v.ge(1))
    """Longest date range one ``GET /api/analytics`` may ask for."""
