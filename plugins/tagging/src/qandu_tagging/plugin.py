"""The tagging plugin: ``qandu_tag_conversation`` from annotations and rules.

Rules are compiled once; tagging a message is a few regular-expression searches and set
lookups, so it is cheap enough for every message of the post-store pipeline.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from qandu import hookimpl
from qandu.domain import Conversation, Message
from qandu.errors import QanduError
from qandu.teamwork import normalize_tag
from qandu_tagging.config import Rule, TaggingConfig


@attrs.frozen
class _Compiled:
    tag: str
    pattern: re.Pattern[str] | None
    regex: re.Pattern[str] | None
    intents: frozenset[str]
    entities: frozenset[str]
    senders: frozenset[str]

    @classmethod
    def of(cls, rule: Rule) -> _Compiled:
        pattern = None
        if rule.keywords:
            words = "|".join(re.escape(k.strip()) for k in sorted(rule.keywords, key=len, reverse=True))
            pattern = re.compile(rf"(?<!\w)(?:{words})(?!\w)", re.IGNORECASE)
        return cls(
            tag=normalize_tag(rule.tag),
            pattern=pattern,
            regex=re.compile(rule.regex, re.IGNORECASE) if rule.regex else None,
            intents=frozenset(rule.intents),
            entities=frozenset(e.upper() for e in rule.entities),
            senders=frozenset(rule.senders),
        )

    def matches(self, text: str, intent: str | None, entities: set[str]) -> bool:
        if self.pattern is not None and not self.pattern.search(text):
            return False
        if self.regex is not None and not self.regex.search(text):
            return False
        if self.intents and intent not in self.intents:
            return False
        return not (self.entities and not self.entities & entities)


def intent_of(annotations: dict[str, Any], min_confidence: float) -> str | None:
    """The annotated intent's name if it is confident enough (``{"name", "confidence"}`` or a name)."""
    intent = annotations.get("intent")
    if isinstance(intent, dict):
        confidence = intent.get("confidence", 1.0)
        name = intent.get("name")
        if isinstance(name, str) and isinstance(confidence, int | float) and confidence >= min_confidence:
            return name
        return None
    return intent if isinstance(intent, str) else None


def entity_labels(annotations: dict[str, Any]) -> set[str]:
    labels = set()
    for entity in annotations.get("entities") or ():
        label = entity.get("label") if isinstance(entity, dict) else None
        if isinstance(label, str):
            labels.add(label.upper())
    return labels


def sentiment_label(annotations: dict[str, Any]) -> str | None:
    sentiment = annotations.get("sentiment")
    label = sentiment.get("label") if isinstance(sentiment, dict) else None
    return label if isinstance(label, str) else None


def _normalized(tag: str) -> str | None:
    try:
        return normalize_tag(tag)
    except QanduError:  # an intent or entity name that is no tag
        return None


class Tagging:
    """Tags conversations from intents, entities, sentiment and keyword/regex/intent rules."""

    Config = TaggingConfig
    requires = ()

    def __init__(self, config: TaggingConfig) -> None:
        self.config = config
        self.rules = [_Compiled.of(rule) for rule in config.rules]
        self.ignore = frozenset(config.ignore_intents)

    def tags_for(self, message: Message, annotations: dict[str, Any]) -> list[str]:
        """The tags one message earns (customers' messages: annotations and rules; agents': rules)."""
        sender = message.sender.type
        config = self.config
        text = message.content.text or ""
        intent = intent_of(annotations, config.min_confidence)
        entities = entity_labels(annotations)
        tags = []
        if sender == "user":
            if config.intent_tags and intent is not None and intent not in self.ignore:
                tags.append(f"{config.intent_prefix}{intent}")
            if config.entity_tags:
                tags += [f"{config.entity_prefix}{label.lower()}" for label in sorted(entities)]
            label = sentiment_label(annotations)
            if label is not None and label in config.sentiment_labels:
                tags.append(f"sentiment:{label}")
        tags += [
            rule.tag for rule in self.rules if sender in rule.senders and rule.matches(text, intent, entities)
        ]
        return [normalized for tag in dict.fromkeys(tags) if (normalized := _normalized(tag))]

    @hookimpl
    async def qandu_tag_conversation(
        self, conversation: Conversation, message: Message, annotations: dict[str, Any]
    ) -> list[str] | None:
        tags = [tag for tag in self.tags_for(message, annotations) if tag not in conversation.tags]
        return tags or None
