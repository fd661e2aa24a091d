"""End to end through the gateway: the bot answers, fills slots, runs actions and hands off."""

from __future__ import annotations

import tomllib

import trio

from qandu.client import ChatClient
from qandu.testing import DEMO_BOT, running
from qandu_autoreply.testing import bot_says, meta, nlu

RESPONSES = tomllib.loads((DEMO_BOT / "responses.toml").read_text(encoding="utf-8"))
BOT = tomllib.loads((DEMO_BOT / "bot.toml").read_text(encoding="utf-8"))


def variants(key: str, lang: str = "en", **slots: str) -> set[str]:
    node = RESPONSES
    for part in key.split("."):
        node = node[part]
    texts = node[lang] if isinstance(node[lang], list) else [node[lang]]
    return {text.format(**slots) for text in texts}


async def handoff_reason(app, customer: ChatClient) -> str | None:
    """Why the conversation last changed status (the status history is for staff only)."""
    history = await app.store.status_history(customer.conversation_id)
    return history[-1].reason


async def wait_for_status(customer: ChatClient, status: str) -> dict:
    while True:
        frame = await customer.gateway.next_frame("conversation.updated")
        if frame["conversation"]["status"] == status:
            return frame["conversation"]


async def test_knowledge_question_answered_from_the_right_passage(tmp_path, autoreply_app):
    app = autoreply_app(tmp_path)  # no NLU at all: retrieval still answers
    async with running(app) as server, ChatClient.initialize(server.http_url) as customer:
        with trio.fail_after(10):
            reply = await bot_says(customer, "Can I pay in monthly instalments?")
    passage = (DEMO_BOT / "knowledge" / "payment-methods.md").read_text().split("## Klarna")[1]
    assert reply["content"]["text"] in passage
    assert meta(reply)["source"] == "knowledge"
    assert meta(reply)["references"] == ["payment-methods#klarna-pay-now-pay-later-instalments"]
    assert 0.5 <= meta(reply)["confidence"] <= 1


async def test_order_status_over_several_turns_asks_for_each_missing_slot(tmp_path, autoreply_app):
    script = {
        "Where is my order?": nlu("order_status"),
        "It's NL-48213": nlu("order_status", 0.5, entities={"ORDER_NUMBER": "NL-48213"}),
        "jana.weber@example.com": nlu(None, entities={"EMAIL": "jana.weber@example.com"}),
    }
    app = autoreply_app(tmp_path, script)
    async with running(app) as server, ChatClient.initialize(server.http_url) as customer:
        with trio.fail_after(10):
            ask_number = await bot_says(customer, "Where is my order?")
            ask_email = await bot_says(customer, "It's NL-48213")
            found = await bot_says(customer, "jana.weber@example.com")
    assert ask_number["content"]["text"] in variants("order_status.missing_slot")
    assert meta(ask_number)["state"]["pending"]["arg"] == "order_number"
    assert ask_email["content"]["text"] in variants("order_status.verify_email", order_number="NL-48213")
    assert "00340434161094213870" in found["content"]["text"]  # the tracking number, after verification
    assert "2026-12-02" in found["content"]["text"]
    action = meta(found)["action"]
    assert action["name"] == "order_status"
    assert action["data"] == {
        "found": True,
        "status": "shipped",
        "carrier": "DHL",
        "tracking": "00340434161094213870",
        "eta": "2026-12-02",
    }


async def test_context_fills_the_slots_an_intent_needs(tmp_path, autoreply_app):
    """The order number comes from the NLU's conversation context, the e-mail address from the
    chat's start; a slot given in an earlier message is remembered."""
    script = {
        "where is it?": nlu("order_status", context={"order_number": "NL-50022"}),
        "I ordered NL-49310 last week": nlu("order_status", 0.3, entities={"ORDER_NUMBER": "NL-49310"}),
        "has it arrived?": nlu("order_status"),
    }
    app = autoreply_app(tmp_path, script)
    async with running(app) as server:
        async with ChatClient.initialize(server.http_url, email="anna.krause@example.de") as customer:
            with trio.fail_after(10):
                found = await bot_says(customer, "where is it?")
        assert "out for delivery" in found["content"]["text"]
        assert meta(found)["action"]["data"]["status"] == "out_for_delivery"
        async with ChatClient.initialize(server.http_url) as customer:
            with trio.fail_after(10):
                await bot_says(customer, "I ordered NL-49310 last week")  # low confidence: not acted on
                ask = await bot_says(customer, "has it arrived?")
        assert ask["content"]["text"] in variants("order_status.verify_email", order_number="NL-49310")


async def test_wrong_email_is_refused_and_repeated_failures_hand_off(tmp_path, autoreply_app):
    app = autoreply_app(tmp_path, max_asks=2)  # no NLU: order numbers and e-mails found by pattern
    async with running(app) as server, ChatClient.initialize(server.http_url) as customer:
        with trio.fail_after(10):
            ask = await bot_says(customer, "/order NL-48213")
            wrong = await bot_says(customer, "it is someone@example.com")
            assert "DHL" not in wrong["content"]["text"]
            assert wrong["content"]["text"] in variants("order_status.not_verified", order_number="NL-48213")
            again = await bot_says(customer, "maybe other@example.com")
            await wait_for_status(customer, "pending")
            reason = await handoff_reason(app, customer)
    assert ask["content"]["text"] in variants("order_status.verify_email", order_number="NL-48213")
    assert again["content"]["text"] in variants("order_status.not_verified", order_number="NL-48213")
    assert reason == "action order_status: no valid email"


async def test_actions_by_slash_command_return_data(tmp_path, autoreply_app):
    app = autoreply_app(tmp_path)
    async with running(app) as server, ChatClient.initialize(server.http_url) as customer:
        with trio.fail_after(10):
            eligible = await bot_says(customer, "/return NL-49310 l.meyer@example.org")
            closed = await bot_says(customer, "/return l.meyer@example.org NL-47302")
            help_ = await bot_says(customer, "/help")
            unknown = await bot_says(customer, "/frobnicate")
    assert "2026-12-24" in eligible["content"]["text"]  # delivered 2026-11-24 + 30 days
    assert meta(eligible)["action"]["data"]["eligible"] is True
    assert meta(eligible)["action"]["data"]["returnUntil"] == "2026-12-24"
    # another customer's order: the e-mail address does not match, nothing is shown
    assert closed["content"]["text"] in variants("order_status.not_verified", order_number="NL-47302")
    assert "/order <order_number> [email]" in help_["content"]["text"]
    assert "/return" in help_["content"]["text"]
    assert unknown["content"]["text"].startswith("I don't know the command /frobnicate.")


async def test_low_confidence_asks_to_rephrase_then_hands_off(tmp_path, autoreply_app):
    app = autoreply_app(tmp_path, {}, rephrase_attempts=1)
    async with running(app) as server, ChatClient.initialize(server.http_url) as customer:
        with trio.fail_after(10):
            rephrase = await bot_says(customer, "fnord wibble")
            handoff = await bot_says(customer, "zorp quux")
            conversation = await wait_for_status(customer, "pending")
        reason = await handoff_reason(app, customer)
    assert rephrase["content"]["text"] in variants("fallback")
    assert handoff["content"]["text"] == BOT["handoff"]["en"]
    assert conversation["assigneeId"] is None
    assert reason == "low confidence"


async def test_human_handoff_intent_and_keyword_hand_off(tmp_path, autoreply_app):
    script = {"I want to talk to a real person please": nlu("human_handoff", 0.9)}
    app = autoreply_app(tmp_path, script)
    async with running(app) as server:
        async with ChatClient.initialize(server.http_url) as customer:
            with trio.fail_after(10):
                handoff = await bot_says(customer, "I want to talk to a real person please")
                await wait_for_status(customer, "pending")
            reason = await handoff_reason(app, customer)
        assert handoff["content"]["text"] == BOT["handoff"]["en"]  # only the handoff notice
        assert reason == "intent human_handoff"
        async with ChatClient.initialize(server.http_url, locale="de-AT") as customer:
            with trio.fail_after(10):
                handoff = await bot_says(customer, "Mensch!")  # not scripted: works without NLU
                await wait_for_status(customer, "pending")
        assert handoff["content"]["text"] == BOT["handoff"]["de"]


async def test_angry_customer_is_handed_to_the_human_queue(tmp_path, autoreply_app):
    angry = "This is the third time I'm asking where my refund is!!! Unacceptable"
    calm = "Where is my refund? It has been a while"
    script = {
        angry: nlu("refund", sentiment={"score": -0.83, "label": "negative"}),
        calm: nlu("refund", sentiment={"score": -0.2, "label": "negative"}),
    }
    app = autoreply_app(tmp_path, script, negative_sentiment=-0.6)
    async with running(app) as server:
        async with ChatClient.initialize(server.http_url) as customer:
            with trio.fail_after(10):
                answer = await bot_says(customer, calm)  # mildly negative: still answered
        assert answer["content"]["text"] != BOT["handoff"]["en"]
        async with ChatClient.initialize(server.http_url) as customer:
            with trio.fail_after(10):
                handoff = await bot_says(customer, angry)
                await wait_for_status(customer, "pending")
            reason = await handoff_reason(app, customer)
    assert handoff["content"]["text"] == BOT["handoff"]["en"]
    assert reason == "negative sentiment (-0.83)"


async def test_german_customer_is_answered_in_german(tmp_path, autoreply_app):
    script = {"Kann ich einen Artikel umtauschen?": nlu("return_item", 0.4, language="de")}
    app = autoreply_app(tmp_path, script)
    german = (DEMO_BOT / "knowledge" / "shipping.de.md").read_text()
    async with running(app) as server:
        async with ChatClient.initialize(server.http_url, locale="de-DE") as customer:
            with trio.fail_after(10):
                shipping = await bot_says(customer, "Was kostet der Versand nach Österreich?")  # no NLU
                hello = await bot_says(customer, "asdf qwer")
        assert shipping["content"]["text"] in german
        assert "6,95 €" in shipping["content"]["text"]
        assert meta(shipping)["language"] == "de"
        assert hello["content"]["text"] in variants("fallback", "de")
        async with ChatClient.initialize(server.http_url) as customer:  # English locale, German text
            with trio.fail_after(10):
                exchange = await bot_says(customer, "Kann ich einen Artikel umtauschen?")
        assert meta(exchange)["references"] == ["returns.de#umtausch"]
        assert "Umtausch" in exchange["content"]["text"] or "umtauschen" in exchange["content"]["text"]


async def test_small_talk_and_intent_templates(tmp_path, autoreply_app):
    script = {
        "hey": nlu("greeting"),
        "thank you so much": nlu("thanks"),
        "my invoice is wrong somehow": nlu("billing", 0.8),
    }
    app = autoreply_app(tmp_path, script)
    async with running(app) as server, ChatClient.initialize(server.http_url, name="Ada") as customer:
        with trio.fail_after(10):
            hello = await bot_says(customer, "hey")
            thanks = await bot_says(customer, "thank you so much")
    assert hello["content"]["text"] in variants("greeting") | variants("greeting.known_user", name="Ada")
    assert thanks["content"]["text"] in variants("thanks")
    assert meta(thanks)["reference"] == "intent:thanks"


async def test_third_party_action_plugin(tmp_path, autoreply_app):
    from qandu import Action, ActionArg, ActionResult, hookimpl

    class Loyalty:
        @hookimpl
        def qandu_register_actions(self, bot):
            arg = ActionArg("member", "Your member number", pattern=r"M\d{4}")
            return [Action("loyalty_points", "Show loyalty points", command="points", args=(arg,))]

        @hookimpl
        async def qandu_run_action(self, action, args, language):
            if action.name != "loyalty_points":
                return None
            return ActionResult(
                text=f"Member {args['member']}: 120 points ({language})", data={"points": 120}
            )

    app = autoreply_app(tmp_path)
    app.pm.add(Loyalty(), "loyalty")
    async with running(app) as server, ChatClient.initialize(server.http_url) as customer:
        with trio.fail_after(10):
            ask = await bot_says(customer, "/points")
            reply = await bot_says(customer, "sure, M1234")
    assert ask["content"]["text"] == "Your member number?"
    assert reply["content"]["text"] == "Member M1234: 120 points (en)"
    assert meta(reply)["action"] == {"name": "loyalty_points", "data": {"points": 120}}


async def test_asking_for_a_person_without_nlu_hands_off_but_nlu_intents_decide_otherwise(
    tmp_path, autoreply_app
):
    pickup = "Can I pick up my order in person?"
    app = autoreply_app(tmp_path, {pickup: nlu("shipping_info", 0.9)})
    async with running(app) as server:
        async with ChatClient.initialize(server.http_url) as customer:
            with trio.fail_after(10):
                handoff = await bot_says(customer, "I want to talk to a human please")  # no NLU
                await wait_for_status(customer, "pending")
        assert handoff["content"]["text"] == BOT["handoff"]["en"]
        async with ChatClient.initialize(server.http_url) as customer:
            with trio.fail_after(10):
                answer = await bot_says(customer, pickup)  # the NLU knows this is about shipping
        assert answer["content"]["text"] != BOT["handoff"]["en"]
        assert meta(answer)["source"] in ("knowledge", "template")
        assert (await app.store.get_conversation(customer.conversation_id)).status == "active"


async def test_small_talk_needs_less_confidence_than_other_intents(tmp_path, autoreply_app):
    script = {"hi": nlu("greeting", 0.29), "my invoice": nlu("billing", 0.29)}
    app = autoreply_app(tmp_path, script)
    async with running(app) as server, ChatClient.initialize(server.http_url) as customer:
        with trio.fail_after(10):
            hello = await bot_says(customer, "hi")
            unsure = await bot_says(customer, "my invoice")
    assert hello["content"]["text"] in variants("greeting")
    assert meta(unsure)["source"] != "template"  # billing at 0.29 is not trusted


async def test_cancel_order_asks_for_each_slot_then_confirmation_then_cancels(tmp_path, autoreply_app):
    script = {
        "I want to cancel my order": nlu("cancel_order"),
        "it's NL-52190": nlu("cancel_order", 0.5, entities={"ORDER_NUMBER": "NL-52190"}),
        "kai.wolff@example.com": nlu(None, entities={"EMAIL": "kai.wolff@example.com"}),
        "yes please": nlu("thanks", 0.3),
    }
    app = autoreply_app(tmp_path, script)
    async with running(app) as server, ChatClient.initialize(server.http_url) as customer:
        with trio.fail_after(10):
            ask_number = await bot_says(customer, "I want to cancel my order")
            ask_email = await bot_says(customer, "it's NL-52190")
            confirm = await bot_says(customer, "kai.wolff@example.com")
            done = await bot_says(customer, "yes please")
            status = await bot_says(customer, "/order NL-52190 kai.wolff@example.com")
    assert ask_number["content"]["text"] in variants("cancel_order.missing_slot")
    assert ask_email["content"]["text"] in variants("cancel_order.verify_email", order_number="NL-52190")
    assert confirm["content"]["text"] in variants(
        "cancel_order.confirm",
        order_number="NL-52190",
        items="Bluetooth speaker Fjord, black",
        total="59.90 EUR",
    )
    assert meta(confirm)["state"]["pending"] == {
        "action": "cancel_order",
        "arg": "confirm",
        "args": {"order_number": "NL-52190", "email": "kai.wolff@example.com"},
        "asks": 1,
    }
    assert done["content"]["text"] in variants("cancel_order.cancelled", order_number="NL-52190")
    assert meta(done)["action"]["data"] == {"found": True, "status": "cancelled", "cancelled": True}
    assert "confirm" not in meta(done)["state"]["slots"]  # an answer is never remembered as a slot
    assert meta(status)["action"]["data"]["status"] == "cancelled"


async def test_cancel_order_in_german_kept_when_the_customer_says_no(tmp_path, autoreply_app):
    app = autoreply_app(tmp_path)  # no NLU: the slash command and patterns
    async with running(app) as server, ChatClient.initialize(server.http_url, locale="de-DE") as customer:
        with trio.fail_after(10):
            confirm = await bot_says(customer, "/cancel NL-51734 tom.becker@example.com")
            kept = await bot_says(customer, "Nein, doch nicht")
            again = await bot_says(customer, "/cancel NL-51734 tom.becker@example.com")
    assert confirm["content"]["text"] in variants(
        "cancel_order.confirm",
        "de",
        order_number="NL-51734",
        items="Heißluftfritteuse XL 5,5 l",
        total="119,00 €",
    )
    assert kept["content"]["text"] in variants("cancel_order.kept", "de", order_number="NL-51734")
    assert meta(kept)["action"]["data"]["status"] == "processing"
    assert again["content"]["text"] == confirm["content"]["text"]  # still there, still cancellable


async def test_an_order_is_only_cancelled_while_its_status_allows_it(tmp_path, autoreply_app):
    app = autoreply_app(tmp_path)
    async with running(app) as server:
        async with ChatClient.initialize(server.http_url) as customer:
            with trio.fail_after(10):
                shipped = await bot_says(customer, "/cancel NL-48213 jana.weber@example.com")
                cancelled = await bot_says(customer, "/cancel NL-49001 eva.lindqvist@example.se")
                unknown = await bot_says(customer, "/cancel NL-11111")
        assert shipped["content"]["text"].startswith("Order NL-48213 can't be cancelled any more: ")
        assert "00340434161094213870" in shipped["content"]["text"]  # the status text: shipped with DHL
        assert meta(shipped)["action"]["data"] == {"found": True, "status": "shipped", "cancelled": False}
        assert "pending" not in meta(shipped)["state"]  # nothing to confirm
        assert cancelled["content"]["text"] in variants(
            "cancel_order.already_cancelled", order_number="NL-49001"
        )
        assert unknown["content"]["text"] in variants("cancel_order.not_found", order_number="NL-11111")
        assert meta(unknown)["state"]["pending"]["arg"] == "order_number"  # asks again
        async with ChatClient.initialize(server.http_url) as customer:
            with trio.fail_after(10):
                partly = await bot_says(customer, "/cancel NL-50344 r.hartmann@example.de")
                await wait_for_status(customer, "pending")
            reason = await handoff_reason(app, customer)
        assert partly["content"]["text"] in variants(
            "cancel_order.partially_shipped", order_number="NL-50344"
        )
        assert reason == "action cancel_order"


async def test_a_yes_only_confirms_the_question_it_answers(tmp_path, autoreply_app):
    app = autoreply_app(tmp_path)  # without NLU every pattern is tried on every message
    async with running(app) as server, ChatClient.initialize(server.http_url) as customer:
        with trio.fail_after(10):
            await bot_says(customer, "yes, I have a question about shipping to Austria")
            confirm = await bot_says(customer, "/cancel NL-52190 kai.wolff@example.com yes")
            moved_on = await bot_says(customer, "How much is shipping within Germany?")
            asked_again = await bot_says(customer, "/cancel NL-52190 kai.wolff@example.com")
    assert meta(confirm)["state"]["pending"]["arg"] == "confirm"  # neither the earlier yes nor a word
    assert meta(moved_on)["source"] == "knowledge" and "pending" not in meta(moved_on)["state"]
    assert meta(asked_again)["state"]["pending"]["arg"] == "confirm"
    assert meta(asked_again)["action"]["data"]["status"] == "received"


async def test_the_intent_decides_which_article_answers_an_ambiguous_question(tmp_path, autoreply_app):
    app = autoreply_app(tmp_path, {"Is it free?": nlu("return_item", 0.9)})
    async with running(app) as server, ChatClient.initialize(server.http_url) as customer:
        with trio.fail_after(10):
            returns = await bot_says(customer, "Is it free?")
    assert meta(returns)["source"] == "knowledge"
    assert meta(returns)["references"] == ["returns#30-day-return-policy"]
    app = autoreply_app(tmp_path / "other", {"Is it free?": nlu("shipping_info", 0.9)})
    async with running(app) as server, ChatClient.initialize(server.http_url) as customer:
        with trio.fail_after(10):
            shipping = await bot_says(customer, "Is it free?")
    assert meta(shipping)["references"] == ["shipping#free-shipping-threshold"]
