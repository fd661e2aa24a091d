"""Slots and the open intent, unit by unit (the end-to-end flow is in test_e2e.py)."""

from __future__ import annotations

from qandu_nlu.context import State, fill_slots, filler_words, resolve_intent
from qandu_nlu.entities import Entity

ORDER = Entity("ORDER_NUMBER", 5, 10, "48213", "NL-48213")
OPEN = {"name": "order_status", "confidence": 0.93}


def test_slots_accumulate_and_the_newest_mention_wins():
    slots = fill_slots({"email": "a@example.com"}, [ORDER])
    assert slots == {"email": "a@example.com", "order_number": "NL-48213"}
    later = fill_slots(slots, [Entity("ORDER_NUMBER", 0, 5, "50344", "NL-50344")])
    assert later["order_number"] == "NL-50344" and later["email"] == "a@example.com"


def test_a_bare_slot_answer_keeps_the_open_intent():
    words = [(0, 2, True), (3, 4, True), (5, 10, False)]  # "it s 48213"
    assert filler_words(words, [ORDER]) == 2
    carried = resolve_intent([("greeting", 0.3)], [ORDER], 2, OPEN, carry_below=0.8)
    assert carried == {"name": "order_status", "confidence": 0.93, "carried": True}


def test_a_confident_new_intent_is_not_overridden():
    own = resolve_intent([("refund", 0.91)], [ORDER], 1, OPEN, carry_below=0.8)
    assert own == {"name": "refund", "confidence": 0.91}


def test_a_long_message_is_not_a_slot_answer():
    own = resolve_intent([("complaint", 0.4)], [ORDER], 6, OPEN, carry_below=0.8)
    assert own["name"] == "complaint"


def test_without_entities_nothing_is_carried():
    assert resolve_intent([("greeting", 0.2)], [], 1, OPEN, carry_below=0.8)["name"] == "greeting"


def test_state_survives_odd_contexts():
    assert State.from_context(None) == State()
    assert State.from_context({"nlu": "garbage"}) == State()
    state = State.from_context({"nlu": {"slots": {"email": "x@y.de"}, "intent": OPEN, "language": "de"}})
    assert State.from_context({"nlu": state.to_json()}) == state


def test_the_state_remembers_what_came_before_its_last_message():
    before = State({"email": "x@y.de"}, OPEN, "de")
    state = before.after(7, {"email": "x@y.de", "order_number": "NL-48213"}, OPEN, "de")
    assert State.from_context({"nlu": state.to_json()}) == state
    assert state.base_for(8) == (state, True)  # a new message builds on it
    assert state.base_for(7) == (before, True)  # the last one again (edited): from before it
    assert state.base_for(5) == (state, False)  # an older one: the state is not replaced
    assert State().base_for(3) == (State(), True)
