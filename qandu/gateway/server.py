"""The WebSocket listener: our own accept loop with an error boundary per connection.

trio-websocket's ``serve_websocket`` lets one connection's protocol error escape and stop
the whole server (its issue #184), so each connection runs in its own nursery here and
whatever goes wrong in it ends that connection only.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import attrs
import orjson
import trio
from trio_websocket import WebSocketRequest, wrap_server_stream

from qandu.errors import QanduError
from qandu.gateway import protocol as p
from qandu.gateway.connection import Connection

if TYPE_CHECKING:
    from qandu.app import App

log = logging.getLogger("qandu.gateway")

HANDSHAKE_TIMEOUT = 10.0


@attrs.frozen
class GatewayStatistics:
    connections: int
    accepted: int
    rejected: int
    errors: int
    slow_consumers: int


class Gateway:
    """Accepts WebSocket connections and runs one :class:`Connection` for each."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.connections: set[Connection] = set()
        self._accepting = True
        self._handlers: trio.Nursery | None = None
        self._accepted = 0
        self._rejected = 0
        self._errors = 0
        self.slow_consumers = 0

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen on ``[server] host``/``ws_port``; report the bound port through ``task_status``."""
        server = self.app.config.server
        listeners = await trio.open_tcp_listeners(server.ws_port, host=server.host)
        port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as handlers:
            self._handlers = handlers
            for listener in listeners:
                handlers.start_soon(self._accept_loop, listener)
            task_status.started(port)

    async def _accept_loop(self, listener: trio.SocketListener) -> None:
        async with listener:
            while self._accepting:
                try:
                    stream = await listener.accept()
                except OSError as exc:  # EMFILE and friends: back off, keep serving
                    log.warning("accept failed: %s", exc)
                    await trio.sleep(0.1)
                    continue
                assert self._handlers is not None
                self._handlers.start_soon(self._handle_stream, stream)

    async def _handle_stream(self, stream: trio.SocketStream) -> None:
        """Run one connection; nothing it raises reaches the listener."""
        try:
            async with stream, trio.open_nursery() as nursery:
                request = await self._handshake(nursery, stream)
                if request is not None:
                    await self._run(request)
                nursery.cancel_scope.cancel()
        except* trio.Cancelled:
            raise
        except* Exception as group:
            self._errors += 1
            log.debug("connection ended with an error: %r", group.exceptions)

    async def _handshake(self, nursery: trio.Nursery, stream: trio.SocketStream) -> WebSocketRequest | None:
        config = self.app.config.gateway
        with trio.move_on_after(HANDSHAKE_TIMEOUT):
            return await wrap_server_stream(nursery, stream, max_message_size=config.max_frame_bytes)
        return None

    async def _run(self, request: WebSocketRequest) -> None:
        if not self._accepting:
            await self._reject(request, 503, "server is shutting down")
            return
        token = parse_qs(urlsplit(request.path).query).get("token", [""])[0]
        try:
            claims = self.app.auth.verify(token)
            user = await self.app.store.get_user(claims.user_id)
            if user is None:
                raise QanduError("unknown user")
        except QanduError as exc:
            await self._reject(request, 401, exc.message)
            return
        ws = await request.accept()
        self._accepted += 1
        connection = Connection(self.app, self, ws, user)
        self.connections.add(connection)
        try:
            await connection.run()
        finally:
            self.connections.discard(connection)

    async def _reject(self, request: WebSocketRequest, status: int, message: str) -> None:
        self._rejected += 1
        body = orjson.dumps(
            {"error": {"code": "unauthorized" if status == 401 else "unavailable", "message": message}}
        )
        await request.reject(status, extra_headers=[(b"content-type", b"application/json")], body=body)

    async def drain(self, timeout: float) -> None:
        """Stop accepting, then close every connection with 1001 (waiting up to ``timeout``)."""
        self._accepting = False
        with trio.move_on_after(timeout):
            async with trio.open_nursery() as nursery:
                for connection in list(self.connections):
                    nursery.start_soon(connection.close, p.CloseCode.GOING_AWAY, "server going away")

    def statistics(self) -> GatewayStatistics:
        return GatewayStatistics(
            connections=len(self.connections),
            accepted=self._accepted,
            rejected=self._rejected,
            errors=self._errors,
            slow_consumers=self.slow_consumers,
        )
