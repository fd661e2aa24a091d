"""Find dates in English and German text and normalise them to ISO 8601 (``2026-11-12``).

Covers what customers write to a support desk: ``2026-11-20``, ``20.11.2026``, ``12.11.``,
``12/11``, ``12 November``, ``12. November 2026``, ``November 12th``, ``3rd of December`` and
the relative words today/tomorrow/yesterday (heute/morgen/gestern/übermorgen/vorgestern),
resolved against the message's own timestamp.  A date without a year takes the year that
puts it nearest to that reference day.

Hand-written on purpose: ``dateparser`` costs tens of milliseconds per message in
``search_dates`` (the NLU budget is 5 ms for everything) and misreads numbers such as
order numbers and amounts as dates.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import attrs

_MONTHS = {
    # English
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4,
    "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9,
    "sept": 9, "sep": 9, "october": 10, "oct": 10, "november": 11, "nov": 11, "december": 12, "dec": 12,
    # German (the abbreviations shared with English are above)
    "januar": 1, "jänner": 1, "februar": 2, "märz": 3, "maerz": 3, "mai": 5, "juni": 6, "juli": 7,
    "oktober": 10, "okt": 10, "dezember": 12, "dez": 12,
}  # fmt: skip

_RELATIVE = {
    "today": 0, "tomorrow": 1, "yesterday": -1, "day after tomorrow": 2, "day before yesterday": -2,
    "heute": 0, "morgen": 1, "gestern": -1, "übermorgen": 2, "vorgestern": -2,
}  # fmt: skip

_MONTH = "(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th|\.)?"
_YEAR = r"(?:,?\s*(?P<year>(?:19|20)\d\d)\b)?"

_PATTERNS = [
    re.compile(r"\b(?P<year>(?:19|20)\d\d)-(?P<month>[01]?\d)-(?P<day>[0-3]?\d)\b"),
    re.compile(r"(?<![\d.,])(?P<day>[0-3]?\d)\.(?P<month>[01]?\d)\.(?P<year>(?:19|20)?\d\d)?(?!\d|[.,]\d)"),
    re.compile(r"(?<![\d/])(?P<day>[0-3]?\d)/(?P<month>[01]?\d)/(?P<year>(?:19|20)?\d\d)(?![\d/])"),
    re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}{_YEAR}(?!\w)", re.IGNORECASE),
    re.compile(rf"\b{_MONTH}\s+{_DAY}{_YEAR}(?!\w)", re.IGNORECASE),
]
# "Morgen" is also "morning": not after "guten", "heute", "am", "jeden", "den", "einen"...
_MORNING = "".join(f"(?<!{word} )" for word in ("guten", "heute", "am", "jeden", "den", "einen", "ganzen"))
_RELATIVE_RE = re.compile(
    r"\b(?:(?P<phrase>day after tomorrow|day before yesterday|today|tomorrow|yesterday|heute|"
    rf"übermorgen|vorgestern|gestern)|{_MORNING}(?P<morgen>morgen))\b",
    re.IGNORECASE,
)


@attrs.frozen
class FoundDate:
    """A date mention: character span in the text and the ISO date it means."""

    start: int
    end: int
    value: str


def _year_near(month: int, day: int, reference: dt.date) -> dt.date | None:
    """The date ``day.month.`` in the year nearest to ``reference`` (None if it does not exist)."""
    candidates = []
    for year in (reference.year - 1, reference.year, reference.year + 1):
        try:
            candidates.append(dt.date(year, month, day))
        except ValueError:
            continue
    if not candidates:
        return None
    return min(candidates, key=lambda d: abs((d - reference).days))


def _build(day: str, month: str, year: str | None, reference: dt.date) -> dt.date | None:
    month_number = int(month) if month.isdigit() else _MONTHS.get(month.lower().rstrip("."))
    if month_number is None:
        return None
    day_number = int(day)
    if year is None:
        return _year_near(month_number, day_number, reference)
    full_year = int(year) + 2000 if len(year) == 2 else int(year)
    try:
        return dt.date(full_year, month_number, day_number)
    except ValueError:
        return None


def find_dates(text: str, reference: dt.date) -> Iterator[FoundDate]:
    """Yield every date mentioned in ``text`` (non-overlapping, in no particular order)."""
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= a or start >= b for a, b in taken)

    for pattern in _PATTERNS:
        for match in pattern.finditer(text):
            if not free(match.start(), match.end()):
                continue
            date = _build(match["day"], match["month"], match["year"], reference)
            if date is not None:
                taken.append((match.start(), match.end()))
                yield FoundDate(match.start(), match.end(), date.isoformat())
    for match in _RELATIVE_RE.finditer(text):
        if not free(match.start(), match.end()):
            continue
        word = (match["phrase"] or match["morgen"]).lower()
        offset = _RELATIVE[word]
        yield FoundDate(match.start(), match.end(), (reference + dt.timedelta(days=offset)).isoformat())
