"""What the NLU remembers across a conversation's turns: slots, the open intent, the language.

Kept in the conversation's context under ``"nlu"`` (``conversation.metadata.context.nlu``
on the wire)::

    {"slots": {"order_number": "NL-48213", "email": "ana@example.com"},
     "intent": {"name": "order_status", "confidence": 0.91}, "language": "en"}

Entities fill slots (the newest mention wins).  A message that only answers with entities
("it's 48213", "anna@example.de") and whose own intent is uncertain keeps the intent of the
open question: the customer is answering, not changing the subject.

The state also names the ``seq`` of the last message it includes and keeps the state from
``before`` it, so an edited last message is analysed again from where the conversation was
(a corrected order number replaces the old one; a removed one is forgotten).  An edit of an
older message gets new annotations but leaves the state alone: later messages built on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from qandu_nlu.entities import Entity

CONTEXT_KEY = "nlu"
SLOTS = {
    "ORDER_NUMBER": "order_number",
    "EMAIL": "email",
    "PHONE": "phone",
    "AMOUNT": "amount",
    "DATE": "date",
    "PRODUCT": "product",
}
MAX_FILLER_WORDS = 4
"""A slot answer may have up to this many words besides its entities ("the number is ...")."""


@attrs.frozen
class State:
    """The NLU's part of a conversation's context."""

    slots: dict[str, Any] = attrs.Factory(dict)
    intent: dict[str, Any] | None = None
    language: str | None = None
    seq: int | None = None
    """The seq of the last message this state includes."""
    before: State | None = None
    """The state before message ``seq`` (without its own ``seq`` and ``before``)."""

    @classmethod
    def from_context(cls, context: dict[str, Any] | None) -> State:
        return cls.from_json((context or {}).get(CONTEXT_KEY))

    @classmethod
    def from_json(cls, raw: Any) -> State:
        if not isinstance(raw, dict):
            return cls()
        slots = raw.get("slots") if isinstance(raw.get("slots"), dict) else {}
        intent = raw.get("intent") if isinstance(raw.get("intent"), dict) else None
        language = raw.get("language") if isinstance(raw.get("language"), str) else None
        seq = raw.get("seq") if isinstance(raw.get("seq"), int) else None
        before = cls.from_json(raw["before"]) if isinstance(raw.get("before"), dict) else None
        return cls(dict(slots), intent, language, seq, before)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"slots": self.slots, "intent": self.intent, "language": self.language}
        if self.seq is not None:
            data["seq"] = self.seq
        if self.before is not None:
            data["before"] = self.before.to_json()
        return data

    def same(self, other: State) -> bool:
        """Whether ``other`` says the same: slots, intent name and language (not the intent's
        confidence, ``seq`` or ``before``).  An unchanged state is not stored again: the stored
        one is still the state before the next message."""
        return (
            self.slots == other.slots
            and (self.intent or {}).get("name") == (other.intent or {}).get("name")
            and self.language == other.language
        )

    def base_for(self, seq: int | None) -> tuple[State, bool]:
        """The state to analyse message ``seq`` from, and whether its result becomes the new state.

        A new message builds on this state; the last message again (edited) on the state
        before it; an older message on this state, without replacing it.
        """
        if seq is None or self.seq is None or seq > self.seq:
            return self, True
        if seq == self.seq and self.before is not None:
            return self.before, True
        return self, False

    def after(
        self, seq: int | None, slots: dict[str, Any], intent: dict[str, Any] | None, language: str
    ) -> State:
        """The state once message ``seq`` (analysed from this state) is included."""
        before = State(self.slots, self.intent, self.language) if seq is not None else None
        return State(slots, intent, language, seq, before)


def slot_name(label: str) -> str:
    return SLOTS.get(label, label.lower())


def fill_slots(slots: dict[str, Any], entities: Sequence[Entity]) -> dict[str, Any]:
    """``slots`` updated with ``entities`` (later mentions win)."""
    filled = dict(slots)
    for entity in entities:
        filled[slot_name(entity.label)] = entity.value
    return filled


def filler_words(words: Sequence[tuple[int, int, bool]], entities: Sequence[Entity]) -> int:
    """How many alphabetic words of a message lie outside its entities.

    :param words: ``(start, end, is_alpha)`` of every token.
    """
    spans = [(e.start, e.end) for e in entities]
    return sum(
        1 for start, end, alpha in words if alpha and not any(a <= start and end <= b for a, b in spans)
    )


def resolve_intent(
    ranking: Sequence[tuple[str, float]],
    entities: Sequence[Entity],
    fillers: int,
    previous: dict[str, Any] | None,
    carry_below: float,
) -> dict[str, Any] | None:
    """The message's intent: its own top intent, or the open one for a bare slot answer."""
    own = {"name": ranking[0][0], "confidence": round(ranking[0][1], 4)} if ranking else None
    answers_slot = bool(entities) and fillers <= MAX_FILLER_WORDS
    uncertain = own is None or own["confidence"] < carry_below
    if previous and previous.get("name") and answers_slot and uncertain:
        return {"name": previous["name"], "confidence": previous.get("confidence", 0.0), "carried": True}
    return own
