"""The dialogue state: slots the customer gave, a question the bot is waiting on.

The state travels in the metadata of the bot's last reply (``content.metadata.autoreply``),
so it is stored with the conversation, survives restarts, works across nodes and needs no
table of its own.  A reply that carries no state (the greeting, a handoff notice) starts
afresh.  Only the bot's own messages are read, so a customer cannot forge a state.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from qandu import Conversation, Message

METADATA_KEY = "autoreply"

#: Conversation-context keys that are not slots.
_NOT_SLOTS = frozenset({"locale"})


@attrs.frozen
class Pending:
    """An action waiting for one more argument from the customer."""

    action: str
    arg: str
    args: dict[str, str] = attrs.Factory(dict)
    asks: int = 1

    def to_wire(self) -> dict[str, Any]:
        return {"action": self.action, "arg": self.arg, "args": self.args, "asks": self.asks}

    @classmethod
    def from_wire(cls, data: Any) -> Pending | None:
        if not isinstance(data, dict) or not isinstance(data.get("action"), str):
            return None
        if not isinstance(data.get("arg"), str):
            return None
        args = data.get("args") if isinstance(data.get("args"), dict) else {}
        asks = data.get("asks") if isinstance(data.get("asks"), int) else 1
        return cls(data["action"], data["arg"], {str(k): str(v) for k, v in args.items()}, asks)


@attrs.frozen
class State:
    """What the bot remembers between two turns."""

    slots: dict[str, str] = attrs.Factory(dict)
    pending: Pending | None = None
    fallbacks: int = 0
    """Consecutive replies that asked the customer to rephrase."""
    language: str | None = None
    """The language of the bot's last reply."""

    def to_wire(self) -> dict[str, Any]:
        data: dict[str, Any] = {"slots": self.slots, "fallbacks": self.fallbacks}
        if self.language is not None:
            data["language"] = self.language
        if self.pending is not None:
            data["pending"] = self.pending.to_wire()
        return data

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any] | None) -> State:
        data = (metadata or {}).get(METADATA_KEY, {})
        state = data.get("state") if isinstance(data, dict) else None
        if not isinstance(state, dict):
            return cls()
        slots = state.get("slots") if isinstance(state.get("slots"), dict) else {}
        fallbacks = state.get("fallbacks") if isinstance(state.get("fallbacks"), int) else 0
        language = state.get("language") if isinstance(state.get("language"), str) else None
        return cls(
            slots={str(k): str(v) for k, v in slots.items()},
            pending=Pending.from_wire(state.get("pending")),
            fallbacks=fallbacks,
            language=language,
        )


def last_state(history: list[Message], bot_user_id: str) -> State:
    """The state in the newest bot message of ``history`` (ascending); empty if it has none."""
    for message in reversed(history):
        if message.sender.id == bot_user_id:
            return State.from_metadata(message.content.metadata)
    return State()


def entity_slots(annotations: dict[str, Any]) -> dict[str, str]:
    """Slots from the message's NLU entities (``ORDER_NUMBER`` -> ``order_number``)."""
    slots = {}
    for entity in annotations.get("entities") or ():
        if isinstance(entity, dict) and isinstance(entity.get("label"), str):
            value = entity.get("value") or entity.get("text")
            if isinstance(value, str | int | float) and str(value).strip():
                slots[entity["label"].lower()] = str(value).strip()
    return slots


def context_slots(conversation: Conversation, annotations: dict[str, Any]) -> dict[str, str]:
    """Slots known from the conversation: its context (e.g. the e-mail given at the start),
    then the NLU's conversation context."""
    slots = {}
    for source in (conversation.context or {}, annotations.get("context") or {}):
        if isinstance(source, dict):
            for key, value in source.items():
                if key not in _NOT_SLOTS and isinstance(value, str | int | float) and str(value).strip():
                    slots[str(key)] = str(value).strip()
    return slots


def pattern_slots(text: str, patterns: dict[str, re.Pattern[str]]) -> dict[str, str]:
    """Slots found in ``text`` by the actions' argument patterns (used without NLU entities)."""
    slots = {}
    for name, pattern in patterns.items():
        match = pattern.search(text)
        if match:
            slots[name] = match.group(0)
    return slots
