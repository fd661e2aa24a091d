"""The sentiment fallback skips VADER only for texts it could not score below zero."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vaderSentiment.vaderSentiment import BOOSTER_DICT, NEGATE, SPECIAL_CASES, SentimentIntensityAnalyzer

from qandu.domain import Content, Conversation, Message, Sender
from qandu_routing import RoutingConfig
from qandu_routing.priority import PriorityRules, may_be_negative, negative_vocabulary

VADER = SentimentIntensityAnalyzer()
NEGATIVE = negative_vocabulary(VADER)
LEXICON = sorted(VADER.lexicon)
WEAK = sorted(w for w, valence in VADER.lexicon.items() if 0 < valence < 0.5)  # a dampener flips them
NOW = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)

# words of every kind VADER treats specially, plus plain ones, in any case, with punctuation
word = st.one_of(
    st.sampled_from(LEXICON),  # positive and negative words, emoticons
    st.sampled_from(WEAK),
    st.sampled_from(sorted({w for phrase in (*BOOSTER_DICT, *SPECIAL_CASES) for w in phrase.split()})),
    st.sampled_from([*NEGATE, "least", "at", "very", "no", "but", "of", "kind", "sort", "isn't", "ain't"]),
    st.sampled_from(["order", "my", "the", "round", "trip", "12345", "where", "is", "help", ":)", ":("]),
)
token = st.tuples(word, st.sampled_from(["", "!", "?", ",", "...", "!!!", '"']), st.booleans()).map(
    lambda t: (t[0].upper() if t[2] else t[0]) + t[1]
)
texts = st.lists(token, min_size=1, max_size=12).map(" ".join)


@given(texts)
def test_a_text_passed_over_never_scores_below_zero(text):
    if not may_be_negative(text, NEGATIVE):
        assert VADER.polarity_scores(text)["compound"] >= 0, text


@pytest.mark.parametrize(
    ("text", "negative"),
    [
        ("round trip 12", False),
        ("Hello, where is my order?", False),
        ("thanks a lot!", False),
        ("this is terrible", True),
        ("not good", True),
        ("it isn't working", True),
        ("yeah right", True),  # an idiom that turns a positive word negative
        ("ok :(", True),
        ("where is my order 😡", True),  # emoji are scored
    ],
)
def test_the_precheck_sends_what_may_be_negative_to_vader(text, negative):
    assert may_be_negative(text, NEGATIVE) is negative


def _message(text: str) -> Message:
    return Message(
        id="m1",
        conversation_id="c1",
        seq=1,
        sender=Sender("u1", "user", "Customer"),
        content=Content(text=text),
        timestamp=NOW,
    )


CONVERSATION = Conversation(id="c1", status="pending", priority="low", started_at=NOW, last_message_at=NOW)


@given(texts)
def test_priority_from_sentiment_is_what_vader_alone_gives(text):
    rules = PriorityRules(RoutingConfig(high_keywords=[], medium_keywords=[]))
    score = VADER.polarity_scores(text)["compound"]
    expected = "high" if score <= -0.6 else "medium" if score <= -0.3 else None
    found = rules.assess(CONVERSATION, _message(text), {})
    assert (found.priority if found else None) == expected


def test_positive_thresholds_turn_the_precheck_off():
    rules = PriorityRules(RoutingConfig(high_sentiment=-0.5, medium_sentiment=0.5, medium_keywords=[]))
    found = rules.assess(CONVERSATION, _message("round trip 12"), {})  # VADER: 0.0 <= 0.5
    assert found is not None and found.priority == "medium"
