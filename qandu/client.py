"""A Python client for QanDu: HTTP calls with httpx, the real-time gateway with trio-websocket.

::

    async with ChatClient.initialize("http://127.0.0.1:8800", name="Ada") as client:
        await client.send_text("Where is my order?")
        frame = await client.next_frame("message.new")
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from qandu.domain import Content
from qandu.gateway import protocol as p


class ApiError(Exception):
    """The server answered with an error: ``status``, ``code``, ``message``, ``field``."""

    def __init__(self, status: int, error: dict[str, Any]) -> None:
        super().__init__(f"{status} {error.get('code')}: {error.get('message')}")
        self.status = status
        self.code = error.get("code")
        self.message = error.get("message")
        self.field = error.get("field")


class Api:
    """The HTTP API, authenticated with a bearer token once one is known."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=30)

    async def request(self, method: str, path: str, *, json: Any = None, params: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = await self.http.request(method, path, json=json, params=params, headers=headers)
        data = response.json() if response.content else None
        if response.status_code >= 400:
            raise ApiError(response.status_code, (data or {}).get("error", {}))
        return data

    async def initialize(self, **body: Any) -> dict[str, Any]:
        body = {key: value for key, value in body.items() if value is not None}
        data = await self.request("POST", "/api/chat/initialize", json=body)
        self.token = data["token"]
        return data

    async def login(self, email: str, password: str) -> dict[str, Any]:
        data = await self.request("POST", "/api/auth/login", json={"email": email, "password": password})
        self.token = data["token"]
        return data

    async def upload(
        self,
        conversation_id: str,
        name: str,
        data: bytes | AsyncIterator[bytes],
        *,
        content_type: str = "application/octet-stream",
    ) -> dict[str, Any]:
        """Upload a file (raw body, streamed if ``data`` is an async iterator); return the upload.

        Send it afterwards with ``attachments=[upload["id"]]``.  Raises :class:`ApiError`
        (``too_large``, ``rejected``...) if the server refuses it.
        """
        headers = {"Content-Type": content_type}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        params = {"conversationId": conversation_id, "name": name}
        response = await self.http.post("/api/files", params=params, content=data, headers=headers)
        body = response.json() if response.content else {}
        if response.status_code >= 400:
            raise ApiError(response.status_code, body.get("error", {}))
        return body["upload"]

    async def download(self, path: str) -> httpx.Response:
        """GET a file URL (``upload["url"]``, a signed link...) with the bearer token; the raw response."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token and "sig=" not in path else {}
        return await self.http.get(path, headers=headers)

    async def aclose(self) -> None:
        await self.http.aclose()


class Gateway:
    """One WebSocket connection; frames the client did not wait for are kept in order."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        self.ready: dict[str, Any] = {}
        self._pending: list[dict[str, Any]] = []

    async def send(self, frame: p.ClientFrame) -> None:
        await self.ws.send_message(p.encode_client_frame(frame))

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send_message(data)

    async def receive(self) -> dict[str, Any]:
        """The next frame from the server (first those skipped by :meth:`next_frame`)."""
        if self._pending:
            return self._pending.pop(0)
        return p.decode_server_frame(await self.ws.get_message())

    async def next_frame(self, *types: str, ref: str | None = None) -> dict[str, Any]:
        """Wait for the next frame of one of ``types`` (and ``ref``); keep the others queued."""
        for index, frame in enumerate(self._pending):
            if frame["type"] in types and (ref is None or frame.get("ref") == ref):
                return self._pending.pop(index)
        while True:
            frame = p.decode_server_frame(await self.ws.get_message())
            if frame["type"] in types and (ref is None or frame.get("ref") == ref):
                return frame
            self._pending.append(frame)

    async def request(self, frame: p.ClientFrame) -> dict[str, Any]:
        """Send ``frame`` (with a ``ref``); return its ``ack``/``resumed``/``pong``, raise on ``error``."""
        await self.send(frame)
        answer = await self.next_frame("ack", "error", "resumed", "pong", ref=frame.ref)
        if answer["type"] == "error":
            raise ApiError(0, answer)
        return answer

    def drain_pending(self) -> list[dict[str, Any]]:
        frames, self._pending = self._pending, []
        return frames


@asynccontextmanager
async def connect(ws_url: str, token: str, *, max_message_size: int = 1 << 20) -> AsyncIterator[Gateway]:
    """Open the gateway, wait for ``ready`` and yield a :class:`Gateway`."""
    async with open_websocket_url(f"{ws_url}?token={token}", max_message_size=max_message_size) as ws:
        gateway = Gateway(ws)
        gateway.ready = await gateway.next_frame("ready")
        yield gateway


def new_id() -> str:
    return uuid.uuid4().hex


class ChatClient:
    """A customer or agent session: the API, the gateway and a current conversation."""

    def __init__(self, api: Api, gateway: Gateway, conversation_id: str | None = None) -> None:
        self.api = api
        self.gateway = gateway
        self.conversation_id = conversation_id
        self.init: dict[str, Any] = {}
        self.user: dict[str, Any] = {}

    @classmethod
    @asynccontextmanager
    async def initialize(cls, base_url: str, **body: Any) -> AsyncIterator[ChatClient]:
        """Start a customer session and conversation, then connect to the gateway."""
        api = Api(base_url)
        try:
            init = await api.initialize(**body)
            async with connect(init["gatewayUrl"], init["token"]) as gateway:
                client = cls(api, gateway, init["conversation"]["id"])
                client.init = init
                client.user = init["user"]
                yield client
        finally:
            await api.aclose()

    @classmethod
    @asynccontextmanager
    async def login(cls, base_url: str, ws_url: str, email: str, password: str) -> AsyncIterator[ChatClient]:
        """Log in as an agent or admin and connect to the gateway."""
        api = Api(base_url)
        try:
            login = await api.login(email, password)
            async with connect(ws_url, api.token or "") as gateway:
                client = cls(api, gateway)
                client.user = login["user"]
                yield client
        finally:
            await api.aclose()

    async def send_text(
        self, text: str, *, conversation_id: str | None = None, client_msg_id: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """Send a text message over the gateway; return the stored message from the ack."""
        frame = p.SendMessage(
            conversation_id=conversation_id or self.conversation_id or "",
            client_msg_id=client_msg_id or new_id(),
            content=Content(type="text", text=text),
            ref=new_id(),
            **extra,
        )
        ack = await self.gateway.request(frame)
        return ack["message"]

    async def history(self, conversation_id: str | None = None, **params: Any) -> dict[str, Any]:
        cid = conversation_id or self.conversation_id
        return await self.api.request("GET", f"/api/chat/history/{cid}", params=params)


async def collect(gateway: Gateway, seconds: float) -> list[dict[str, Any]]:
    """Receive frames for ``seconds`` and return them (for tests and tools)."""
    frames = gateway.drain_pending()
    with trio.move_on_after(seconds):
        while True:
            frames.append(orjson.loads(await gateway.ws.get_message()))
    return frames
