"""The analysis of a message is stored as one job: annotations, context changes and tags, and
the later hooks see the conversation as that job left it."""

from __future__ import annotations

import trio

from qandu import Analysis, Reply, hookimpl
from qandu.client import ChatClient
from qandu.gateway import protocol as p
from qandu.testing import add_agent, make_app, running


class Counter:
    """Keeps a count of the customer's messages in the context, through ``Analysis``."""

    @hookimpl
    async def qandu_analyze_message(self, message, conversation):
        if message.sender.type != "user":
            return None
        count = (conversation.context or {}).get("count", 0) + 1
        return Analysis({"count": count}, {"count": count, "draft": None})


class Scribe:
    """An analyser that writes the context itself, as analysers did before ``Analysis``."""

    def __init__(self) -> None:
        self.app = None

    @hookimpl
    async def qandu_analyze_message(self, message, conversation):
        if message.sender.type != "user":
            return None
        await self.app.store.update_context(conversation.id, {"last": message.content.text})
        return {"scribed": True}


class Watcher:
    """Tags every customer message and answers with what the hooks saw."""

    def __init__(self) -> None:
        self.tagging_saw: list[dict] = []

    @hookimpl
    async def qandu_tag_conversation(self, conversation, message, annotations):
        self.tagging_saw.append(dict(conversation.context or {}))
        return [f"seen-{annotations['count']}"]

    @hookimpl
    async def qandu_reply(self, message, conversation, annotations):
        context = conversation.context or {}
        return Reply(text=f"{context['count']} {context['last']} {','.join(conversation.tags)}")


async def bot_reply(customer: ChatClient) -> str:
    while True:
        frame = await customer.gateway.next_frame("message.new")
        if frame["message"]["sender"]["type"] == "ai":
            return frame["message"]["content"]["text"]


async def test_context_changes_and_tags_reach_the_later_hooks_and_the_next_message(tmp_path):
    scribe, watcher = Scribe(), Watcher()
    app = make_app(tmp_path, plugins={"counter": Counter(), "scribe": scribe, "watcher": watcher})
    scribe.app = app
    async with running(app) as server:
        await add_agent(app, "ann@example.com", name="Ann")
        with trio.fail_after(20):
            async with (
                ChatClient.initialize(server.http_url, name="Cleo", context={"draft": "x"}) as customer,
                ChatClient.login(server.http_url, server.ws_url, "ann@example.com", "secret-pass") as agent,
            ):
                await agent.gateway.request(p.Subscribe(conversation_id=customer.conversation_id, ref="s1"))
                first = await customer.send_text("one")
                assert await bot_reply(customer) == "1 one seen-1"
                second = await customer.send_text("two")
                assert await bot_reply(customer) == "2 two seen-1,seen-2"

                for sent, count in ((first, 1), (second, 2)):
                    frame = await agent.gateway.next_frame("message.annotated")
                    assert frame["messageId"] == sent["id"]
                    assert frame["annotations"] == {"count": count, "scribed": True}
                    assert await app.store.get_annotations(sent["id"]) == {"count": count, "scribed": True}
                stored = await app.store.get_conversation(customer.conversation_id)
                assert stored.context == {"count": 2, "last": "two"}  # "draft" removed by a None
                assert stored.tags == ("seen-1", "seen-2")
    assert [saw["count"] for saw in watcher.tagging_saw] == [1, 2]
