"""End to end with every installed plugin, the real NLU included (skipped if it is not installed)."""

from __future__ import annotations

import pytest
import trio

from qandu.app import App
from qandu.client import ChatClient
from qandu.plugins import PluginManager
from qandu.testing import DEMO_BOT, make_config, running
from qandu_autoreply.knowledge import load_passages
from qandu_autoreply.responses import Responses
from qandu_autoreply.testing import bot_says, meta

pytest.importorskip("qandu_nlu")

HANDOFF_EN = "I'm handing you over to a member of our team. Someone will be with you shortly."


@pytest.fixture(scope="module")
def nlu_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("nlu-models")  # trained by the first test, loaded by the next


@pytest.fixture
def app(tmp_path, nlu_cache):
    """Every installed plugin, as ``qandu serve`` loads them; messages wait for the NLU's models."""
    tables = {
        "nlu": {"cache_dir": str(nlu_cache), "model_wait": 60.0},
        "autoreply": {"orders_today": "2026-12-01"},
    }
    config = make_config(tmp_path, plugins=tables)
    pm = PluginManager(hook_timeout=120.0)
    pm.load_installed(config.plugins)
    return App.create(config, pm=pm)


async def test_demo_bot_answers_a_knowledge_question_and_hands_off_an_angry_customer(app):
    async with running(app) as server:
        with trio.fail_after(90):
            await app.pm.get_plugin("nlu").wait_trained()  # the models, cached for the next test
        async with ChatClient.initialize(server.http_url) as customer:
            with trio.fail_after(90):
                answer = await bot_says(customer, "Which payment methods do you accept?")
        assert meta(answer)["references"] == ["payment-methods#accepted-payment-methods"]
        assert "PayPal" in answer["content"]["text"]

        async with ChatClient.initialize(server.http_url) as customer:
            with trio.fail_after(90):
                handoff = await bot_says(
                    customer, "This is absolutely terrible!!! Worst service ever, I am furious and disgusted."
                )
                while (await customer.gateway.next_frame("conversation.updated"))["conversation"][
                    "status"
                ] != "pending":
                    pass
        assert handoff["content"]["text"] == HANDOFF_EN
        history = await app.store.status_history(customer.conversation_id)
        assert history[-1].reason.startswith(("negative sentiment", "intent complaint"))


async def test_nlu_language_entities_and_intent_drive_the_reply(app):
    german_texts = {p.text for p in load_passages(DEMO_BOT / "knowledge", "en")["de"]}
    german_texts |= set(Responses.load(DEMO_BOT / "responses.toml", "en").variants("payment_methods", "de"))
    async with running(app) as server, ChatClient.initialize(server.http_url) as customer:
        with trio.fail_after(90):
            await app.pm.get_plugin("nlu").wait_trained()  # intents need the trained models
            german = await bot_says(customer, "Kann ich bei euch in Raten zahlen?")  # English locale
            ask = await bot_says(customer, "Where is my order NL-48213?")
            found = await bot_says(customer, "jana.weber@example.com")
    assert meta(german)["language"] == "de"
    assert german["content"]["text"] in german_texts
    assert meta(ask)["language"] == "en"
    assert meta(ask)["state"]["pending"] == {
        "action": "order_status",
        "arg": "email",
        "args": {"order_number": "NL-48213"},
        "asks": 1,
    }
    assert meta(found)["action"]["data"]["tracking"] == "00340434161094213870"


async def test_cancelling_an_order_is_a_dialogue_in_the_customers_language(app):
    async with running(app) as server:
        with trio.fail_after(90):
            await app.pm.get_plugin("nlu").wait_trained()  # intents need the trained models
        async with ChatClient.initialize(server.http_url) as customer:
            with trio.fail_after(30):
                ask = await bot_says(customer, "Hi, I'd like to cancel my order please")
                verify = await bot_says(customer, "NL-51734")
                confirm = await bot_says(customer, "tom.becker@example.com")
                done = await bot_says(customer, "yes, go ahead")
        assert meta(ask)["intent"]["name"] == "cancel_order"
        assert meta(ask)["state"]["pending"]["arg"] == "order_number"
        assert meta(verify)["state"]["pending"]["arg"] == "email"
        assert meta(confirm)["state"]["pending"] == {
            "action": "cancel_order",
            "arg": "confirm",
            "args": {"order_number": "NL-51734", "email": "tom.becker@example.com"},
            "asks": 1,
        }
        assert "Air fryer XL 5.5 l" in confirm["content"]["text"]
        assert meta(done)["action"] == {
            "name": "cancel_order",
            "data": {"found": True, "status": "cancelled", "cancelled": True},
        }
        async with ChatClient.initialize(server.http_url, locale="de-DE") as customer:
            with trio.fail_after(30):
                ask = await bot_says(customer, "Ich möchte meine Bestellung stornieren")
                verify = await bot_says(customer, "Die Nummer ist 52190")  # bare: it answers the question
                confirm = await bot_says(customer, "kai.wolff@example.com")
                kept = await bot_says(customer, "Nein, lieber nicht")
        assert meta(ask)["language"] == "de" and meta(ask)["intent"]["name"] == "cancel_order"
        assert meta(verify)["state"]["pending"]["args"] == {"order_number": "NL-52190"}
        assert (
            "Bluetooth-Lautsprecher Fjord" in confirm["content"]["text"]
            and "59,90 €" in confirm["content"]["text"]
        )
        assert meta(kept)["language"] == "de" and meta(kept)["action"]["data"]["status"] == "received"
        assert "storniere nichts" in kept["content"]["text"]
