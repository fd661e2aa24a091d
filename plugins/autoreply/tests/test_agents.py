"""A person takes over: the bot stays silent, the agent gets suggestions, then hands back."""

from __future__ import annotations

import pytest
import trio

from qandu.client import ApiError, ChatClient
from qandu.gateway import protocol as p
from qandu.testing import add_agent, running
from qandu_autoreply.testing import bot_says, meta, nlu

REFUND_QUESTION = "How long does a refund to PayPal take?"


async def agent_session(app, server, email: str):
    await add_agent(app, email, name=email.split("@")[0].title())
    return ChatClient.login(server.http_url, server.ws_url, email, "secret-pass")


async def test_human_owner_silences_the_bot_gets_suggestions_and_hands_back(tmp_path, autoreply_app):
    script = {REFUND_QUESTION: nlu("refund", 0.8, intents=[{"name": "refund", "confidence": 0.8}])}
    app = autoreply_app(tmp_path, script)
    async with running(app) as server, ChatClient.initialize(server.http_url) as customer:
        cid = customer.conversation_id
        async with await agent_session(app, server, "ada@example.com") as agent:
            with trio.fail_after(15):
                await bot_says(customer, "human")  # handed to the queue
                await agent.api.request("POST", f"/api/conversations/{cid}/join")
                await agent.gateway.request(p.Subscribe(conversation_id=cid, ref="s1"))

                sent = await customer.send_text(REFUND_QUESTION)
                frame = await agent.gateway.next_frame("suggestions")
                assert frame["conversationId"] == cid
                assert frame["messageId"] == sent["id"]
                pushed = frame["suggestions"]
                assert len(pushed) == 3  # the top three are pushed
                best_passage = next(s for s in pushed if s["source"] == "knowledge")
                assert best_passage["reference"] == "refunds#refund-times-by-payment-method"
                template = next(s for s in pushed if s["source"] == "template")
                assert template["reference"] == "intent:refund"
                assert "PayPal" in template["text"]  # the variant closest to the question
                scores = [s["score"] for s in pushed]
                assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)

                # the pipeline is done with the message: the bot said nothing
                page = await customer.history()
                assert page["messages"][-1]["id"] == sent["id"]

                answer = await agent.api.request(
                    "GET", f"/api/conversations/{cid}/suggestions", params={"limit": 2}
                )
                assert answer["messageId"] == sent["id"]
                assert [s["text"] for s in answer["suggestions"]] == [s["text"] for s in pushed[:2]]
                with pytest.raises(ApiError) as refused:
                    await customer.api.request("GET", f"/api/conversations/{cid}/suggestions")
                assert refused.value.status == 403

                handed = await agent.api.request("POST", f"/api/conversations/{cid}/handback")
                assert handed["conversation"]["assigneeId"] is None
                assert handed["conversation"]["status"] == "active"
                while True:
                    update = await customer.gateway.next_frame("conversation.updated")
                    if update["conversation"]["assigneeId"] is None:
                        break

                reply = await bot_says(customer, "Can I pay in monthly instalments?")  # the bot is back
                assert meta(reply)["source"] == "knowledge"


async def test_handback_rules(tmp_path, autoreply_app):
    app = autoreply_app(tmp_path)
    async with running(app) as server, ChatClient.initialize(server.http_url) as customer:
        cid = customer.conversation_id
        async with (
            await agent_session(app, server, "ada@example.com") as ada,
            await agent_session(app, server, "bob@example.com") as bob,
        ):
            with trio.fail_after(15):
                with pytest.raises(ApiError) as bot_owned:
                    await ada.api.request("POST", f"/api/conversations/{cid}/handback")
                assert bot_owned.value.status == 409

                await bot_says(customer, "human")
                while (await customer.gateway.next_frame("conversation.updated"))["conversation"][
                    "status"
                ] != "pending":
                    pass
                await ada.api.request("POST", f"/api/conversations/{cid}/join")
                with pytest.raises(ApiError) as not_owner:
                    await bob.api.request("POST", f"/api/conversations/{cid}/handback")
                assert not_owner.value.status == 403
                with pytest.raises(ApiError) as customer_refused:
                    await customer.api.request("POST", f"/api/conversations/{cid}/handback")
                assert customer_refused.value.status == 403

                await ada.api.request("POST", f"/api/conversations/{cid}/handback")
                conversation = await app.store.get_conversation(cid)
                assert (conversation.status, conversation.assignee_id) == ("active", None)
                page = await customer.history()
                notices = [m["content"]["text"] for m in page["messages"] if m["sender"]["type"] == "system"]
                assert "Ada handed the conversation back to Qanda" in notices


async def test_any_agent_hands_a_waiting_conversation_back(tmp_path, autoreply_app):
    app = autoreply_app(tmp_path)
    async with running(app) as server, ChatClient.initialize(server.http_url) as customer:
        cid = customer.conversation_id
        async with await agent_session(app, server, "bob@example.com") as bob:
            with trio.fail_after(15):
                await bot_says(customer, "human")
                while (await customer.gateway.next_frame("conversation.updated"))["conversation"][
                    "status"
                ] != "pending":
                    pass
                handed = await bob.api.request("POST", f"/api/conversations/{cid}/handback")
                assert handed["conversation"]["status"] == "active"
                history = await app.store.status_history(cid)
                assert (history[-1].to_status, history[-1].reason) == ("active", "handed back to the bot")
                reply = await bot_says(customer, "Which payment methods do you accept?")
                assert meta(reply)["references"] == ["payment-methods#accepted-payment-methods"]
