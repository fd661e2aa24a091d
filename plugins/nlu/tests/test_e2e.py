"""The NLU inside a real server: annotations stored, sent to staff only, slots across turns."""

from __future__ import annotations

import time

import trio

from qandu import hookimpl
from qandu.client import ChatClient, collect
from qandu.gateway import protocol as p
from qandu.testing import add_agent, make_app, running
from qandu_nlu import Nlu


async def annotated(agent: ChatClient, message_id: str) -> dict:
    while True:
        frame = await agent.gateway.next_frame("message.annotated")
        if frame["messageId"] == message_id:
            return frame


async def test_slots_fill_across_turns_and_only_staff_see_annotations(tmp_path, nlu_config):
    nlu = Nlu(nlu_config)
    app = make_app(tmp_path, plugins={"nlu": nlu})
    async with running(app) as server:
        with trio.fail_after(60):
            await nlu.wait_ready("support")
            await add_agent(app, "ann@example.com", name="Ann")
            async with (
                ChatClient.initialize(server.http_url, name="Cleo", locale="en-GB") as customer,
                ChatClient.login(server.http_url, server.ws_url, "ann@example.com", "secret-pass") as agent,
            ):
                conversation_id = customer.conversation_id
                await agent.gateway.request(p.Subscribe(conversation_id=conversation_id, ref="s1"))

                first = await customer.send_text("where is my order?")
                one = (await annotated(agent, first["id"]))["annotations"]
                assert one["intent"]["name"] == "order_status"
                assert one["language"] == "en" and one["sentiment"]["label"] == "neutral"
                assert one["intents"][0]["name"] == "order_status" and len(one["intents"]) == 3

                second = await customer.send_text("it's 48213")
                frame = await annotated(agent, second["id"])
                assert (frame["conversationId"], frame["seq"]) == (conversation_id, second["seq"])
                two = frame["annotations"]
                assert two["intent"] == {**one["intent"], "carried": True}
                assert two["entities"] == [
                    {"label": "ORDER_NUMBER", "text": "48213", "start": 5, "end": 10, "value": "NL-48213"}
                ]
                assert two["context"] == {"order_number": "NL-48213"}

                third = await customer.send_text("my email is Cleo@Example.com")
                three = (await annotated(agent, third["id"]))["annotations"]
                assert three["context"] == {"order_number": "NL-48213", "email": "cleo@example.com"}
                assert three["intent"]["name"] == "order_status"

                conversation = await app.store.get_conversation(conversation_id)
                remembered = conversation.context["nlu"]
                assert remembered["slots"] == three["context"] and remembered["language"] == "en"
                assert remembered["intent"]["name"] == "order_status"
                assert conversation.context["locale"] == "en-GB"  # other keys are kept

                # stored: staff history carries them; the customer's never does
                staff = {m["id"]: m for m in (await agent.history(conversation_id))["messages"]}
                assert staff[second["id"]]["annotations"] == two
                assert "annotations" not in staff[customer.init["greeting"]["id"]]  # bot messages: none
                mine = (await customer.history())["messages"]
                assert mine and all("annotations" not in m for m in mine)
                frames = await collect(customer.gateway, 0.5)
                assert not [f for f in frames if f["type"] == "message.annotated"]


async def test_german_conversation_and_short_answers_keep_the_language(tmp_path, nlu_config):
    nlu = Nlu(nlu_config)
    app = make_app(tmp_path, plugins={"nlu": nlu})
    async with running(app) as server:
        with trio.fail_after(60):
            await nlu.wait_ready("support")
            async with ChatClient.initialize(server.http_url, name="Jo", locale="de-AT") as customer:
                cid = customer.conversation_id
                first = await customer.send_text("Ich möchte den Toaster zurücksenden, wie geht das?")
                second = await customer.send_text("NL-50344")
                for message in (first, second):
                    while await app.store.get_annotations(message["id"]) is None:
                        await trio.sleep(0.02)
                one = await app.store.get_annotations(first["id"])
                two = await app.store.get_annotations(second["id"])
                assert one["language"] == "de" and one["intent"]["name"] == "return_item"
                assert {
                    "label": "PRODUCT",
                    "text": "Toaster",
                    "start": 15,
                    "end": 22,
                    "value": "toaster",
                } in one["entities"]
                assert two["language"] == "de"  # "NL-50344" alone says nothing: the conversation's language
                assert two["intent"]["name"] == "return_item" and two["intent"]["carried"] is True
                assert two["context"] == {"product": "toaster", "order_number": "NL-50344"}
                assert (await app.store.get_conversation(cid)).context["nlu"]["language"] == "de"


class SlowAnalyser:
    """An analyser that takes its time, to show that delivery never waits for analysis."""

    @hookimpl
    async def qandu_analyze_message(self, message, conversation):
        if message.sender.type == "user":
            await trio.sleep(1.0)
        return {"slow": True}


async def test_analysis_never_delays_delivery_to_agents(tmp_path, nlu_config):
    nlu = Nlu(nlu_config)
    app = make_app(tmp_path, plugins={"nlu": nlu, "slow": SlowAnalyser()})
    async with running(app) as server:
        with trio.fail_after(60):
            await nlu.wait_ready("support")
            await add_agent(app, "ann@example.com", name="Ann")
            async with (
                ChatClient.initialize(server.http_url, name="Cleo") as customer,
                ChatClient.login(server.http_url, server.ws_url, "ann@example.com", "secret-pass") as agent,
            ):
                await agent.gateway.request(p.Subscribe(conversation_id=customer.conversation_id, ref="s1"))
                started = time.monotonic()
                sent = await customer.send_text("My kettle arrived broken, this is terrible")
                live = await agent.gateway.next_frame("message.new")
                delivered = time.monotonic() - started
                assert live["message"]["id"] == sent["id"] and "annotations" not in live["message"]
                frame = await annotated(agent, sent["id"])
                analysed = time.monotonic() - started
                assert delivered < 0.8 <= analysed  # delivered before the (slow) analysis ended
                assert frame["annotations"]["slow"] is True  # every analyser's results, merged
                assert frame["annotations"]["intent"]["name"] == "complaint"
                assert frame["annotations"]["sentiment"]["label"] == "negative"


async def test_agent_messages_are_not_analysed(tmp_path, nlu_config):
    nlu = Nlu(nlu_config)
    app = make_app(tmp_path, plugins={"nlu": nlu})
    async with running(app) as server:
        with trio.fail_after(60):
            await nlu.wait_ready("support")
            await add_agent(app, "ann@example.com", name="Ann")
            async with (
                ChatClient.initialize(server.http_url, name="Cleo") as customer,
                ChatClient.login(server.http_url, server.ws_url, "ann@example.com", "secret-pass") as agent,
            ):
                cid = customer.conversation_id
                await agent.api.request("POST", f"/api/conversations/{cid}/join")
                reply = await agent.send_text("Hello, order NL-48213 is on its way", conversation_id=cid)
                asked = await customer.send_text("great, thank you")
                while await app.store.get_annotations(asked["id"]) is None:
                    await trio.sleep(0.02)
                assert await app.store.get_annotations(reply["id"]) is None
                assert (await app.store.get_conversation(cid)).context["nlu"]["slots"] == {}


async def test_an_edited_message_is_analysed_again_and_staff_get_the_new_annotations(tmp_path, nlu_config):
    nlu = Nlu(nlu_config)
    app = make_app(tmp_path, plugins={"nlu": nlu})
    async with running(app) as server:
        with trio.fail_after(60):
            await nlu.wait_ready("support")
            await add_agent(app, "ann@example.com", name="Ann")
            async with (
                ChatClient.initialize(server.http_url, name="Cleo", locale="en-GB") as customer,
                ChatClient.login(server.http_url, server.ws_url, "ann@example.com", "secret-pass") as agent,
            ):
                cid = customer.conversation_id
                await agent.gateway.request(p.Subscribe(conversation_id=cid, ref="s1"))
                sent = await customer.send_text("where is my order 48213?")
                first = (await annotated(agent, sent["id"]))["annotations"]
                assert first["context"] == {"order_number": "NL-48213"}

                await customer.gateway.request(
                    p.EditMessage(message_id=sent["id"], text="where is my order 48231? I mistyped", ref="e1")
                )
                updated = await agent.gateway.next_frame("message.updated")
                assert updated["message"]["content"]["text"].startswith("where is my order 48231?")
                frame = await annotated(agent, sent["id"])  # the same message, analysed again
                again = frame["annotations"]
                assert frame["seq"] == sent["seq"]
                assert [e["value"] for e in again["entities"] if e["label"] == "ORDER_NUMBER"] == ["NL-48231"]
                assert again["context"] == {"order_number": "NL-48231"}  # corrected, not added
                assert again["intent"]["name"] == "order_status"
                assert await app.store.get_annotations(sent["id"]) == again
                remembered = (await app.store.get_conversation(cid)).context["nlu"]
                assert (
                    remembered["slots"] == {"order_number": "NL-48231"} and remembered["seq"] == sent["seq"]
                )
                staff = {m["id"]: m for m in (await agent.history(cid))["messages"]}
                assert staff[sent["id"]]["annotations"] == again
