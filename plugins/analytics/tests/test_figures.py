"""Analytics figures for scripted conversations with known timings match exactly."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
import trio

from qandu.domain import Content, Conversation, Message, Sender
from qandu.events import Event
from qandu.testing import add_agent, make_app, postgres_schema, running
from qandu_analytics import Analytics, AnalyticsConfig

TIMEOUT = 30
DAY1 = dt.datetime(2025, 3, 3, tzinfo=dt.UTC)
DAY2 = DAY1 + dt.timedelta(days=1)


def at(day: dt.datetime, clock: str) -> dt.datetime:
    hours, minutes, seconds = clock.split(":")
    return day + dt.timedelta(hours=int(hours), minutes=int(minutes), seconds=float(seconds))


class Script:
    """Feeds events and stored messages to the plugin exactly as the core would, with set times."""

    def __init__(self, plugin: Analytics) -> None:
        self.plugin = plugin
        self.n = 0

    async def event(self, name: str, cid: str, when: dt.datetime, **data: Any) -> None:
        await self.plugin.qandu_event(Event(name, cid, when, data))

    async def message(
        self, cid: str, when: dt.datetime, sender: str, sender_id: str, **annotations: Any
    ) -> None:
        self.n += 1
        message = Message(
            id=f"m{self.n}",
            conversation_id=cid,
            seq=self.n,
            sender=Sender(id=sender_id, type=sender, name=sender_id),  # type: ignore[arg-type]
            content=Content(text="..."),
            timestamp=when,
        )
        conversation = Conversation(
            id=cid, status="active", priority="medium", started_at=when, last_message_at=when
        )
        await self.plugin.qandu_message_stored(message, conversation, annotations)

    async def resolved(self, cid: str, when: dt.datetime, agent: str | None, team: str | None = None) -> None:
        await self.event(
            "conversation.status_changed",
            cid,
            when,
            **{"from": "active", "to": "resolved"},
            agentId=agent,
            teamId=team,
        )


async def _play(s: Script) -> None:
    d1, d2 = DAY1, DAY2
    bot = {"bot": "support", "source": "api"}
    # c1: the bot answers and the customer resolves it: contained, 120 s, rated 5
    await s.event("conversation.started", "c1", at(d1, "09:00:00"), **bot)
    await s.message(
        "c1",
        at(d1, "09:00:04"),
        "user",
        "cust1",
        intent={"name": "order_status", "confidence": 0.9},
        sentiment={"score": 0.5, "label": "positive"},
    )
    await s.event("bot.replied", "c1", at(d1, "09:00:05"), bot="support", handoff=False)
    await s.resolved("c1", at(d1, "09:02:00"), None)
    await s.event("csat.submitted", "c1", at(d1, "09:03:00"), surveyId="s1", rating=5)
    # c2: handed off, agent A answers after 10 s, resolves after 1803 s, rated 2
    await s.event("conversation.started", "c2", at(d1, "10:00:00"), **bot)
    await s.message(
        "c2",
        at(d1, "10:00:02"),
        "user",
        "cust2",
        intent={"name": "refund", "confidence": 0.8},
        sentiment={"score": -0.6, "label": "negative"},
    )
    await s.event("conversation.handed_off", "c2", at(d1, "10:00:03"), bot="support")
    await s.event("conversation.assigned", "c2", at(d1, "10:00:04"), agentId="A")
    await s.message("c2", at(d1, "10:00:13"), "agent", "A")
    await s.resolved("c2", at(d1, "10:30:03"), "A")
    await s.event("csat.submitted", "c2", at(d1, "10:31:00"), surveyId="s2", rating=2, agentId="A")
    # c3: first response 20 s, resolution 600 s, rated 4
    await s.event("conversation.started", "c3", at(d1, "11:00:00"), **bot)
    await s.event("conversation.handed_off", "c3", at(d1, "11:00:10"), bot="support")
    await s.message("c3", at(d1, "11:00:30"), "agent", "A")
    await s.resolved("c3", at(d1, "11:10:00"), "A")
    await s.event("csat.submitted", "c3", at(d1, "11:11:00"), surveyId="s3", rating=4, agentId="A")
    # c4: agent B answers after 30 s; still open
    await s.event("conversation.started", "c4", at(d2, "08:00:00"), **bot)
    await s.event("conversation.handed_off", "c4", at(d2, "08:00:00.5"), bot="support")
    await s.message("c4", at(d2, "08:00:30.5"), "agent", "B")
    await s.event("sla.breached", "c4", at(d2, "08:00:20"), kind="first_response")
    # c5: no bot; B answers after 100 s; resolved (300 s), reopened, resolved again (40 s)
    await s.event("conversation.started", "c5", at(d2, "09:00:00"), source="api")
    await s.message("c5", at(d2, "09:01:40"), "agent", "B")
    await s.resolved("c5", at(d2, "09:05:00"), "B")
    await s.event(
        "conversation.status_changed", "c5", at(d2, "10:00:00"), **{"from": "resolved", "to": "active"}
    )
    await s.resolved("c5", at(d2, "10:00:40"), "B")
    # c6: team T1, agent A answers after 40 s, resolved 3600 s after the start, rated 5
    await s.event("conversation.started", "c6", at(d2, "12:00:00"), teamId="T1", **bot)
    await s.event("conversation.handed_off", "c6", at(d2, "12:00:01"), bot="support")
    await s.message("c6", at(d2, "12:00:41"), "agent", "A")
    await s.resolved("c6", at(d2, "13:00:00"), "A", "T1")
    await s.event(
        "csat.submitted", "c6", at(d2, "13:05:00"), surveyId="s6", rating=5, agentId="A", teamId="T1"
    )
    await s.event("conversation.tagged", "c6", at(d2, "12:00:02"), added=["billing", "vip"], source="manual")


def _durations(count, average, median, p90):
    return {"count": count, "average": average, "median": median, "p90": p90}


async def _get(http, **params):
    response = await http.get("/api/analytics", params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request):
    """The storage section: the default SQLite file, or a fresh schema on the machine's PostgreSQL."""
    if request.param == "sqlite":
        yield {}
        return
    with postgres_schema("qandu_analytics") as url:
        yield {"url": url}


async def test_figures_of_a_scripted_week_match_exactly(tmp_path, storage):
    plugin = Analytics(AnalyticsConfig(flush_interval=0.2))
    app = make_app(tmp_path, plugins={"analytics": plugin}, storage=storage)
    with trio.fail_after(TIMEOUT):
        async with running(app) as server:
            await _play(Script(plugin))
            await add_agent(app, "boss@example.com", "secret-pass", name="Boss", role="admin")
            async with httpx.AsyncClient(base_url=server.http_url) as http:
                login = await http.post(
                    "/api/auth/login", json={"email": "boss@example.com", "password": "secret-pass"}
                )
                http.headers["Authorization"] = f"Bearer {login.json()['token']}"
                figures = await _get(http, **{"from": "2025-03-03", "to": "2025-03-05", "bucket": "day"})

                assert (figures["from"], figures["to"]) == (
                    "2025-03-03T00:00:00.000Z",
                    "2025-03-05T00:00:00.000Z",
                )
                totals = figures["totals"]
                assert totals["conversations"] == 6 and totals["botConversations"] == 5
                assert (totals["handoffs"], totals["handoffRate"]) == (4, 0.8)
                assert (totals["resolutions"], totals["botResolutions"], totals["contained"]) == (6, 4, 1)
                assert totals["containmentRate"] == 0.25
                assert totals["firstResponse"] == _durations(5, 40.0, 30.0, 76.0)
                assert totals["resolution"] == _durations(6, 1077.167, 450.0, 2701.5)
                assert totals["csat"] == {
                    "count": 4,
                    "average": 4.0,
                    "distribution": {"1": 0, "2": 1, "3": 0, "4": 1, "5": 2},
                }
                assert totals["messages"] == {"agent": 5, "bot": 1, "user": 2}
                assert totals["slaBreaches"] == {"first_response": 1}
                assert totals["sentiment"] == {
                    "count": 2,
                    "average": -0.05,
                    "labels": {"negative": 1, "neutral": 0, "positive": 1},
                }
                assert figures["topIntents"] == [
                    {"intent": "order_status", "count": 1},
                    {"intent": "refund", "count": 1},
                ]
                assert figures["topTags"] == [{"tag": "billing", "count": 1}, {"tag": "vip", "count": 1}]

                day1, day2 = figures["series"]
                assert day1["start"] == "2025-03-03T00:00:00.000Z"
                assert (day1["conversations"], day1["handoffs"], day1["resolutions"]) == (3, 2, 3)
                assert (day1["firstResponseMedian"], day1["resolutionMedian"], day1["csatAverage"]) == (
                    15.0,
                    600.0,
                    3.667,
                )
                assert (day2["conversations"], day2["handoffs"], day2["resolutions"]) == (3, 2, 3)
                assert (day2["firstResponseMedian"], day2["resolutionMedian"], day2["csatAverage"]) == (
                    40.0,
                    300.0,
                    5.0,
                )
                assert (day1["messages"], day2["messages"]) == (5, 3)
                assert (day1["sentimentAverage"], day2["sentimentAverage"]) == (-0.05, None)

                agents = {a["agentId"]: a for a in figures["agents"]}
                assert agents["A"]["firstResponse"] == _durations(3, 23.333, 20.0, 36.0)
                assert agents["A"]["resolution"] == _durations(3, 2001.0, 1803.0, 3240.6)
                assert agents["A"]["csat"]["average"] == 3.667
                assert agents["B"]["firstResponse"] == _durations(2, 65.0, 65.0, 93.0)
                assert agents["B"]["resolution"] == _durations(2, 170.0, 170.0, 274.0)
                assert agents["B"]["csat"]["count"] == 0
                assert [t["teamId"] for t in figures["teams"]] == ["T1"]
                assert figures["teams"][0]["resolution"]["median"] == 3600.0

                hourly = await _get(
                    http, **{"from": "2025-03-04T08:00:00Z", "to": "2025-03-04T10:00:00Z", "bucket": "hour"}
                )
                assert [p["conversations"] for p in hourly["series"]] == [1, 1]
                assert hourly["totals"]["firstResponse"]["median"] == 65.0  # c4 (30 s) and c5 (100 s)
                only_a = await _get(http, **{"from": "2025-03-03", "to": "2025-03-05", "agentId": "A"})
                assert only_a["totals"]["resolution"]["count"] == 3

                for bad, field in (
                    ({"from": "soon"}, "from"),
                    ({"from": "2025-03-05", "to": "2025-03-03"}, "from"),
                ):
                    response = await http.get("/api/analytics", params=bad)
                    assert (response.status_code, response.json()["error"]["field"]) == (422, field)
                response = await http.get("/api/analytics", params={"bucket": "week"})
                assert response.status_code == 422

        # the figures were written durably: a restart shows the same totals
        again = make_app(tmp_path, plugins={"analytics": Analytics(AnalyticsConfig())}, storage=storage)
        async with running(again) as server, httpx.AsyncClient(base_url=server.http_url) as http:
            login = await http.post(
                "/api/auth/login", json={"email": "boss@example.com", "password": "secret-pass"}
            )
            http.headers["Authorization"] = f"Bearer {login.json()['token']}"
            assert (await _get(http, **{"from": "2025-03-03", "to": "2025-03-05"}))["totals"] == totals


@pytest.mark.parametrize("customer_token", [True])
async def test_customers_cannot_read_analytics(tmp_path, customer_token):
    app = make_app(tmp_path, plugins={"analytics": Analytics(AnalyticsConfig())})
    with trio.fail_after(TIMEOUT):
        async with running(app) as server, httpx.AsyncClient(base_url=server.http_url) as http:
            token = (await http.post("/api/chat/initialize", json={})).json()["token"]
            response = await http.get("/api/analytics", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 403
            assert (await http.get("/api/analytics")).status_code == 401
