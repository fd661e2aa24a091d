"""Settings of ``[plugins.tagging]``, validated before the server starts.

```toml
[plugins.tagging]
intent_tags = true                 # intent:order_status
ignore_intents = ["greeting", "goodbye", "thanks"]
entity_tags = false                # entity:order_number
sentiment_labels = ["negative"]    # sentiment:negative

[[plugins.tagging.rules]]
tag = "billing"
keywords = ["invoice", "Rechnung", "charged twice"]

[[plugins.tagging.rules]]
tag = "vip"
regex = "\\b(enterprise|premium) (plan|customer)\\b"

[[plugins.tagging.rules]]
tag = "urgent"
intents = ["complaint"]
senders = ["user"]
```
"""

from __future__ import annotations

import re
from typing import Any, Literal

import attrs
from attrs import validators as v

from qandu.errors import QanduError
from qandu.teamwork import normalize_tag

Sender = Literal["user", "agent"]


def _tag(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    try:
        normalize_tag(value)
    except QanduError as exc:
        raise ValueError(exc.message.removeprefix("tags: ")) from None


def _regex(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if value:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None


def _prefix(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if value:
        _tag(instance, attribute, value + "x")


@attrs.frozen
class Rule:
    """Tag a conversation when a message matches: any keyword, the regex, one of the intents or entities.

    Several matchers in one rule must all match (``keywords`` and ``intents``: a keyword *and*
    one of the intents).
    """

    tag: str = attrs.field(validator=_tag)
    keywords: list[str] = attrs.Factory(list)
    """Words or phrases, matched case-insensitively as whole words."""
    regex: str = attrs.field(default="", validator=_regex)
    """A Python regular expression, searched case-insensitively."""
    intents: list[str] = attrs.Factory(list)
    """Intent names from the NLU annotations."""
    entities: list[str] = attrs.Factory(list)
    """Entity labels from the NLU annotations (``ORDER_NUMBER``)."""
    senders: list[Sender] = attrs.Factory(lambda: ["user"])
    """Whose messages the rule looks at: ``user`` (customers), ``agent``."""

    @property
    def empty(self) -> bool:
        return not (self.keywords or self.regex or self.intents or self.entities)


def _rules(instance: Any, attribute: attrs.Attribute, value: list[Rule]) -> None:
    for index, rule in enumerate(value):
        if rule is not None and rule.empty:
            raise ValueError(f"[{index}] ({rule.tag!r}): give keywords, regex, intents or entities")


@attrs.frozen
class TaggingConfig:
    """Automatic tags: from the NLU's intent, entities and sentiment, and from rules."""

    intent_tags: bool = True
    """Tag ``<intent_prefix><intent>`` for each customer message's intent."""
    intent_prefix: str = attrs.field(default="intent:", validator=_prefix)
    min_confidence: float = attrs.field(default=0.6, validator=[v.ge(0), v.le(1)])
    """Intents less confident than this are not tags."""
    ignore_intents: list[str] = attrs.Factory(lambda: ["greeting", "goodbye", "thanks"])
    """Intents that say nothing about the topic."""
    entity_tags: bool = False
    """Tag ``<entity_prefix><label in lower case>`` for each entity found."""
    entity_prefix: str = attrs.field(default="entity:", validator=_prefix)
    sentiment_labels: list[Literal["negative", "neutral", "positive"]] = attrs.Factory(lambda: ["negative"])
    """Sentiment labels of customer messages that become ``sentiment:<label>`` tags."""
    rules: list[Rule] = attrs.field(factory=list, validator=_rules)
