"""Dates in English and German, normalised to ISO 8601 against the message's day."""

from __future__ import annotations

import datetime as dt

import pytest

from qandu_nlu.dates import find_dates

TODAY = dt.date(2026, 12, 1)


def dates(text: str, today: dt.date = TODAY) -> list[tuple[str, str]]:
    return [(text[d.start : d.end], d.value) for d in sorted(find_dates(text, today), key=lambda d: d.start)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ordered on 2026-11-20", [("2026-11-20", "2026-11-20")]),
        ("bestellt am 20.11.2026", [("20.11.2026", "2026-11-20")]),
        ("Lieferung am 2.12.2026, bitte", [("2.12.2026", "2026-12-02")]),
        ("bestellt am 12.11.", [("12.11.", "2026-11-12")]),
        ("on 12 November", [("12 November", "2026-11-12")]),
        ("am 3. November", [("3. November", "2026-11-03")]),
        ("on November 3rd, 2025", [("November 3rd, 2025", "2025-11-03")]),
        ("the 3rd of December", [("3rd of December", "2026-12-03")]),
        ("seit dem 30. Okt.", [("30. Okt.", "2026-10-30")]),
        ("on 01/10/2026", [("01/10/2026", "2026-10-01")]),
        ("it comes tomorrow", [("tomorrow", "2026-12-02")]),
        ("Kommt es morgen?", [("morgen", "2026-12-02")]),
        ("Morgen kommt der Techniker", [("Morgen", "2026-12-02")]),
        ("ich habe es gestern bestellt", [("gestern", "2026-11-30")]),
        ("übermorgen passt", [("übermorgen", "2026-12-03")]),
        ("heute Morgen kam nichts", [("heute", "2026-12-01")]),  # "this morning", not tomorrow
    ],
)
def test_formats(text, expected):
    assert dates(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Guten Morgen!",
        "Qanda is there 24/7",
        "it costs 12.50 EUR",
        "order 48213",
        "on 31 February",
        "version 3.5 of the app",
    ],
)
def test_not_dates(text):
    assert dates(text) == []


def test_a_date_without_year_is_the_nearest_one():
    assert dates("on 3 January", today=dt.date(2026, 12, 20)) == [("3 January", "2027-01-03")]
    assert dates("on 20 December", today=dt.date(2027, 1, 3)) == [("20 December", "2026-12-20")]
