"""Built-in entities: each label, its normalised value, and no overlaps."""

from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qandu.testing import DEMO_BOT, REPO
from qandu_nlu.entities import LABELS, BuiltinEntities, Entity

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
    assert found("order 12345678", shop) == [("ORDER_NUMBER", "12345678", "ORD-12345678")]
    assert found("it's ord-12345678", shop) == [("ORDER_NUMBER", "ord-12345678", "ORD-12345678")]
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


# -- order numbers are contextual: a bare five-digit number may be a zip code or part of a phone number

CITIES = st.sampled_from(["Hamburg", "Berlin", "München", "Köln", "Wien", "Leipzig"])
FIVE_DIGITS = st.integers(10000, 99999).map(str)
ZIP_SENTENCES = st.sampled_from(
    [
        "I live in {zip} {city}",
        "my zip code is {zip}",
        "Ich wohne in {zip} {city}, ist das ein Problem?",
        "PLZ {zip}",
        "please ship it to Hauptstraße 5, {zip} {city}",
        "Lieferadresse: Bahnhofstraße 12a, {zip} {city}",
        "do you deliver to {zip} {city}?",
        "Meine Postleitzahl ist {zip}",
        "my postcode {zip} is not accepted at checkout",
    ]
)
PHONE_SENTENCES = st.sampled_from(
    [
        "call me at 0176 {a} {b}",
        "my number is +49 40 {a}",
        "Ruf mich unter 040 {a} an",
        "Telefon: 030/{a}{b}",
        "you can reach me on {a} {b} after 5",
    ]
)
ORDER_SENTENCES = st.sampled_from(
    [
        "where is order {n}?",
        "my order number is {n}",
        "Bestellnummer {n}",
        "Ist Bestellung Nr. {n} schon unterwegs?",
        "it's #{n}",
        "I want to cancel NL-{n}",
        "nl{n} was never delivered",
        "the order: {n}, placed last week",
    ]
)


def labels(text: str, *, expect_order: bool = False) -> list[str]:
    return [e.label for e in builtins.find(text, TODAY, expect_order=expect_order)]


@given(ZIP_SENTENCES, FIVE_DIGITS, CITIES, st.booleans())
def test_zip_codes_in_sentences_are_not_order_numbers(template, zip_code, city, expecting):
    """Not even when the dialogue expects an order number, if the sentence says it is a zip code."""
    text = template.format(zip=zip_code, city=city)
    if expecting and not any(word in text.lower() for word in ("zip", "plz", "post", "straße")):
        expecting = False  # "I live in 22041 Hamburg" as the answer to "what's your order number?" is one
    assert "ORDER_NUMBER" not in labels(text, expect_order=expecting), text


@given(PHONE_SENTENCES, FIVE_DIGITS, st.integers(100, 9999).map(str), st.booleans())
def test_phone_numbers_are_not_order_numbers(template, a, b, expecting):
    text = template.format(a=a, b=b)
    assert "ORDER_NUMBER" not in labels(text, expect_order=expecting), text


@given(ORDER_SENTENCES, FIVE_DIGITS)
def test_an_order_number_after_a_cue_word_or_with_the_prefix_is_found(template, number):
    text = template.format(n=number)
    orders = [e for e in builtins.find(text, TODAY) if e.label == "ORDER_NUMBER"]
    assert [e.value for e in orders] == [f"NL-{number}"], text


@given(st.sampled_from(["{n}", "it's {n}", "sure, {n}", "Die Nummer ist {n}", "{n} I think"]), FIVE_DIGITS)
def test_a_bare_number_answers_the_question_for_an_order_number(template, number):
    text = template.format(n=number)
    assert "ORDER_NUMBER" not in labels(text)  # out of the blue: could be anything
    expected = [Entity("ORDER_NUMBER", text.index(number), text.index(number) + 5, number, f"NL-{number}")]
    assert builtins.find(text, TODAY, expect_order=True) == expected
