"""Weekly business hours in a time zone: is it open now, and when does it open next?

Written ``{"mon": ["08:00-12:00", "13:00-18:00"], "sat": ["10:00-14:00"]}``: days are
``mon`` to ``sun``, a missing day is closed, ``"00:00-24:00"`` is the whole day.  Times are
local to the IANA time zone, so opening hours follow daylight saving time.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import zoneinfo
from collections.abc import Mapping
from typing import Any

import attrs

from qandu.errors import InvalidRequest

DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
Span = tuple[int, int]  # minutes since local midnight, end exclusive


def check_timezone(name: str, field: str = "timezone") -> zoneinfo.ZoneInfo:
    """Return the time zone ``name``; ``InvalidRequest`` naming ``field`` if unknown."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise InvalidRequest(
            f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin)", field=field
        ) from None


def _parse_span(text: Any, field: str) -> Span:
    match = _SPAN.match(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidRequest(f"expected a span such as '08:00-18:00', got {text!r}", field=field)
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end > 24 * 60 or end <= start:
        raise InvalidRequest(
            f"the span {text!r} must end after it starts, by 24:00 at the latest", field=field
        )
    return start, end


def _fmt(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@attrs.frozen
class BusinessHours:
    """Opening spans per weekday in ``timezone``."""

    days: tuple[tuple[Span, ...], ...]  # index 0 = Monday
    timezone: str = "UTC"

    @classmethod
    def from_wire(
        cls, data: Mapping[str, Any], timezone: str = "UTC", field: str = "businessHours"
    ) -> BusinessHours:
        """Parse the wire form; ``InvalidRequest`` names the offending key."""
        check_timezone(timezone)
        if not isinstance(data, Mapping):
            raise InvalidRequest("expected an object of day -> spans", field=field)
        unknown = [key for key in data if key not in DAYS]
        if unknown:
            raise InvalidRequest(
                f"unknown day {unknown[0]!r} (days: {', '.join(DAYS)})", field=f"{field}.{unknown[0]}"
            )
        days = []
        for day in DAYS:
            spans = data.get(day, [])
            if not isinstance(spans, list):
                raise InvalidRequest(
                    "expected a list of spans such as ['08:00-18:00']", field=f"{field}.{day}"
                )
            parsed = sorted(_parse_span(span, f"{field}.{day}.{i}") for i, span in enumerate(spans))
            for (_, end), (start, _) in itertools.pairwise(parsed):
                if start < end:
                    raise InvalidRequest("spans overlap", field=f"{field}.{day}")
            days.append(tuple(parsed))
        return cls(tuple(days), timezone)

    def to_wire(self) -> dict[str, list[str]]:
        return {
            day: [f"{_fmt(a)}-{_fmt(b)}" for a, b in spans]
            for day, spans in zip(DAYS, self.days, strict=True)
            if spans
        }

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def is_open(self, at: dt.datetime) -> bool:
        """Whether ``at`` (aware) falls inside an opening span."""
        local = at.astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.days[local.weekday()])

    def next_opening(self, at: dt.datetime) -> dt.datetime | None:
        """The start of the next opening span after ``at``, in local time (``None``: never open).

        If ``at`` is inside a span, that is ``at`` itself.
        """
        if self.is_open(at):
            return at.astimezone(self.zone)
        local = at.astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        for offset in range(8):
            day = local.date() + dt.timedelta(days=offset)
            for start, _ in self.days[day.weekday()]:
                if offset == 0 and start <= minute:
                    continue
                opening = dt.datetime.combine(day, dt.time(start // 60, start % 60), tzinfo=self.zone)
                # a start inside a DST gap does not exist: zoneinfo normalises it forward
                return opening.astimezone(dt.UTC).astimezone(self.zone)
        return None
