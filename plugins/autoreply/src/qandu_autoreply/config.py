"""Settings of ``[plugins.autoreply]`` and ``[plugins.autoreply.llm]`` in ``config.toml``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
from attrs import validators as v

from qandu.config import SECRET
from qandu.errors import ConfigError


def _positive(instance: Any, attribute: attrs.Attribute, value: float) -> None:
    if value <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")


def _iso_date(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if value:
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"expected an ISO date such as 2026-12-01, got {value!r}") from None


@attrs.frozen
class LlmConfig:
    """An OpenAI-compatible chat-completions endpoint for grounded replies and suggestions."""

    enabled: bool = False
    url: str = ""
    """The full endpoint URL, e.g. ``http://127.0.0.1:11434/v1/chat/completions``."""
    model: str = ""
    api_key: str = attrs.field(default="", metadata=SECRET)
    """Sent as ``Authorization: Bearer``; write it ``{ env = "NAME" }``."""
    timeout: float = attrs.field(default=3.0, validator=_positive)
    """Seconds for the whole request; then the retrieval answer is used."""
    max_tokens: int = attrs.field(default=300, validator=v.ge(16))
    temperature: float = attrs.field(default=0.2, validator=[v.ge(0.0), v.le(2.0)])
    passages: int = attrs.field(default=3, validator=[v.ge(1), v.le(10)])
    """How many retrieved passages ground the prompt."""
    history: int = attrs.field(default=6, validator=[v.ge(0), v.le(50)])
    """How many earlier messages of the conversation the prompt includes."""


@attrs.frozen
class AutoReplyConfig:
    """How the bot answers, and when it hands the conversation to a person."""

    min_confidence: float = attrs.field(default=0.5, validator=[v.ge(0.0), v.le(1.0)])
    """Knowledge-base answers need at least this retrieval confidence."""
    min_intent_confidence: float = attrs.field(default=0.4, validator=[v.ge(0.0), v.le(1.0)])
    """Intents below this confidence are ignored (templates, actions, handoff intents).  With the
    ``nlu`` plugin's models, 0.4 kept 95 of 112 held-out messages, all with the right intent."""
    intent_boost: float = attrs.field(default=1.0, validator=[v.ge(0.0), v.le(10.0)])
    """How much a confident intent lifts the knowledge passages of articles tagged with it (front
    matter ``intents:``): their BM25 score is multiplied by 1 + intent_boost x the intent's
    confidence, so an ambiguous question gets the article of what the customer is asking about.
    0 turns it off; the reply's retrieval confidence is not changed."""
    handoff_intents: list[str] = attrs.Factory(lambda: ["human_handoff", "complaint"])
    negative_sentiment: float = attrs.field(default=-0.6, validator=[v.ge(-1.0), v.le(1.0)])
    """A sentiment score at or below this hands off (scores run from -1 to 1)."""
    rephrase_attempts: int = attrs.field(default=1, validator=[v.ge(0), v.le(5)])
    """Times the bot asks to rephrase (the ``fallback`` template) before handing off."""
    small_talk_intents: list[str] = attrs.Factory(lambda: ["greeting", "goodbye", "thanks"])
    """Intents answered from their templates without looking in the knowledge base."""
    min_small_talk_confidence: float = attrs.field(default=0.2, validator=[v.ge(0.0), v.le(1.0)])
    """Small talk needs less confidence: a short "hi" is rarely sure, and a wrong greeting is harmless."""
    handoff_keywords: list[str] = attrs.Factory(
        lambda: ["human", "agent", "person", "operator", "mensch", "mitarbeiter"]
    )
    """A message that is just one of these words hands off; without NLU (no intent to tell
    "talk to a person" from "pick up in person"), a message that contains one does."""
    max_asks: int = attrs.field(default=2, validator=[v.ge(1), v.le(5)])
    """An action that asks for the same argument more often than this hands off."""
    orders_file: str = "orders.json"
    """Demo order data in the bot's folder for the order actions; empty: no order actions."""
    orders_today: str = attrs.field(default="", validator=_iso_date)
    """The date the order actions take as today (ISO); empty: the real date."""
    return_days: int = attrs.field(default=30, validator=v.ge(0))
    suggestions: int = attrs.field(default=3, validator=[v.ge(1), v.le(10)])
    """Knowledge passages offered to agents per request."""
    llm: LlmConfig = LlmConfig()

    def __attrs_post_init__(self) -> None:
        if self.llm.enabled:
            missing = [name for name in ("url", "model") if not getattr(self.llm, name)]
            if missing:
                raise ConfigError(
                    [f"plugins.autoreply.llm.{name}: required when llm.enabled = true" for name in missing]
                )
