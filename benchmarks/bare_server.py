"""The baseline: a bare trio-websocket server doing the benchmark's job, without durability or plugins.

Run: ``python -m benchmarks.bare_server --port 9000``.

It speaks the subset of QanDu's gateway protocol the benchmarks use, with the same JSON
framing, so the load generator's code is shared:

- any ``?token=`` is accepted; the token is the user id (``agent...`` tokens are agents),
  and ``ready`` is sent first;
- ``message.send``: an ``ack`` carrying the message with an in-memory seq per conversation,
  and ``message.new`` to the other members of the conversation's room;
- ``typing``: ``typing`` to the other members; ``subscribe``: join the room, ``ack``;
  ``ping``: ``pong``.  Sending to a conversation also joins its room.

Like QanDu's gateway it runs its own accept loop (one error boundary per connection) and
gives each connection a bounded send queue drained by a writer task, so that one slow
reader never blocks a broadcast; a connection whose queue overflows is closed with 4008.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import logging
import resource
import signal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, wrap_server_stream

SEND_QUEUE = 256
MAX_FRAME_BYTES = 65536
_ids = itertools.count(1)


class Room:
    __slots__ = ("members", "seq")

    def __init__(self) -> None:
        self.seq = 0
        self.members: set[Connection] = set()


class Server:
    def __init__(self) -> None:
        self.rooms: dict[str, Room] = {}

    def join(self, connection: Connection, conversation_id: str) -> Room:
        room = self.rooms.get(conversation_id)
        if room is None:
            room = self.rooms[conversation_id] = Room()
        if conversation_id not in connection.rooms:
            room.members.add(connection)
            connection.rooms.add(conversation_id)
        return room

    def leave_all(self, connection: Connection) -> None:
        for conversation_id in connection.rooms:
            room = self.rooms.get(conversation_id)
            if room is not None:
                room.members.discard(connection)
        connection.rooms.clear()

    @staticmethod
    def broadcast(room: Room, frame: bytes, exclude: Connection) -> None:
        for member in tuple(room.members):
            if member is not exclude:
                member.queue(frame)


class Connection:
    def __init__(self, server: Server, ws: WebSocketConnection, user_id: str) -> None:
        self.server = server
        self.ws = ws
        self.user = {
            "id": user_id,
            "type": "agent" if user_id.startswith("agent") else "user",
            "name": user_id,
        }
        self.rooms: set[str] = set()
        self._send, self._outbox = trio.open_memory_channel[bytes](SEND_QUEUE)
        self._scope = trio.CancelScope()
        self._dropped = False

    def queue(self, frame: bytes) -> None:
        try:
            self._send.send_nowait(frame)
        except trio.WouldBlock:  # slow consumer: drop it, as QanDu does
            self._dropped = True
            self._send.close()
        except trio.ClosedResourceError:
            pass

    async def run(self) -> None:
        self.queue(
            orjson.dumps(
                {
                    "type": "ready",
                    "user": self.user,
                    "conversations": [],
                    "heartbeat": 20.0,
                    "server": {"version": "bare"},
                }
            )
        )
        try:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._writer)
                    await self._reader()
                    nursery.cancel_scope.cancel()
        finally:
            self.server.leave_all(self)

    async def _writer(self) -> None:
        async with self._outbox:
            async for frame in self._outbox:
                await self.ws.send_message(frame.decode())
        if self._dropped:
            await self.ws.aclose(4008, "slow consumer")
        self._scope.cancel()

    async def _reader(self) -> None:
        while True:
            try:
                data = await self.ws.get_message()
            except ConnectionClosed:
                return
            try:
                frame = orjson.loads(data)
                handler = _HANDLERS[frame["type"]]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                self.queue(orjson.dumps({"type": "error", "code": "invalid_frame", "message": "bad frame"}))
                continue
            handler(self, frame)

    def on_send(self, frame: dict[str, Any]) -> None:
        conversation_id = frame["conversationId"]
        room = self.server.join(self, conversation_id)
        room.seq += 1
        message = {
            "id": f"m{next(_ids)}",
            "conversationId": conversation_id,
            "seq": room.seq,
            "sender": self.user,
            "content": frame["content"],
            "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "status": "sent",
            "clientMsgId": frame.get("clientMsgId"),
        }
        self.server.broadcast(room, orjson.dumps({"type": "message.new", "message": message}), exclude=self)
        self.queue(orjson.dumps({"type": "ack", "ref": frame.get("id"), "message": message}))

    def on_typing(self, frame: dict[str, Any]) -> None:
        conversation_id = frame["conversationId"]
        room = self.server.join(self, conversation_id)
        typing = {
            "type": "typing",
            "conversationId": conversation_id,
            "user": self.user,
            "state": frame["state"],
        }
        self.server.broadcast(room, orjson.dumps(typing), exclude=self)

    def on_subscribe(self, frame: dict[str, Any]) -> None:
        self.server.join(self, frame["conversationId"])
        self.queue(orjson.dumps({"type": "ack", "ref": frame.get("id")}))

    def on_ping(self, frame: dict[str, Any]) -> None:
        self.queue(orjson.dumps({"type": "pong", "ref": frame.get("id")}))


_HANDLERS = {
    "message.send": Connection.on_send,
    "typing": Connection.on_typing,
    "subscribe": Connection.on_subscribe,
    "ping": Connection.on_ping,
}


async def _handle_stream(server: Server, stream: trio.SocketStream) -> None:
    try:
        async with stream, trio.open_nursery() as nursery:
            request: WebSocketRequest = await wrap_server_stream(
                nursery, stream, max_message_size=MAX_FRAME_BYTES
            )
            token = parse_qs(urlsplit(request.path).query).get("token", [""])[0] or f"anon{next(_ids)}"
            ws = await request.accept()
            await Connection(server, ws, token).run()
            nursery.cancel_scope.cancel()
    except* trio.Cancelled:
        raise
    except* Exception:  # one connection's failure never stops the server
        logging.getLogger("bare").debug("connection failed", exc_info=True)


async def serve(host: str, port: int) -> None:
    server = Server()
    listeners = await trio.open_tcp_listeners(port, host=host)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_stop_on_signal, nursery.cancel_scope)
        for listener in listeners:
            nursery.start_soon(_accept_loop, server, listener, nursery)


async def _stop_on_signal(scope: trio.CancelScope) -> None:
    """SIGTERM/SIGINT end the run normally (so that a profiler running the server can write its stats)."""
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for _ in signals:
            scope.cancel()
            return


async def _accept_loop(server: Server, listener: trio.SocketListener, nursery: trio.Nursery) -> None:
    async with listener:
        while True:
            try:
                stream = await listener.accept()
            except OSError:  # EMFILE: back off, keep serving
                await trio.sleep(0.1)
                continue
            nursery.start_soon(_handle_stream, server, stream)


def main() -> None:
    parser = argparse.ArgumentParser(description="bare trio-websocket baseline server for the benchmarks")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else hard
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    trio.run(serve, args.host, args.port)


if __name__ == "__main__":
    main()
