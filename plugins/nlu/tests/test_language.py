"""Language detection limited to the bot's languages, with fallbacks for short messages."""

from __future__ import annotations

import pytest

from qandu.bots import load_bot
from qandu.testing import DEMO_BOT
from qandu_nlu import NluConfig
from qandu_nlu.builder import build_analyzer
from qandu_nlu.data import load_bot_data
from qandu_nlu.language import LanguageGuesser

from .conftest import heldout

BOT = load_bot(DEMO_BOT)


@pytest.fixture(scope="module")
def guesser() -> LanguageGuesser:
    data = load_bot_data(BOT.name, BOT.path, BOT.languages)
    return build_analyzer(BOT, data, NluConfig()).guesser


@pytest.mark.parametrize("lang", ["en", "de"])
def test_every_heldout_utterance(guesser, lang):
    wrong = [e.text for e in heldout(lang) if guesser.detect(e.text, "xx").language != lang]
    assert wrong == []


@pytest.mark.parametrize(
    ("text", "lang"),
    [("Hallo", "de"), ("danke", "de"), ("thanks", "en"), ("where is my order", "en"), ("es ist 48213", "de")],
)
def test_short_messages_use_the_bots_vocabulary(guesser, text, lang):
    assert guesser.detect(text, "xx").language == lang


@pytest.mark.parametrize("text", ["48213", "ok", "super", "NL-48213", "🙂"])
def test_undecidable_messages_keep_the_fallback(guesser, text):
    assert guesser.detect(text, "de") == guesser.detect(text, "de")
    assert guesser.detect(text, "de").language == "de"
    assert guesser.detect(text, "en").language == "en"
    assert guesser.detect(text, "en").source == "context"


def test_only_the_bots_languages_are_detected():
    guesser = LanguageGuesser(["en", "de"], min_confidence=0.5)
    assert guesser.detect("Où est ma commande, s'il vous plaît ?", "en").language in ("en", "de")
    single = LanguageGuesser(["de"], min_confidence=0.5)
    assert single.detect("Where is my order?", "de").language == "de"
