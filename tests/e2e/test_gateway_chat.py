"""A customer and an agent chat through the real gateway and HTTP API over sockets."""

from __future__ import annotations

import pytest
import trio
from trio_websocket import open_websocket_url

from qandu.client import Api, ApiError, ChatClient, connect, new_id
from qandu.domain import Content
from qandu.gateway import protocol as p
from qandu.testing import add_agent

pytestmark = pytest.mark.trio


async def agent_session(app, endpoints, email="ann@example.com", name="Ann"):
    await add_agent(app, email, name=name)
    return ChatClient.login(endpoints.http_url, endpoints.ws_url, email, "secret-pass")


async def test_customer_and_agent_use_every_frame_type(app, server):
    with trio.fail_after(20):
        async with ChatClient.initialize(server.http_url, name="Cleo") as customer:
            conversation_id = customer.conversation_id
            assert customer.init["greeting"]["sender"]["type"] == "ai"
            assert customer.gateway.ready["conversations"][0]["id"] == conversation_id
            async with await agent_session(app, server) as agent:
                await agent.gateway.request(p.Subscribe(conversation_id=conversation_id, ref="s1"))
                await agent.api.request("POST", f"/api/conversations/{conversation_id}/join")
                agent.conversation_id = conversation_id
                joined = await customer.gateway.next_frame("conversation.updated")
                assert joined["conversation"]["assigneeId"] == agent.user["id"]

                # customer writes (with emoji); the agent sees it live, the customer gets an ack
                sent = await customer.send_text("Hello 👋 my parcel is late")
                assert sent["seq"] >= 2 and sent["status"] == "sent"
                live = await agent.gateway.next_frame("message.new")
                while live["message"]["id"] != sent["id"]:
                    live = await agent.gateway.next_frame("message.new")
                assert live["message"]["content"]["text"] == "Hello 👋 my parcel is late"

                # typing both ways (never stored)
                await agent.gateway.send(p.Typing(conversation_id=conversation_id, state="start"))
                typing = await customer.gateway.next_frame("typing")
                assert (typing["state"], typing["user"]["name"]) == ("start", "Ann")
                await customer.gateway.send(p.Typing(conversation_id=conversation_id, state="stop"))
                assert (await agent.gateway.next_frame("typing"))["state"] == "stop"

                # the agent replies in a thread
                reply = await agent.send_text("Let me check that for you", reply_to=sent["id"])
                seen = await customer.gateway.next_frame("message.new")
                while seen["message"]["id"] != reply["id"]:
                    seen = await customer.gateway.next_frame("message.new")
                assert seen["message"]["replyTo"] == sent["id"]

                # receipts: the customer read the reply; the agent is told; history shows "read"
                await customer.gateway.request(
                    p.SendReceipt(conversation_id=conversation_id, status="read", seq=reply["seq"], ref="r1")
                )
                receipt = await agent.gateway.next_frame("receipt")
                assert (receipt["status"], receipt["seq"]) == ("read", reply["seq"])

                # reactions add / remove
                await customer.gateway.request(p.AddReaction(message_id=reply["id"], emoji="👍", ref="x1"))
                reaction = await agent.gateway.next_frame("reaction")
                assert (reaction["action"], reaction["reaction"]["emoji"]) == ("added", "👍")
                await customer.gateway.request(p.RemoveReaction(message_id=reply["id"], emoji="👍", ref="x2"))
                assert (await agent.gateway.next_frame("reaction"))["action"] == "removed"

                # edit and delete own message
                ack = await customer.gateway.request(
                    p.EditMessage(message_id=sent["id"], text="parcel late", ref="e1")
                )
                assert ack["message"]["editedAt"]
                assert (await agent.gateway.next_frame("message.updated"))["message"]["content"][
                    "text"
                ] == "parcel late"
                with pytest.raises(ApiError) as excinfo:
                    await customer.gateway.request(
                        p.EditMessage(message_id=reply["id"], text="hacked", ref="e2")
                    )
                assert excinfo.value.code == "forbidden"
                await customer.gateway.request(p.DeleteMessage(message_id=sent["id"], ref="d1"))
                deleted = await agent.gateway.next_frame("message.deleted")
                assert deleted["messageId"] == sent["id"]

                # private notes reach staff only
                note = await agent.send_text("VIP customer", private=True)
                assert note["private"] is True
                await agent.gateway.request(p.Ping(ref="sync"))
                await customer.gateway.request(p.Ping(ref="sync"))
                assert all(
                    f["message"]["id"] != note["id"]
                    for f in customer.gateway.drain_pending()
                    if f["type"] == "message.new"
                )

                history = await customer.history()
                by_id = {m["id"]: m for m in history["messages"]}
                assert by_id[reply["id"]]["status"] == "read"
                assert by_id[sent["id"]]["deletedAt"] and "text" not in by_id[sent["id"]]["content"]
                assert note["id"] not in by_id

                # the agent resolves; the customer sees it
                await agent.api.request(
                    "PUT", f"/api/conversations/{conversation_id}/status", json={"status": "resolved"}
                )
                updated = await customer.gateway.next_frame("conversation.updated")
                while updated["conversation"]["status"] != "resolved":
                    updated = await customer.gateway.next_frame("conversation.updated")

            # presence: the customer sees the agent go offline
            presence = await customer.gateway.next_frame("presence")
            while presence["status"] != "offline":
                presence = await customer.gateway.next_frame("presence")


async def test_resend_with_same_client_msg_id_is_not_duplicated(server):
    with trio.fail_after(10):
        async with ChatClient.initialize(server.http_url) as customer:
            first = await customer.send_text("once", client_msg_id="abc-1")
            again = await customer.send_text("once", client_msg_id="abc-1")
            assert (again["id"], again["seq"]) == (first["id"], first["seq"])
            messages = (await customer.history())["messages"]
            assert [m["id"] for m in messages].count(first["id"]) == 1


async def test_resume_after_dropped_connection_delivers_exactly_the_missed_messages(app, server):
    with trio.fail_after(20):
        async with (
            ChatClient.initialize(server.http_url, name="Dora") as customer,
            await agent_session(app, server) as agent,
        ):
            conversation_id = customer.conversation_id
            agent.conversation_id = conversation_id
            await agent.api.request("POST", f"/api/conversations/{conversation_id}/join")
            last_seen = (await customer.send_text("before the tunnel"))["seq"]
            token = customer.api.token

            # the customer's connection drops; the agent keeps writing
            await customer.gateway.ws.aclose()
            missed = [(await agent.send_text(f"missed {i}"))["seq"] for i in range(5)]

            async with connect(server.ws_url, token) as gateway:
                async with trio.open_nursery() as nursery:
                    # more messages arrive while the resume is running
                    async def keep_writing():
                        for i in range(5):
                            missed.append((await agent.send_text(f"during resume {i}"))["seq"])

                    nursery.start_soon(keep_writing)
                    resumed = await gateway.request(
                        p.Resume(conversation_id=conversation_id, after_seq=last_seen, ref="r")
                    )
                await agent.gateway.request(p.Ping(ref="flush"))
                frames = gateway.drain_pending()
                with trio.move_on_after(0.5):
                    while True:
                        frames.append(await gateway.receive())
                seqs = [f["message"]["seq"] for f in frames if f["type"] == "message.new"]
                assert sorted(seqs) == sorted(missed)  # every missed message, none twice
                assert len(seqs) == len(set(seqs))
                assert resumed["lastSeq"] >= missed[4]
                before_resume = [s for s in seqs if s <= missed[4]]
                assert before_resume == sorted(before_resume)  # replay in order


async def test_customer_cannot_touch_another_conversation(server):
    with trio.fail_after(10):
        async with (
            ChatClient.initialize(server.http_url, name="A") as alice,
            ChatClient.initialize(server.http_url, name="B") as bob,
        ):
            secret = await alice.send_text("my address is 1 Main St")
            for frame in (
                p.Subscribe(conversation_id=alice.conversation_id, ref="1"),
                p.Resume(conversation_id=alice.conversation_id, after_seq=0, ref="2"),
                p.SendMessage(
                    conversation_id=alice.conversation_id,
                    client_msg_id=new_id(),
                    content=Content(text="hi"),
                    ref="3",
                ),
                p.AddReaction(message_id=secret["id"], emoji="😀", ref="4"),
                p.SendReceipt(conversation_id=alice.conversation_id, status="read", seq=1, ref="5"),
                p.Typing(conversation_id=alice.conversation_id, state="start", ref="6"),
            ):
                await bob.gateway.send(frame)
                error = await bob.gateway.next_frame("error")
                assert error["code"] in ("forbidden", "not_found"), error
            with pytest.raises(ApiError) as excinfo:
                await bob.history(alice.conversation_id)
            assert excinfo.value.status == 403
            assert all(f["type"] != "message.new" for f in bob.gateway.drain_pending())
            assert (await bob.gateway.request(p.Ping(ref="alive")))["type"] == "pong"


@pytest.mark.parametrize(
    ("raw", "code", "field"),
    [
        ("{not json", "invalid_json", None),
        ('{"type": "message.fly"}', "unknown_type", "type"),
        ('{"type": "typing", "conversationId": "c"}', "invalid_frame", "state"),
        ('{"type": "receipt", "conversationId": "c", "status": "read", "seq": "7"}', "invalid_frame", "seq"),
        ('{"type": "ping", "extra": 1}', "invalid_frame", "extra"),
        (
            '{"type": "message.send", "conversationId": "c", "clientMsgId": "x", '
            '"content": {"type": "text", "text": "  "}}',
            "invalid_frame",
            "content.text",
        ),
    ],
)
async def test_bad_frames_get_clear_errors_and_the_connection_survives(server, raw, code, field):
    with trio.fail_after(10):
        async with ChatClient.initialize(server.http_url) as customer:
            await customer.gateway.send_raw(raw)
            error = await customer.gateway.next_frame("error")
            assert (error["code"], error.get("field")) == (code, field)
            assert error["message"]
            assert (await customer.send_text("still here"))["content"]["text"] == "still here"


async def test_ready_is_the_first_frame(server):
    with trio.fail_after(10):
        api = Api(server.http_url)
        init = await api.initialize(name="Ray")
        for _ in range(2):  # the first connection (presence goes online) and a reconnect
            async with open_websocket_url(f"{server.ws_url}?token={api.token}") as ws:
                first = p.decode_server_frame(await ws.get_message())
                assert first["type"] == "ready"
                assert first["conversations"][0]["id"] == init["conversation"]["id"]
        await api.aclose()


async def test_a_watching_agent_gets_each_conversation_update_once(app, server):
    with trio.fail_after(10):
        async with (
            ChatClient.initialize(server.http_url) as customer,
            await agent_session(app, server) as agent,
        ):
            conversation_id = customer.conversation_id
            await agent.gateway.request(
                p.Subscribe(conversation_id=conversation_id, ref="w")
            )  # conv + staff topic
            await agent.api.request(
                "PUT", f"/api/conversations/{conversation_id}/status", json={"status": "pending"}
            )
            await agent.gateway.request(p.Ping(ref="sync"))
            updates = [
                f
                for f in agent.gateway.drain_pending()
                if f["type"] == "conversation.updated" and f["conversation"]["status"] == "pending"
            ]
            assert len(updates) == 1
