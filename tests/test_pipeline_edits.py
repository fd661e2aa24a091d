"""An edited message is analysed again through the pipeline; nothing else runs for it."""

from __future__ import annotations

import trio

from qandu import Reply, hookimpl
from qandu.client import ChatClient
from qandu.gateway import protocol as p
from qandu.testing import add_agent, make_app, running


class Recorder:
    """Counts the words of every customer message and answers each one once."""

    def __init__(self) -> None:
        self.analysed: list[tuple[str, str, bool]] = []
        self.replied: list[str] = []
        self.stored: list[str] = []

    @hookimpl
    async def qandu_analyze_message(self, message, conversation):
        if message.sender.type != "user":
            return None
        text = message.content.text or ""
        self.analysed.append((message.id, text, message.edited_at is not None))
        return {"words": len(text.split())}

    @hookimpl
    async def qandu_message_stored(self, message):
        self.stored.append(message.id)

    @hookimpl
    async def qandu_reply(self, message):
        self.replied.append(message.content.text or "")
        return Reply(text=f"got {message.content.text}")


async def annotated(agent: ChatClient, message_id: str) -> dict:
    while True:
        frame = await agent.gateway.next_frame("message.annotated")
        if frame["messageId"] == message_id:
            return frame


async def bot_reply(customer: ChatClient) -> dict:
    while True:
        frame = await customer.gateway.next_frame("message.new")
        if frame["message"]["sender"]["type"] == "ai":
            return frame["message"]


async def test_an_edit_is_analysed_again_and_its_annotations_replace_the_old(tmp_path):
    recorder = Recorder()
    app = make_app(tmp_path, plugins={"recorder": recorder})
    async with running(app) as server:
        await add_agent(app, "ann@example.com", name="Ann")
        with trio.fail_after(20):
            async with (
                ChatClient.initialize(server.http_url, name="Cleo") as customer,
                ChatClient.login(server.http_url, server.ws_url, "ann@example.com", "secret-pass") as agent,
            ):
                await agent.gateway.request(p.Subscribe(conversation_id=customer.conversation_id, ref="s1"))
                sent = await customer.send_text("one two")
                assert (await annotated(agent, sent["id"]))["annotations"] == {"words": 2}
                assert (await bot_reply(customer))["content"]["text"] == "got one two"

                await customer.gateway.request(
                    p.EditMessage(message_id=sent["id"], text="one two three", ref="e")
                )
                frame = await annotated(agent, sent["id"])
                assert (frame["seq"], frame["annotations"]) == (sent["seq"], {"words": 3})
                assert await app.store.get_annotations(sent["id"]) == {"words": 3}

                after = await customer.send_text("four")  # handled after the edit, by the same worker
                assert (await bot_reply(customer))["content"]["text"] == "got four"
    assert recorder.analysed == [
        (sent["id"], "one two", False),
        (sent["id"], "one two three", True),
        (after["id"], "four", False),
    ]
    assert recorder.replied == ["one two", "four"]  # the bot does not answer an edit
    assert recorder.stored == [sent["id"], after["id"]]
