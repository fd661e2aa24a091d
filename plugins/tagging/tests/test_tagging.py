"""The tagging plugin: tags from intents, entities, sentiment and rules; config errors name the key."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import trio

from qandu import hookimpl
from qandu.client import ChatClient
from qandu.domain import Content, Message, Sender
from qandu.plugins import build_config
from qandu.testing import add_agent, make_app, running
from qandu_tagging import Tagging, TaggingConfig

TIMEOUT = 20


def _config(**table: Any) -> TaggingConfig:
    errors: list[str] = []
    config = build_config(Tagging, table, "plugins.tagging", errors)
    assert errors == []
    return config


def _message(text: str, sender: str = "user") -> Message:
    return Message(
        id="m1",
        conversation_id="c1",
        seq=1,
        sender=Sender(id="u1", type=sender, name="Ann"),  # type: ignore[arg-type]
        content=Content(text=text),
        timestamp=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    )


def _nlu(intent: str | None = None, confidence: float = 0.9, labels=(), sentiment: str | None = None):
    annotations: dict[str, Any] = {"entities": [{"label": label, "text": "x"} for label in labels]}
    if intent:
        annotations["intent"] = {"name": intent, "confidence": confidence}
    if sentiment:
        annotations["sentiment"] = {"score": -0.7 if sentiment == "negative" else 0.0, "label": sentiment}
    return annotations


RULES = [
    {"tag": "Billing", "keywords": ["invoice", "Rechnung", "charged twice"]},
    {"tag": "vip", "regex": r"\b(enterprise|premium) (plan|customer)\b"},
    {"tag": "urgent", "intents": ["complaint"], "keywords": ["lawyer"]},
    {"tag": "order-help", "entities": ["order_number"], "senders": ["user", "agent"]},
]


def test_tags_from_annotations_and_rules():
    tagging = Tagging(_config(rules=RULES, entity_tags=True))
    tags = tagging.tags_for
    assert tags(_message("Where is my order?"), _nlu("order_status", labels=["ORDER_NUMBER"])) == [
        "intent:order_status",
        "entity:order_number",
        "order-help",
    ]
    assert tags(_message("hello"), _nlu("greeting")) == []  # ignored intent
    assert tags(_message("hm"), _nlu("refund", confidence=0.3)) == []  # not confident enough
    assert tags(_message("I was CHARGED TWICE on my invoice"), {}) == ["billing"]
    assert tags(_message("invoices"), {}) == []  # whole words only
    assert tags(_message("Die Rechnung stimmt nicht"), {}) == ["billing"]
    assert tags(_message("We're on the Premium plan"), {}) == ["vip"]
    assert tags(_message("my lawyer will call"), _nlu("complaint")) == ["intent:complaint", "urgent"]
    assert tags(_message("my lawyer will call"), _nlu("refund")) == ["intent:refund"]  # both must match
    assert tags(_message("this is awful"), _nlu(sentiment="negative")) == ["sentiment:negative"]
    assert tags(_message("fine"), _nlu(sentiment="neutral")) == []
    # agents' messages only go through the rules that list them
    assert tags(_message("your invoice", "agent"), _nlu("refund", labels=["ORDER_NUMBER"])) == ["order-help"]


@pytest.mark.parametrize(
    ("table", "error"),
    [
        (
            {"rules": [{"tag": "x"}]},
            "plugins.tagging.rules: [0] ('x'): give keywords, regex, intents or entities",
        ),
        (
            {"rules": [{"tag": "x", "regex": "(unclosed"}]},
            "plugins.tagging.rules[0].regex: not a valid regular",
        ),
        (
            {"rules": [{"tag": "no way!", "keywords": ["a"]}]},
            "plugins.tagging.rules[0].tag: 'no way!' is not a tag",
        ),
        (
            {"rules": [{"tag": "x", "keywords": ["a"], "senders": ["bot"]}]},
            "plugins.tagging.rules[0].senders[0]:",
        ),
        ({"min_confidence": 2}, "plugins.tagging.min_confidence: must be <= 1"),
        ({"intent_tag": True}, "plugins.tagging.intent_tag: unknown key"),
        ({"sentiment_labels": ["angry"]}, "plugins.tagging.sentiment_labels[0]: expected one of"),
    ],
)
def test_bad_settings_name_the_key(table, error):
    errors: list[str] = []
    build_config(Tagging, table, "plugins.tagging", errors)
    assert any(e.startswith(error) for e in errors), errors


class FakeNlu:
    @hookimpl
    async def qandu_analyze_message(self, message):
        text = message.content.text or ""
        if "refund" in text:
            return _nlu("refund", sentiment="negative" if "angry" in text else "neutral")
        return _nlu("greeting")


async def test_conversations_get_tags_while_customers_write(tmp_path):
    tagging = Tagging(_config(rules=RULES))
    app = make_app(tmp_path, plugins={"nlu": FakeNlu(), "tagging": tagging})
    with trio.fail_after(TIMEOUT):
        async with running(app) as server:
            await add_agent(app, "boss@example.com", "secret-pass", name="Boss", role="admin")
            async with (
                ChatClient.initialize(server.http_url) as ann,
                ChatClient.login(server.http_url, server.ws_url, "boss@example.com", "secret-pass") as boss,
            ):
                await ann.send_text("hi there")
                await ann.send_text("I am angry, I want a refund for this invoice")
                cid = ann.conversation_id
                with trio.fail_after(5):
                    while True:
                        frame = await boss.gateway.next_frame("conversation.updated")
                        if frame["conversation"]["id"] == cid and frame["conversation"]["tags"]:
                            break
                assert frame["conversation"]["tags"] == ["intent:refund", "sentiment:negative", "billing"]
                found = await boss.api.request(
                    "GET", "/api/review/conversations", params={"intent": "refund", "sentiment": "negative"}
                )
                assert [c["id"] for c in found["conversations"]] == [cid]
