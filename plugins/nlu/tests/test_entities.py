"""Built-in entities: each label, its normalised value, and no overlaps."""

from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qandu.testing import DEMO_BOT, REPO
from qandu_nlu.entities import LABELS, BuiltinEntities

TODAY = dt.date(2026, 12, 1)
builtins = BuiltinEntities()


def found(text: str, finder: BuiltinEntities = builtins) -> list[tuple[str, str, object]]:
    return [(e.label, e.text, e.value) for e in finder.find(text, TODAY)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "mail me at Jana.Weber@Example.COM",
            [("EMAIL", "Jana.Weber@Example.COM", "jana.weber@example.com")],
        ),
        ("call +49 40 555 0199", [("PHONE", "+49 40 555 0199", "+49405550199")]),
        ("ruf an: 040 5550199", [("PHONE", "040 5550199", "+49405550199")]),
        ("order NL-48213", [("ORDER_NUMBER", "NL-48213", "NL-48213")]),
        ("order #48213", [("ORDER_NUMBER", "48213", "NL-48213")]),
        ("Bestellung Nr. 50344", [("ORDER_NUMBER", "50344", "NL-50344")]),
        ("it's nl48213", [("ORDER_NUMBER", "nl48213", "NL-48213")]),
        ("charged 49.99 EUR", [("AMOUNT", "49.99 EUR", {"value": 49.99, "currency": "EUR"})]),
        ("mit 89,90 € belastet", [("AMOUNT", "89,90 €", {"value": 89.9, "currency": "EUR"})]),
        ("refund of €129.90", [("AMOUNT", "€129.90", {"value": 129.9, "currency": "EUR"})]),
        ("kostet 1.299,00 Euro", [("AMOUNT", "1.299,00 Euro", {"value": 1299.0, "currency": "EUR"})]),
        ("costs $1,299.50", [("AMOUNT", "$1,299.50", {"value": 1299.5, "currency": "USD"})]),
        ("25 euros back", [("AMOUNT", "25 euros", {"value": 25.0, "currency": "EUR"})]),
        ("delivered 2026-11-20", [("DATE", "2026-11-20", "2026-11-20")]),
    ],
)
def test_each_label_and_its_value(text, expected):
    assert found(text) == expected


def test_no_overlaps_between_labels():
    text = "Order 48213 from 2026-11-20 for 49,99 €, mail anna.48213@example.de or +49 40 555 0199"
    labels = [(label, span) for label, span, _ in found(text)]
    assert labels == [
        ("ORDER_NUMBER", "48213"),
        ("DATE", "2026-11-20"),
        ("AMOUNT", "49,99 €"),
        ("EMAIL", "anna.48213@example.de"),
        ("PHONE", "+49 40 555 0199"),
    ]


@pytest.mark.parametrize("text", ["hi", "Qanda is there 24/7", "Postleitzahl 2", "I need 2 items", "1234"])
def test_plain_numbers_are_not_entities(text):
    assert found(text) == []


def test_the_order_number_format_is_configurable():
    shop = BuiltinEntities(order_pattern=r"(?:ORD-)?(\d{8})", order_format="ORD-{}")
    assert found("it's 12345678", shop) == [("ORDER_NUMBER", "12345678", "ORD-12345678")]
    assert found("order 48213", shop) == []


def test_every_labelled_builtin_span_of_the_demo_data_is_found():
    files = [*(DEMO_BOT / "intents").glob("*.jsonl"), *(REPO / "tests" / "data").glob("heldout_*.jsonl")]
    missed, total = [], 0
    for file in files:
        for row in map(json.loads, file.read_text(encoding="utf-8").splitlines()):
            gold = {
                (e["start"], e["end"], e["label"]) for e in row.get("entities", []) if e["label"] in LABELS
            }
            got = {(e.start, e.end, e.label) for e in builtins.find(row["text"], TODAY)}
            total += len(gold)
            missed += [(row["text"], span) for span in gold - got]
    assert total > 100
    assert missed == []


@given(st.text(max_size=80))
def test_spans_always_point_into_the_text(text):
    entities = builtins.find(text, TODAY)
    for entity in entities:
        assert text[entity.start : entity.end] == entity.text
    for a, b in itertools.pairwise(entities):
        assert a.end <= b.start


def test_products_come_from_the_bots_data(demo_models):
    _, entities = demo_models["en"].entities("Is my Air Fryer on its way?")
    assert [(e.label, e.text, e.value) for e in entities] == [("PRODUCT", "Air Fryer", "air fryer")]
    _, entities = demo_models["de"].entities("Mein Wasserkocher ist kaputt")
    assert [(e.label, e.text) for e in entities] == [("PRODUCT", "Wasserkocher")]


def test_products_from_the_bots_pattern_file(demo_models):
    _, entities = demo_models["de"].entities("Meine aroma 3000 tropft")
    assert [(e.label, e.text, e.value) for e in entities] == [("PRODUCT", "aroma 3000", "Aroma 3000")]
