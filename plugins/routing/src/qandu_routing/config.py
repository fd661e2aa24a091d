"""Settings of ``[plugins.routing]``, validated before the server starts."""

from __future__ import annotations

from typing import Literal

import attrs
from attrs import validators as v

Level = Literal["low", "medium", "high"]


def _positive(instance: object, attribute: attrs.Attribute, value: float) -> None:
    if value <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")


@attrs.frozen
class SlaTarget:
    """Response deadlines, in seconds, for one priority."""

    first_response: float = attrs.field(validator=_positive)
    """From entering the queue to the first answer of a person."""
    next_response: float = attrs.field(validator=_positive)
    """From a customer's message to the agent's next answer."""


def _default_sla() -> dict[str, SlaTarget]:
    return {
        "high": SlaTarget(first_response=120, next_response=300),
        "medium": SlaTarget(first_response=600, next_response=900),
        "low": SlaTarget(first_response=3600, next_response=3600),
    }


def _sla_levels(instance: object, attribute: attrs.Attribute, value: dict[str, SlaTarget]) -> None:
    unknown = sorted(set(value) - {"low", "medium", "high"})
    if unknown:
        raise ValueError(f"unknown priority {unknown[0]!r} (use low, medium, high)")


DEFAULT_CLOSED_NOTICE = {
    "en": "Our team is away right now. We're back {day} at {time} {tz}. Your message is in the queue "
    "and a person will answer then.",
    "de": "Unser Team ist gerade nicht da. Wir sind {day} um {time} {tz} wieder für dich da. Deine "
    "Nachricht ist in der Warteschlange; dann antwortet dir eine Person.",
}


@attrs.frozen
class RoutingConfig:
    """Priority rules, assignment strategy, limits, SLA targets and business-hours behaviour."""

    # -- assignment --
    strategy: Literal["round_robin", "least_busy"] = "least_busy"
    """round_robin: the matching agent who got a chat longest ago; least_busy: the fewest open chats."""
    max_chats: int | None = attrs.field(default=5, validator=v.optional(v.ge(1)))
    """Open conversations per agent unless the agent has their own limit (unset: no limit)."""
    skills: list[str] = attrs.Factory(list)
    """Skill names the router requires when a conversation carries them as tags or in context.skills
    (teams' skills count too)."""
    match_language: bool = True
    """Give a conversation only to agents who list its language (agents listing none take any)."""
    requeue_on_offline: bool = True
    """Put an agent's conversations back in the queue when they go offline."""
    requeue_on_away: bool = False
    offline_grace: float = attrs.field(default=30.0, validator=_positive)
    """Seconds after an agent's last console closed before they count as offline."""
    sweep_interval: float = attrs.field(default=5.0, validator=_positive)
    """Seconds between SLA checks, presence renewals and backlog drains."""

    # -- priority --
    high_sentiment: float = attrs.field(default=-0.6, validator=[v.ge(-1), v.le(1)])
    """A message this negative (sentiment score in [-1, 1]) or worse makes a conversation high."""
    medium_sentiment: float = attrs.field(default=-0.3, validator=[v.ge(-1), v.le(1)])
    sentiment_fallback: bool = True
    """Score English sentiment with VADER when no analyser annotated the message."""
    high_intents: list[str] = attrs.Factory(lambda: ["complaint", "cancel_order", "legal", "fraud"])
    medium_intents: list[str] = attrs.Factory(lambda: ["refund", "payment_problem", "human"])
    high_keywords: list[str] = attrs.Factory(
        lambda: ["urgent", "asap", "lawyer", "chargeback", "fraud", "dringend", "anwalt", "betrug"]
    )
    medium_keywords: list[str] = attrs.Factory(
        lambda: [
            "refund",
            "broken",
            "not working",
            "doesn't work",
            "erstattung",
            "kaputt",
            "funktioniert nicht",
        ]
    )
    tiers: dict[str, Level] = attrs.Factory(
        lambda: {"enterprise": "high", "premium": "high", "pro": "medium"}
    )
    """Customer plan/tier (from the initialize context) -> priority."""
    tier_keys: list[str] = attrs.Factory(lambda: ["plan", "tier"])

    # -- SLA --
    sla: dict[str, SlaTarget] = attrs.field(factory=_default_sla, validator=_sla_levels)
    breach_raises_priority: bool = True

    # -- business hours --
    outside_hours: Literal["queue", "bot"] = "queue"
    """Outside a team's hours: wait in the queue (and tell the customer when people are back), or
    let the bot keep helping."""
    closed_notice: dict[str, str] = attrs.Factory(lambda: dict(DEFAULT_CLOSED_NOTICE))
    """Per language; {day}, {time}, {tz} and {date} are filled in."""
