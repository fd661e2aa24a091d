"""Priority rules: sentiment, intent, keywords and the customer's plan, each with a reason."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any

from qandu.domain import Conversation, Message
from qandu.routing import PRIORITY_RANK, PriorityAssessment
from qandu_routing.config import RoutingConfig


def sentiment_score(annotations: Mapping[str, Any]) -> float | None:
    """The message's sentiment in [-1, 1] from an analyser's annotations, if any.

    Accepts a bare number or an object with ``compound``, ``score`` or ``polarity``.
    """
    value = annotations.get("sentiment")
    if isinstance(value, Mapping):
        value = next((value[k] for k in ("compound", "score", "polarity") if k in value), None)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return max(-1.0, min(1.0, float(value)))
    return None


def intent_name(annotations: Mapping[str, Any]) -> str | None:
    value = annotations.get("intent")
    if isinstance(value, Mapping):
        value = value.get("name")
    return value if isinstance(value, str) else None


def negative_vocabulary(analyzer: Any) -> frozenset[str]:
    """Every token that can make VADER's score of a text negative (lower case).

    VADER sums per-word valences; only these turn one negative: words of negative valence
    (emoticons included), negations (and ``least``), dampeners (which can pull a weakly
    positive word below zero) and the first words of its negative idioms (``yeah right``).
    """
    from vaderSentiment.vaderSentiment import BOOSTER_DICT, NEGATE, SPECIAL_CASES

    words = {word for word, valence in analyzer.lexicon.items() if valence < 0}
    words.update(NEGATE, ["least"])
    for table in (BOOSTER_DICT, SPECIAL_CASES):
        words.update(phrase.split()[0] for phrase, value in table.items() if value < 0)
    return frozenset(words)


def may_be_negative(text: str, vocabulary: frozenset[str]) -> bool:
    """Whether VADER could score ``text`` below zero; ``False`` means its score is >= 0.

    Tokens are split as VADER splits them (whitespace, then outer punctuation); non-ASCII
    text (emoji, which VADER turns into words) is always scored.
    """
    if not text.isascii():
        return True
    for token in text.split():
        lowered = token.lower()
        if lowered in vocabulary or "n't" in lowered or lowered.strip(string.punctuation) in vocabulary:
            return True
    return False


class PriorityRules:
    """Rates a conversation from its context (at the start) and each customer message."""

    def __init__(self, config: RoutingConfig) -> None:
        self.config = config
        self._keywords = [  # one alternation per level: one search per level and message
            (level, re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w.lower()) for w in words) + r")(?!\w)"))
            for level, words in (("high", config.high_keywords), ("medium", config.medium_keywords))
            if words
        ]
        self._vader: Any = None
        self._negative: frozenset[str] = frozenset()
        # only negative scores raise a priority (the usual thresholds): a text that cannot
        # score below zero needs no scoring
        self._precheck = max(config.high_sentiment, config.medium_sentiment) < 0

    def assess(
        self, conversation: Conversation, message: Message | None, annotations: Mapping[str, Any]
    ) -> PriorityAssessment | None:
        """The most urgent signal found, or ``None``."""
        found = [self._tier(conversation)]
        if message is not None:
            text = message.content.text or ""
            found += [self._sentiment(text, annotations), self._intent(annotations), self._keyword(text)]
        signals = [signal for signal in found if signal is not None]
        if not signals:
            return None
        return max(signals, key=lambda s: PRIORITY_RANK[s.priority])  # first wins on ties

    def _tier(self, conversation: Conversation) -> PriorityAssessment | None:
        context = conversation.context or {}
        for key in self.config.tier_keys:
            value = context.get(key)
            if isinstance(value, str) and value.lower() in self.config.tiers:
                return PriorityAssessment(self.config.tiers[value.lower()], f"{value} {key}")
        return None

    def _sentiment(self, text: str, annotations: Mapping[str, Any]) -> PriorityAssessment | None:
        score = sentiment_score(annotations)
        if score is None and self.config.sentiment_fallback and text.strip():
            score = self._vader_score(text)
        if score is None:
            return None
        if score <= self.config.high_sentiment:
            return PriorityAssessment("high", f"angry message (sentiment {score:.2f})")
        if score <= self.config.medium_sentiment:
            return PriorityAssessment("medium", f"unhappy message (sentiment {score:.2f})")
        return None

    def warm_up(self) -> None:
        """Load the sentiment lexicon (blocking: call it in a thread)."""
        self._vader_score("warm up")

    def _vader_score(self, text: str) -> float | None:
        """VADER's compound score; ``None`` when no score could reach the thresholds."""
        if self._vader is None:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

            self._vader = SentimentIntensityAnalyzer()
            self._negative = negative_vocabulary(self._vader)
        if self._precheck and not may_be_negative(text, self._negative):
            return None
        return float(self._vader.polarity_scores(text)["compound"])

    def _intent(self, annotations: Mapping[str, Any]) -> PriorityAssessment | None:
        intent = intent_name(annotations)
        if intent in self.config.high_intents:
            return PriorityAssessment("high", f"intent {intent}")
        if intent in self.config.medium_intents:
            return PriorityAssessment("medium", f"intent {intent}")
        return None

    def _keyword(self, text: str) -> PriorityAssessment | None:
        lowered = text.lower()
        for level, pattern in self._keywords:
            match = pattern.search(lowered)
            if match:
                return PriorityAssessment(level, f"keyword {match.group(0)!r}")  # type: ignore[arg-type]
        return None
