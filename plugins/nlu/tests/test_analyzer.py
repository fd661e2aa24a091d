"""The analyser as a whole: any text gives well-formed annotations."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qandu.bots import load_bot
from qandu.testing import DEMO_BOT
from qandu_nlu import NluConfig
from qandu_nlu.analyzer import BotAnalyzer
from qandu_nlu.builder import build_analyzer
from qandu_nlu.data import load_bot_data

TODAY = dt.date(2026, 12, 1)


@pytest.fixture(scope="module")
def analyzer(demo_models) -> BotAnalyzer:
    bot = load_bot(DEMO_BOT)
    built = build_analyzer(bot, load_bot_data(bot.name, bot.path, bot.languages), NluConfig())
    built.models.update(demo_models)
    return built


@settings(max_examples=80, deadline=None)
@given(text=st.text(min_size=1, max_size=300), context=st.none() | st.just({"locale": "de-AT"}))
def test_any_text_gives_well_formed_annotations(analyzer, text, context):
    annotations, state = analyzer.analyze(text, context, TODAY)
    assert annotations["language"] in ("en", "de")
    assert -1 <= annotations["sentiment"]["score"] <= 1
    assert annotations["sentiment"]["label"] in ("negative", "neutral", "positive")
    for entity in annotations["entities"]:
        assert text[entity["start"] : entity["end"]] == entity["text"]
    names = [i["name"] for i in annotations["intents"]]
    assert annotations["intent"]["name"] in names or annotations["intent"].get("carried")
    assert state.language == annotations["language"] and state.slots == annotations["context"]


def test_the_locale_decides_when_the_text_cannot(analyzer):
    assert analyzer.analyze("48213", {"locale": "de-AT"}, TODAY)[0]["language"] == "de"
    assert analyzer.analyze("48213", {"locale": "fr"}, TODAY)[0]["language"] == "en"  # the bot's default
    previous = {"locale": "en", "nlu": {"slots": {}, "intent": None, "language": "de"}}
    assert analyzer.analyze("ok", previous, TODAY)[0]["language"] == "de"  # the conversation's language
