"""Auto-archive: resolved conversations are archived after ``[lifecycle] archive_after``, once."""

from __future__ import annotations

import trio

from qandu.client import ChatClient
from qandu.testing import make_app, running

TIMEOUT = 30
FAST = {"archive_after": 0.5, "archive_interval": 0.1}


async def _status(client, conversation_id):
    return (await client.api.request("GET", f"/api/conversations/{conversation_id}"))["conversation"][
        "status"
    ]


async def test_resolved_conversations_are_archived_after_the_delay(desk, wait_for):
    with trio.fail_after(TIMEOUT):
        async with desk(lifecycle=FAST) as d:
            ann, bob, cid_open = await d.customer(), await d.customer(), None
            carl = await d.customer()
            boss = await d.agent("boss@example.com", "Boss", role="admin")
            cid_open = carl.conversation_id
            for client in (ann, bob):
                await boss.api.request(
                    "PUT", f"/api/conversations/{client.conversation_id}/status", json={"status": "resolved"}
                )
            await trio.sleep(0.3)
            await bob.send_text("wait, one more question")  # reopens: not archived
            assert await _status(boss, bob.conversation_id) in ("active", "pending")

            async def archived():
                return await _status(boss, ann.conversation_id) == "archived"

            await wait_for(archived, timeout=5)
            detail = await boss.api.request("GET", f"/api/conversations/{ann.conversation_id}")
            last = detail["statusHistory"][-1]
            assert (last["from"], last["to"]) == ("resolved", "archived")
            assert last["reason"] == "auto-archived 0.5 seconds after it was resolved" and "by" not in last
            await trio.sleep(0.7)
            assert await _status(boss, bob.conversation_id) in ("active", "pending")
            assert await _status(boss, cid_open) == "active"
            events = [
                e.data for e in d.events.named("conversation.status_changed") if e.data["to"] == "archived"
            ]
            assert events == [{"from": "resolved", "to": "archived", "reason": last["reason"]}]


async def test_two_nodes_archive_each_conversation_once(tmp_path):
    with trio.fail_after(TIMEOUT):
        node_a = make_app(tmp_path, lifecycle={**FAST, "archive_interval": 0.05})
        node_b = make_app(tmp_path, lifecycle={**FAST, "archive_interval": 0.05})
        async with running(node_a) as a, running(node_b):
            conversations = []
            for _ in range(6):
                async with ChatClient.initialize(a.http_url) as client:
                    await client.api.request(
                        "PUT",
                        f"/api/conversations/{client.conversation_id}/status",
                        json={"status": "resolved"},
                    )
                    conversations.append(client.conversation_id)
            with trio.fail_after(10):
                while node_a.chat.teamwork.archiver.archived + node_b.chat.teamwork.archiver.archived < 6:
                    await trio.sleep(0.05)
            await trio.sleep(0.3)
            for conversation_id in conversations:
                history = await node_a.store.status_history(conversation_id)
                assert [change.to_status for change in history] == ["resolved", "archived"]
        assert node_a.chat.teamwork.archiver.archived + node_b.chat.teamwork.archiver.archived == 6
