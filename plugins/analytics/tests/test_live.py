"""Analytics of conversations scripted through the real API match what the API itself reports."""

from __future__ import annotations

import datetime as dt
import statistics
from typing import Any

import trio

from qandu import Reply, hookimpl
from qandu.client import ChatClient
from qandu.testing import add_agent, make_app, running
from qandu_analytics import Analytics, AnalyticsConfig

TIMEOUT = 40
PASSWORD = "secret-pass"
BOT_ANSWER = "It ships tomorrow."


class StubNlu:
    @hookimpl
    async def qandu_analyze_message(self, message):
        if message.sender.type != "user":
            return None
        text = (message.content.text or "").lower()
        if "order" in text:
            return {
                "intent": {"name": "order_status", "confidence": 0.9},
                "sentiment": {"score": 0.4, "label": "positive"},
            }
        if "refund" in text:
            return {
                "intent": {"name": "refund", "confidence": 0.9},
                "sentiment": {"score": -0.5, "label": "negative"},
            }
        return {"sentiment": {"score": 0.0, "label": "neutral"}}


class StubBot:
    """Answers order questions; anything else goes to a person."""

    @hookimpl
    async def qandu_reply(self, message):
        return Reply(text=BOT_ANSWER) if "order" in (message.content.text or "").lower() else None


def _t(value: str) -> float:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def _expected(
    staff: ChatClient, conversation_ids: list[str], ratings: list[int], durations
) -> dict[str, Any]:
    """The figures computed independently from what the API shows (history and status history)."""
    first_responses, resolutions = [], []
    handoffs = bot_resolutions = contained = 0
    messages = {"user": 0, "agent": 0, "bot": 0}
    for cid in conversation_ids:
        detail = await staff.api.request("GET", f"/api/conversations/{cid}")
        history = (await staff.history(cid, limit=200))["messages"]
        started = _t(detail["conversation"]["startedAt"])
        changes = detail["statusHistory"]
        handoff = next(
            (_t(c["at"]) for c in changes if c["to"] == "pending" and c.get("by") == "bot:support"), None
        )
        handoffs += handoff is not None
        agent_times = [
            _t(m["timestamp"]) for m in history if m["sender"]["type"] == "agent" and not m.get("private")
        ]
        first = min(agent_times, default=None)
        if first is not None:
            since = handoff if handoff is not None and handoff <= first else started
            first_responses.append(first - since)
        opened = started
        for change in changes:
            if change["to"] == "resolved":
                resolved = _t(change["at"])
                resolutions.append(resolved - opened)
                bot_resolutions += 1
                helped = (handoff is not None and handoff <= resolved) or any(
                    t <= resolved for t in agent_times
                )
                contained += not helped
            elif change["from"] == "resolved" and change["to"] in ("active", "pending"):
                opened = _t(change["at"])
        messages["user"] += sum(m["sender"]["type"] == "user" for m in history)
        messages["agent"] += sum(m["sender"]["type"] == "agent" and not m.get("private") for m in history)
        messages["bot"] += sum(m["content"].get("text") == BOT_ANSWER for m in history)
    return {
        "conversations": len(conversation_ids),
        "botConversations": len(conversation_ids),
        "handoffs": handoffs,
        "handoffRate": round(handoffs / len(conversation_ids), 4),
        "resolutions": len(resolutions),
        "botResolutions": bot_resolutions,
        "contained": contained,
        "containmentRate": round(contained / bot_resolutions, 4),
        "firstResponse": durations(first_responses),
        "resolution": durations(resolutions),
        "csat": {
            "count": len(ratings),
            "average": round(statistics.fmean(ratings), 3),
            "distribution": {str(r): ratings.count(r) for r in range(1, 6)},
        },
        "messages": {k: v for k, v in sorted(messages.items())},
        "slaBreaches": {},
        "sentiment": {
            "count": messages["user"],
            "average": round((0.4 - 0.5 * 3) / messages["user"], 4),
            "labels": {"negative": 3, "neutral": 0, "positive": 1},
        },
    }


async def _resolve(client: ChatClient, cid: str) -> None:
    await client.api.request("PUT", f"/api/conversations/{cid}/status", json={"status": "resolved"})


async def test_figures_match_what_the_api_shows(tmp_path, expected_durations):
    app = make_app(
        tmp_path,
        plugins={
            "nlu": StubNlu(),
            "bot": StubBot(),
            "analytics": Analytics(AnalyticsConfig(flush_interval=0.1)),
        },
    )
    with trio.fail_after(TIMEOUT):
        async with running(app) as server:
            await add_agent(app, "smith@example.com", PASSWORD, name="Smith")
            url = server.http_url
            async with (
                ChatClient.login(url, server.ws_url, "smith@example.com", PASSWORD) as smith,
                ChatClient.initialize(url, name="Ann") as ann,
                ChatClient.initialize(url, name="Bob") as bob,
                ChatClient.initialize(url, name="Carl") as carl,
            ):
                # Ann: the bot answers, she resolves it herself and rates it 5
                await ann.send_text("Where is my order?")
                await ann.gateway.next_frame("message.new")  # the bot's answer
                await _resolve(ann, ann.conversation_id)
                await ann.api.request(
                    "POST", f"/api/conversations/{ann.conversation_id}/csat", json={"rating": 5}
                )
                # Bob: handed off, Smith answers and resolves; Bob rates 2, writes again (reopens),
                # Smith resolves again
                await bob.send_text("I want a refund")
                await trio.sleep(0.2)
                await smith.api.request("POST", f"/api/conversations/{bob.conversation_id}/join")
                await trio.sleep(0.25)
                await smith.send_text("Done, refunded.", conversation_id=bob.conversation_id)
                await trio.sleep(0.15)
                await _resolve(smith, bob.conversation_id)
                await bob.api.request(
                    "POST", f"/api/conversations/{bob.conversation_id}/csat", json={"rating": 2}
                )
                await bob.send_text("Hm, the refund is not there")
                await trio.sleep(0.1)
                await _resolve(smith, bob.conversation_id)
                # Carl: handed off, Smith answers after a while, still open
                await carl.send_text("refund for my last purchase")
                await trio.sleep(0.1)
                await smith.send_text("Looking into it", conversation_id=carl.conversation_id)

                cids = [ann.conversation_id, bob.conversation_id, carl.conversation_id]
                expected = await _expected(smith, cids, [5, 2], expected_durations)
                now = dt.datetime.now(dt.UTC)
                params = {
                    "from": (now - dt.timedelta(hours=2)).isoformat(),
                    "to": (now + dt.timedelta(hours=2)).isoformat(),
                }
                with trio.fail_after(10):
                    while True:
                        figures = await smith.api.request(
                            "GET", "/api/analytics", params={**params, "bucket": "hour"}
                        )
                        if figures["totals"]["messages"] == expected["messages"]:
                            break
                        await trio.sleep(0.1)
                assert figures["totals"] == expected
                assert {i["intent"]: i["count"] for i in figures["topIntents"]} == {
                    "refund": 3,
                    "order_status": 1,
                }
                [agent] = figures["agents"]
                assert (agent["agentId"], agent["name"]) == (smith.user["id"], "Smith")
                assert agent["csat"]["count"] == 1 and agent["resolution"]["count"] == 2
