"""Sentiment: VADER for English, the shipped lexicon and rules for German."""

from __future__ import annotations

import pytest

from qandu_nlu import NluConfig
from qandu_nlu.sentiment import GermanSentiment, SentimentScorer

DEFAULTS = NluConfig()
scorer = SentimentScorer(
    negative_below=DEFAULTS.sentiment_negative, positive_above=DEFAULTS.sentiment_positive
)

GERMAN = [
    ("Vielen Dank, super Service!", "positive"),
    ("Danke, das hat mir sehr geholfen", "positive"),
    ("Top, alles hat perfekt geklappt 😊", "positive"),
    ("Ich bin sehr zufrieden mit der Lieferung", "positive"),
    ("Das ist nicht schlecht", "positive"),
    ("Keine Probleme, alles gut", "positive"),
    ("Tolle Beratung, gerne wieder", "positive"),
    ("Wo ist meine Bestellung?", "neutral"),
    ("Ich möchte meine Adresse ändern", "neutral"),
    ("Bestellnummer NL-48213", "neutral"),
    ("Wie lange dauert der Versand nach Österreich?", "neutral"),
    ("Kann ich mit PayPal zahlen?", "neutral"),
    ("Das ist eine Frechheit, der Wasserkocher ist kaputt", "negative"),
    ("Ich bin nicht zufrieden", "negative"),
    ("Das gefällt mir überhaupt nicht", "negative"),
    ("Die App funktioniert nicht", "negative"),
    ("Ich bin extrem genervt, wie lange das alles dauert", "negative"),
    ("So einen schlechten Service hatte ich noch nie", "negative"),
    ("Der Kundenservice ist SEHR schlecht!!!", "negative"),
    ("Danke, aber das hilft mir nicht", "negative"),
    ("Mein Paket ist immer noch nicht angekommen", "negative"),
    ("Das ist kein guter Service", "negative"),
    ("Nie wieder bestelle ich hier, totale Abzocke", "negative"),
    ("Ich bin enttäuscht, die Tasse kam zerbrochen an", "negative"),
]

ENGLISH = [
    ("Thanks, great service!", "positive"),
    ("Perfect, that solved it :)", "positive"),
    ("Where is my order?", "neutral"),
    ("Can I pay with PayPal?", "neutral"),
    ("This is ridiculous, the kettle arrived broken", "negative"),
    ("I'm not happy with this", "negative"),
    ("I've never had such bad service from a shop", "negative"),
    ("Worst shop ever, I want my money back!!!", "negative"),
]


@pytest.mark.parametrize(("text", "label"), GERMAN)
def test_german(text, label):
    assert scorer(text, "de").label == label, scorer(text, "de")


@pytest.mark.parametrize(("text", "label"), ENGLISH)
def test_english(text, label):
    assert scorer(text, "en").label == label, scorer(text, "en")


def test_negation_flips_and_intensifiers_strengthen():
    german = GermanSentiment()
    assert german.score("Das ist gut") > 0 > german.score("Das ist nicht gut")
    assert german.score("Das ist schlecht") < 0 < german.score("Das ist nicht schlecht")
    assert german.score("Das gefällt mir") > 0 > german.score("Das gefällt mir nicht")  # negation after
    assert german.score("sehr gut") > german.score("gut") > german.score("etwas gut") > 0
    assert german.score("schlecht!!!") < german.score("schlecht") < 0
    assert german.score("Das ist SCHLECHT, echt") < german.score("Das ist schlecht, echt")
    assert german.score("Schlechte Lieferung") == german.score("schlecht Lieferung")  # inflection


def test_negation_stays_in_its_clause():
    german = GermanSentiment()
    assert german.score("Super, nicht mehr nötig") > 0


def test_scores_are_bounded():
    assert -1 <= scorer("schlecht " * 200, "de").score < 0
    assert 0 < scorer("super " * 200, "de").score <= 1
    assert scorer("", "de").score == 0.0


def test_thresholds_are_configurable():
    strict = SentimentScorer(negative_below=-0.5, positive_above=0.5)
    assert scorer("Das ist nicht gut", "de").label == "negative"
    assert strict("Das ist nicht gut", "de").label == "neutral"
