"""No client behaviour stops the server; slow and dead clients are cut off; plugins can't lose messages."""

from __future__ import annotations

import socket

import pytest
import trio
import wsproto
import wsproto.events as ev
from trio_websocket import ConnectionClosed, HandshakeError, open_websocket_url

from qandu import Reply, hookimpl
from qandu.bus import user_topic
from qandu.client import ChatClient
from qandu.gateway import protocol as p
from qandu.testing import make_app, running

pytestmark = pytest.mark.trio


async def raw_handshake(port: int, token: str) -> tuple[trio.SocketStream, wsproto.WSConnection]:
    """Open a WebSocket by hand (no automatic pong), as a dead or hostile peer would."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    conn = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    await stream.send_all(conn.send(ev.Request(host="127.0.0.1", target=f"/ws?token={token}")))
    conn.receive_data(await stream.receive_some(65536))
    assert any(isinstance(e, ev.AcceptConnection) for e in conn.events())
    return stream, conn


async def test_hostile_clients_do_not_stop_the_server(server):
    port = int(server.ws_url.rsplit(":", 1)[1].split("/")[0])
    with trio.fail_after(20):
        # 1. garbage instead of an HTTP handshake
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(b"\x00\xff garbage \r\n\r\n" * 10)
        await stream.aclose()
        # 2. a half-finished handshake, then a hard reset
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\n")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()
        # 3. a bad token, pinging while the server closes (trio-websocket issue #184)
        for _ in range(5):
            with pytest.raises(HandshakeError):
                async with open_websocket_url(f"{server.ws_url}?token=forged") as ws:
                    await ws.ping()
        # 4. an accepted client that sends pings and protocol garbage, then vanishes
        async with ChatClient.initialize(server.http_url) as customer:
            stream, conn = await raw_handshake(port, customer.api.token)
            await stream.send_all(conn.send(ev.Ping(payload=b"x")) + b"\x8f\x00\xff\xff\xff")
            await stream.aclose()
            # 5. a frame over the size limit closes only that connection (1009)
            async with ChatClient.initialize(server.http_url) as big:
                await big.gateway.send_raw("x" * 70000)
                with pytest.raises(ConnectionClosed) as excinfo:
                    while True:
                        await big.gateway.receive()
                assert excinfo.value.reason.code == 1009
            # the server still serves everyone
            assert (await customer.send_text("still served"))["content"]["text"] == "still served"
        async with ChatClient.initialize(server.http_url) as late:
            assert (await late.send_text("new clients too"))["seq"] >= 1


async def test_bad_token_is_refused_at_the_handshake(server):
    with trio.fail_after(5), pytest.raises(HandshakeError) as excinfo:
        async with open_websocket_url(f"{server.ws_url}?token=nope"):
            pass
    assert excinfo.value.status_code == 401


async def test_slow_consumer_is_disconnected_without_slowing_others(tmp_path):
    app = make_app(tmp_path, gateway={"send_queue": 4})
    big = "z" * 40000
    async with running(app) as server:
        with trio.fail_after(30):
            async with ChatClient.initialize(server.http_url) as fast:
                conversation_id = fast.conversation_id
                stream, conn = await raw_handshake(app.endpoints.ws_port, fast.api.token)  # never reads
                topic = f"conv:{conversation_id}"
                while app.bus.subscriber_count(topic) < 2:  # the slow one has subscribed
                    await trio.sleep(0.01)
                received = 0

                async def read_fast():
                    nonlocal received
                    while received < 60:
                        frame = await fast.gateway.next_frame("message.new")
                        received += frame["message"]["content"]["text"] == big

                close_code = None

                async def read_close_when_dropped():
                    nonlocal close_code
                    while app.bus.subscriber_count(topic) > 1:
                        await trio.sleep(0.01)
                    close_code = await read_close_code(stream, conn)  # the server gave up on it

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(read_fast)
                    nursery.start_soon(read_close_when_dropped)
                    for _ in range(60):
                        await app.chat.post_system(await app.store.get_conversation(conversation_id), big)
                assert received == 60  # the fast client got everything
                assert close_code == 4008
                await stream.aclose()


async def read_close_code(stream: trio.SocketStream, conn: wsproto.WSConnection) -> int | None:
    with trio.move_on_after(10):
        while True:
            data = await stream.receive_some(1 << 20)
            if not data:
                return None
            conn.receive_data(data)
            for event in conn.events():
                if isinstance(event, ev.CloseConnection):
                    return event.code
    return None


async def test_dead_peer_is_detected_by_heartbeat(tmp_path):
    app = make_app(tmp_path, gateway={"heartbeat": 0.2, "heartbeat_timeout": 0.3})
    async with running(app) as server, ChatClient.initialize(server.http_url) as customer:
        with trio.fail_after(10):
            stream, conn = await raw_handshake(server.ws_port, customer.api.token)  # never answers pings
            assert await read_close_code_ignoring_pings(stream, conn) == 4009
            # the well-behaved client (trio-websocket answers pings) is still connected
            assert (await customer.gateway.request(p.Ping(ref="ok")))["type"] == "pong"


async def read_close_code_ignoring_pings(stream, conn) -> int | None:
    while True:
        data = await stream.receive_some(65536)
        if not data:
            return None
        conn.receive_data(data)
        for event in conn.events():
            if isinstance(event, ev.CloseConnection):
                return event.code


class Raising:
    @hookimpl
    async def qandu_message_stored(self, message):
        raise RuntimeError("plugin bug")

    @hookimpl(tryfirst=True)
    async def qandu_reply(self, message):
        raise RuntimeError("plugin bug")


class Hanging:
    @hookimpl
    async def qandu_analyze_message(self, message):
        await trio.sleep_forever()

    @hookimpl
    async def qandu_reply(self, message):
        await trio.sleep_forever()


class Answering:
    @hookimpl(trylast=True)
    async def qandu_reply(self, message):
        return Reply(text=f"you said: {message.content.text}")


async def test_raising_and_hanging_plugins_do_not_lose_the_message(tmp_path):
    app = make_app(
        tmp_path,
        plugins={"answering": Answering(), "hanging": Hanging(), "raising": Raising()},
        dispatch={"hook_timeout": 0.3},
    )
    async with running(app) as server, ChatClient.initialize(server.http_url) as customer:
        with trio.fail_after(15):
            sent = await customer.send_text("is anyone there?")
            reply = await customer.gateway.next_frame("message.new")
            assert reply["message"]["content"]["text"] == "you said: is anyone there?"
            history = (await customer.history())["messages"]
            assert [m["id"] for m in history].count(sent["id"]) == 1
            stats = app.pm.statistics()
            assert stats.failures.get("raising", 0) >= 2 and stats.timeouts.get("hanging", 0) >= 2


async def test_without_ai_plugins_the_bot_greets_and_hands_off(server, app):
    with trio.fail_after(10):
        async with ChatClient.initialize(server.http_url, locale="de-DE") as customer:
            bot = app.bots["support"]
            assert customer.init["greeting"]["content"]["text"] == bot.greeting["de"]
            await customer.send_text("Ich brauche Hilfe")
            handoff = await customer.gateway.next_frame("message.new")
            assert handoff["message"]["content"]["text"] == bot.handoff["de"]
            updated = await customer.gateway.next_frame("conversation.updated")
            assert updated["conversation"]["status"] == "pending"
            await customer.send_text("Hallo?")  # handed off once: the bot stays silent now
            await trio.sleep(0.3)
            await customer.gateway.request(p.Ping(ref="sync"))
            assert not [f for f in customer.gateway.drain_pending() if f["type"] == "message.new"]


async def test_publishing_to_a_connection_whose_writer_ended_does_not_fail_the_publisher(app, server):
    with trio.fail_after(20):
        async with ChatClient.initialize(server.http_url, name="Lou") as customer:
            topic = user_topic(customer.init["user"]["id"])
            (connection,) = app.bus._topics[topic]
            connection._outbox.close()  # as when its writer has ended while it is still subscribed
            assert app.bus.publish(topic, p.presence_frame("someone", "online")) == 1
