"""Fixtures for the HTTP API tests: a real server on 127.0.0.1 (port 0) and httpx clients."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

import qandu.app
from qandu.app import App, Endpoints
from qandu.auth import hash_password
from qandu.config import from_dict
from qandu.domain import User
from qandu.plugins import PluginManager

HERE = Path(__file__).resolve().parent
SITE_SECRET = "shop-secret-for-tests"
MAX_BODY = 4096
AGENT_PASSWORD = "agent-pass-123"


def _site_hash(user_id: str, secret: str = SITE_SECRET) -> str:
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


@pytest.fixture
def site_hash() -> Any:
    """``site_hash(user_id, secret=SITE_SECRET)``: what the host site sends as userHash."""
    return _site_hash


@pytest.fixture
def config(tmp_path: Path) -> Any:
    return from_dict(
        {
            "server": {"port": 0, "ws_port": 0, "data_dir": str(tmp_path), "drain_timeout": 1.0},
            "bots": {"paths": [str(HERE / "bots" / "testbot")], "default": "testbot"},
            "http": {"max_body_bytes": MAX_BODY, "cors_origins": ["https://shop.example"]},
            "auth": {"sites": {"shop": {"secret": SITE_SECRET}}},
            "dispatch": {"hook_timeout": 2.0},
        }
    )


@pytest.fixture
def app(config: Any) -> App:
    return App.create(config, pm=PluginManager(hook_timeout=config.dispatch.hook_timeout))


@pytest.fixture
async def endpoints(app: App) -> AsyncIterator[Endpoints]:
    async with trio.open_nursery() as nursery:
        endpoints = await nursery.start(qandu.app.serve, app)
        yield endpoints
        nursery.cancel_scope.cancel()


@pytest.fixture
async def http(endpoints: Endpoints) -> AsyncIterator[httpx.AsyncClient]:
    """An anonymous client of the running server."""
    async with httpx.AsyncClient(base_url=endpoints.http_url, timeout=10) as client:
        yield client


class Session:
    """A logged-in client: ``user`` and ``token``, with the token sent on every request."""

    def __init__(self, client: httpx.AsyncClient, token: str, user: dict[str, Any], **extra: Any) -> None:
        self.client = client
        self.token = token
        self.user = user
        self.extra = extra
        client.headers["Authorization"] = f"Bearer {token}"

    @property
    def conversation(self) -> dict[str, Any]:
        return self.extra["conversation"]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    async def send(self, text: str, conversation_id: str | None = None, **fields: Any) -> httpx.Response:
        body = {
            "conversationId": conversation_id or self.conversation["id"],
            "clientMsgId": fields.pop("clientMsgId", uuid.uuid4().hex),
            "content": {"type": "text", "text": text},
            **fields,
        }
        return await self.client.post("/api/chat/message", json=body)


@pytest.fixture
async def open_session(endpoints: Endpoints) -> AsyncIterator[Any]:
    """``await open_session(kind="customer"|"agent", ...)`` -> a :class:`Session`; closed at teardown."""
    clients: list[httpx.AsyncClient] = []

    async def open_(token: str, user: dict[str, Any], **extra: Any) -> Session:
        client = httpx.AsyncClient(base_url=endpoints.http_url, timeout=10)
        clients.append(client)
        return Session(client, token, user, **extra)

    yield open_
    for client in clients:
        await client.aclose()


@pytest.fixture
def customer(http: httpx.AsyncClient, open_session: Any) -> Any:
    """``await customer(**initialize_body)`` -> a Session of a new customer with a conversation."""

    async def make(**body: Any) -> Session:
        response = await http.post("/api/chat/initialize", json=body)
        assert response.status_code == 201, response.text
        data = response.json()
        return await open_session(
            data["token"], data["user"], conversation=data["conversation"], greeting=data["greeting"]
        )

    return make


@pytest.fixture
def agent(app: App, http: httpx.AsyncClient, open_session: Any) -> Any:
    """``await agent(email, role="support")`` -> a Session of a new agent, logged in over HTTP."""

    async def make(email: str, *, role: str = "support", name: str = "Agent Smith") -> Session:
        user: User = await app.store.create_user(
            kind="agent", role=role, name=name, email=email, password_hash=hash_password(AGENT_PASSWORD)
        )
        response = await http.post("/api/auth/login", json={"email": email, "password": AGENT_PASSWORD})
        assert response.status_code == 200, response.text
        data = response.json()
        assert data["user"]["id"] == user.id
        return await open_session(data["token"], data["user"])

    return make
