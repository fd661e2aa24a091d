"""Two apps in one process as two nodes on one PostgreSQL schema and the machine's Redis."""

from __future__ import annotations

import uuid

import httpx
import pytest
import trio

from qandu.client import ChatClient
from qandu.gateway import protocol as p
from qandu.testing import add_agent, make_app, postgres_schema, running, until

from .test_redis_bus import REDIS_URL, needs_redis


@pytest.fixture
def storage_url():
    with postgres_schema("qandu_bus") as url:
        yield url


def node(tmp_path, storage_url: str, name: str, prefix: str):
    return make_app(
        tmp_path / name,
        storage={"url": storage_url},
        bus={"backend": "redis", "url": REDIS_URL, "channel_prefix": prefix, "node_id": name},
        auth={"secret": "a-secret-shared-by-every-node-of-the-cluster"},
        files={"directory": str(tmp_path / "files")},
    )


@needs_redis
async def test_customer_on_one_node_and_agent_on_another_see_each_other_live(tmp_path, storage_url):
    prefix = f"t{uuid.uuid4().hex[:8]}"
    a, b = node(tmp_path, storage_url, "a", prefix), node(tmp_path, storage_url, "b", prefix)
    with trio.fail_after(30):
        async with running(a) as node_a, running(b) as node_b:
            await add_agent(b, "ann@example.com", name="Ann")
            async with httpx.AsyncClient() as http:

                async def linked() -> dict:
                    health = (await http.get(f"{node_b.http_url}/healthz")).json()
                    return health["bus"] if health["bus"]["connected"] else {}

                assert await until(linked) == {"backend": "redis", "connected": True, "node": "b"}
            async with ChatClient.initialize(node_a.http_url, name="Ida") as customer:
                conversation_id = customer.conversation_id
                login = ChatClient.login(node_b.http_url, node_b.ws_url, "ann@example.com", "secret-pass")
                async with login as agent:
                    await agent.gateway.request(p.Subscribe(conversation_id=conversation_id, ref="s"))
                    sent = await customer.send_text("hello from node a")
                    live = await agent.gateway.next_frame("message.new")
                    while live["message"]["id"] != sent["id"]:
                        live = await agent.gateway.next_frame("message.new")
                    reply = await agent.send_text("hello from node b", conversation_id=conversation_id)
                    seen = await customer.gateway.next_frame("message.new")
                    while seen["message"]["id"] != reply["id"]:
                        seen = await customer.gateway.next_frame("message.new")
                    await agent.gateway.send(p.Typing(conversation_id=conversation_id, state="start"))
                    typing = await customer.gateway.next_frame("typing")
                    assert typing["user"]["id"] == agent.user["id"]
