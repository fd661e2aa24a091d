"""Annotate one message: language, entities, intent, sentiment, and the conversation's slots.

Everything here is synchronous and CPU-bound; the plugin runs it in a worker thread.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import attrs

from qandu_nlu.context import State, fill_slots, filler_words, resolve_intent
from qandu_nlu.entities import BuiltinEntities, Entity
from qandu_nlu.language import LanguageGuesser
from qandu_nlu.models import IntentModel
from qandu_nlu.sentiment import SentimentScorer

TOP_INTENTS = 3
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


@attrs.define
class BotAnalyzer:
    """The NLU of one bot; ``models`` (per language) are filled in as they load or train."""

    bot: str
    default_language: str
    languages: tuple[str, ...]
    guesser: LanguageGuesser
    builtins: BuiltinEntities
    sentiment: SentimentScorer
    carry_below: float
    order_intents: frozenset[str] = frozenset()
    """Intents whose open question a bare number answers as an order number (``order_status``...)."""
    models: dict[str, IntentModel] = attrs.Factory(dict)

    def analyze(
        self, text: str, context: dict[str, Any] | None, today: dt.date, seq: int | None = None
    ) -> tuple[dict[str, Any], State | None]:
        """Annotations for ``text`` and the conversation's new NLU state (``None``: unchanged).

        :param context: the conversation's context (its ``nlu`` state and ``locale``).
        :param today: the message's day, for "tomorrow" and dates without a year.
        :param seq: the message's seq; a message the state already includes (an edit) is
            analysed from the state before it (see :mod:`qandu_nlu.context`).
        """
        state, replaces = State.from_context(context).base_for(seq)
        fallback = state.language or self._locale_language(context) or self.default_language
        detected = self.guesser.detect(text, fallback)
        language = detected.language
        builtins = self.builtins.find(text, today, expect_order=self._expects_order(state))
        entities = list(builtins)
        ranking: list[tuple[str, float]] = []
        model = self.models.get(language)
        if model is not None:
            doc, found = model.entities(text)
            entities += [e for e in found if not _overlaps(e, builtins)]
            entities.sort(key=lambda e: e.start)
            ranking = model.classify(doc, builtins)
        words = [(m.start(), m.end(), True) for m in _WORD.finditer(text)]
        intent = resolve_intent(
            ranking, entities, filler_words(words, entities), state.intent, self.carry_below
        )
        slots = fill_slots(state.slots, entities)
        sentiment = self.sentiment(text, language)
        annotations: dict[str, Any] = {
            "language": language,
            "entities": [e.to_json() for e in entities],
            "sentiment": sentiment.to_json(),
            "context": slots,
        }
        if intent is not None:
            annotations["intent"] = intent
            annotations["intents"] = [
                {"name": name, "confidence": round(score, 4)} for name, score in ranking[:TOP_INTENTS]
            ]
        stored_intent = {k: v for k, v in intent.items() if k != "carried"} if intent else state.intent
        return annotations, state.after(seq, slots, stored_intent, language) if replaces else None

    def _expects_order(self, state: State) -> bool:
        """The open question is about an order whose number is not known yet."""
        name = (state.intent or {}).get("name")
        return name in self.order_intents and "order_number" not in state.slots

    def _locale_language(self, context: dict[str, Any] | None) -> str | None:
        locale = (context or {}).get("locale")
        if not isinstance(locale, str) or not locale:
            return None
        lang = locale.replace("_", "-").split("-")[0].lower()
        return lang if lang in self.languages else None


def _overlaps(entity: Entity, others: list[Entity]) -> bool:
    return any(entity.start < o.end and o.start < entity.end for o in others)
