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
from qandu_nlu.context import State
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
    assert state is not None
    assert state.language == annotations["language"] and state.slots == annotations["context"]


def test_the_locale_decides_when_the_text_cannot(analyzer):
    assert analyzer.analyze("48213", {"locale": "de-AT"}, TODAY)[0]["language"] == "de"
    assert analyzer.analyze("48213", {"locale": "fr"}, TODAY)[0]["language"] == "en"  # the bot's default
    previous = {"locale": "en", "nlu": {"slots": {}, "intent": None, "language": "de"}}
    assert analyzer.analyze("ok", previous, TODAY)[0]["language"] == "de"  # the conversation's language


ASKED_FOR_ORDER = {
    "nlu": {"slots": {}, "intent": {"name": "order_status", "confidence": 0.9}, "language": "en"}
}


def order_numbers(annotations: dict) -> list[str]:
    return [e["value"] for e in annotations["entities"] if e["label"] == "ORDER_NUMBER"]


def test_a_bare_number_is_an_order_number_only_when_the_dialogue_asks_for_one(analyzer):
    assert order_numbers(analyzer.analyze("it's 48213", None, TODAY)[0]) == []
    answered, state = analyzer.analyze("it's 48213", ASKED_FOR_ORDER, TODAY)
    assert order_numbers(answered) == ["NL-48213"] and state.slots == {"order_number": "NL-48213"}
    assert answered["intent"]["name"] == "order_status"  # the answer keeps the open question
    thanks = {"nlu": {**ASKED_FOR_ORDER["nlu"], "intent": {"name": "thanks", "confidence": 0.9}}}
    assert order_numbers(analyzer.analyze("it's 48213", thanks, TODAY)[0]) == []
    assert order_numbers(analyzer.analyze("my zip code is 22041", ASKED_FOR_ORDER, TODAY)[0]) == []


def test_an_edited_last_message_is_analysed_from_the_state_before_it(analyzer):
    first, state = analyzer.analyze("where is my order 48213?", None, TODAY, 2)
    context = {"nlu": state.to_json()}
    assert first["context"] == {"order_number": "NL-48213"} and state.seq == 2
    fixed, after = analyzer.analyze("where is my order 48231?", context, TODAY, 2)
    assert fixed["context"] == {"order_number": "NL-48231"} and after.seq == 2
    assert after.before == State()  # still the state before message 2
    dropped, _ = analyzer.analyze("where is my parcel?", context, TODAY, 2)
    assert dropped["context"] == {}  # the edit removed the number: it is forgotten
    later, newest = analyzer.analyze("and my email is a@example.com", context, TODAY, 4)
    older, unchanged = analyzer.analyze("order 50344 I meant", {"nlu": newest.to_json()}, TODAY, 2)
    assert unchanged is None  # an older message: new annotations, the state stays
    assert order_numbers(older) == ["NL-50344"]
    assert later["context"] == {"order_number": "NL-48213", "email": "a@example.com"}
