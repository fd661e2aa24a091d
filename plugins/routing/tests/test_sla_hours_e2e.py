"""SLA deadlines and business hours, end to end over real sockets."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import trio

from qandu.routing import BusinessHours
from qandu_routing import SlaTarget

QUICK_SLA = {
    "high": SlaTarget(first_response=0.4, next_response=0.4),
    "medium": SlaTarget(first_response=0.4, next_response=0.4),
    "low": SlaTarget(first_response=60, next_response=60),
}
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


async def test_a_missed_first_response_is_a_breach_event_and_raises_priority(desk, wait_for):
    with trio.fail_after(30):
        async with desk(sla=QUICK_SLA) as desk:
            customer = await desk.customer()
            cid = customer.conversation_id
            await customer.send_text("Where is my order?")  # no agent online: it waits

            async def breached():
                conversation = await desk.conversation(cid)
                return conversation if conversation.get("sla", {}).get("firstResponseBreached") else None

            conversation = await wait_for(breached)
            events = desk.events.named("sla.breached")
            assert [(e.conversation_id, e.data["kind"], e.data["priority"]) for e in events] == [
                (cid, "first_response", "medium")
            ]
            queued = dt.datetime.fromisoformat(conversation["queuedAt"])
            due = dt.datetime.fromisoformat(conversation["sla"]["firstResponseDue"])
            assert abs((due - queued).total_seconds() - 0.4) < 0.01

            async def raised():
                conversation = await desk.conversation(cid)
                return conversation if conversation["priority"] == "high" else None

            assert (await wait_for(raised))["priorityReason"] == "SLA breached: first response"
            await trio.sleep(0.5)  # flagged once only, even across many sweeps
            assert len(desk.events.named("sla.breached")) == 1


async def test_answering_in_time_stops_the_clocks_and_a_slow_next_answer_breaches(desk, wait_for):
    with trio.fail_after(30):
        async with desk(sla={**QUICK_SLA, "medium": SlaTarget(first_response=30, next_response=0.4)}) as desk:
            ann = await desk.agent("ann@example.com", "Ann")
            customer = await desk.customer()
            cid = customer.conversation_id
            await customer.send_text("Where is my order?")
            await desk.assignee_becomes(cid, ann.user["id"])
            await ann.send_text("Let me check", conversation_id=cid)

            async def answered():
                conversation = await desk.conversation(cid)
                return conversation if "firstResponseAt" in conversation.get("sla", {}) else None

            conversation = await wait_for(answered)
            assert "firstResponseDue" not in conversation["sla"]
            first = desk.events.named("conversation.first_response")
            assert [(e.conversation_id, e.data["agentId"]) for e in first] == [(cid, ann.user["id"])]
            assert first[0].data["waitedSeconds"] >= 0

            await customer.send_text("Any news?")  # the next-response clock starts...

            async def next_breached():
                conversation = await desk.conversation(cid)
                return conversation if conversation["sla"].get("nextResponseBreached") else None

            await wait_for(next_breached)

            async def breach_events():
                return [e.data["kind"] for e in desk.events.named("sla.breached")]

            assert await wait_for(breach_events) == ["next_response"]
            await ann.send_text("Found it: it ships today", conversation_id=cid)  # ...and stops

            async def cleared():
                conversation = await desk.conversation(cid)
                sla = conversation["sla"]
                return "nextResponseDue" not in sla and "nextResponseBreached" not in sla

            await wait_for(cleared)


def _closed_hours() -> tuple[dict[str, list[str]], dt.datetime]:
    """Hours open only one hour, three days from now (Berlin time): closed right now."""
    opening_day = (dt.datetime.now(BERLIN) + dt.timedelta(days=3)).date()
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[opening_day.weekday()]
    opening = dt.datetime.combine(opening_day, dt.time(8, 0), tzinfo=BERLIN)
    return {day: ["08:00-09:00"]}, opening


async def test_outside_business_hours_the_customer_is_told_when_people_are_back(desk, wait_for):
    with trio.fail_after(30):
        async with desk() as desk:
            hours, opening = _closed_hours()
            ann = await desk.agent("ann@example.com", "Ann", connect=False)
            team = await desk.admin.api.request(
                "POST",
                "/api/teams",
                json={
                    "name": "Shop",
                    "memberIds": [ann.id],
                    "businessHours": hours,
                    "timezone": "Europe/Berlin",
                },
            )
            team_id = team["team"]["id"]
            await desk.admin.api.request(
                "POST", "/api/inboxes", json={"name": "Web", "source": "widget", "teamId": team_id}
            )
            await desk.agent("bert@example.com", "Bert")  # online, but not in the team

            english = await desk.customer(source="widget", locale="en")
            assert (await desk.conversation(english.conversation_id))["teamId"] == team_id
            await english.send_text("Can someone call me?")
            notice = await _bot_text_containing(english, "back")
            weekday = opening.strftime("%A")
            assert f"We're back {weekday} at 08:00 {opening.tzname()}" in notice

            german = await desk.customer(source="widget", locale="de-AT")
            await german.send_text("Kann mich jemand anrufen?")
            german_notice = await _bot_text_containing(german, "wieder")
            german_day = ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag")
            assert f"{german_day[opening.weekday()]} um 08:00 {opening.tzname()}" in german_notice

            await trio.sleep(0.5)  # Bert is online but not in the team, and the team is closed
            assert set(await desk.queue()) == {english.conversation_id, german.conversation_id}
            other = await desk.customer(source="api")  # not from the team's inbox
            await other.send_text("hello?")
            bert_id = await _id(desk, "Bert")
            assert "teamId" not in await desk.assignee_becomes(other.conversation_id, bert_id)


async def test_outside_hours_the_bot_can_keep_helping(desk, wait_for):
    with trio.fail_after(30):
        async with desk(outside_hours="bot") as desk:
            hours, _ = _closed_hours()
            team = await desk.admin.api.request(
                "POST",
                "/api/teams",
                json={"name": "Shop", "businessHours": hours, "timezone": "Europe/Berlin"},
            )
            await desk.admin.api.request(
                "POST", "/api/inboxes", json={"name": "All", "teamId": team["team"]["id"]}
            )
            customer = await desk.customer()
            await customer.send_text("human please")
            await _bot_text_containing(customer, "back")

            async def with_bot():
                conversation = await desk.conversation(customer.conversation_id)
                return conversation["status"] == "active" and conversation["assigneeId"] is None

            await wait_for(with_bot)
            assert await desk.queue() == []


def test_business_hours_follow_the_time_zone_and_daylight_saving():
    hours = BusinessHours.from_wire(
        {"mon": ["08:00-12:00", "13:00-18:00"], "sat": ["10:00-14:00"]}, "Europe/Berlin"
    )
    friday_night = dt.datetime(2025, 3, 28, 20, 0, tzinfo=BERLIN)
    assert not hours.is_open(friday_night)
    saturday = hours.next_opening(friday_night)
    assert (saturday.isoformat(), saturday.tzname()) == ("2025-03-29T10:00:00+01:00", "CET")
    monday = hours.next_opening(dt.datetime(2025, 3, 29, 15, 0, tzinfo=BERLIN))
    assert (monday.isoformat(), monday.tzname()) == (
        "2025-03-31T08:00:00+02:00",
        "CEST",
    )  # after the DST switch
    lunch = dt.datetime(2025, 3, 31, 12, 30, tzinfo=BERLIN)
    assert not hours.is_open(lunch)
    assert hours.next_opening(lunch).hour == 13
    assert hours.is_open(dt.datetime(2025, 3, 31, 11, 0, tzinfo=dt.UTC))  # 13:00 in Berlin


async def _bot_text_containing(client, word: str) -> str:
    while True:
        frame = await client.gateway.next_frame("message.new")
        message = frame["message"]
        if message["sender"]["type"] == "ai" and word in (message["content"].get("text") or ""):
            return message["content"]["text"]


async def _id(desk, name: str) -> str:
    agents = (await desk.admin.api.request("GET", "/api/agents"))["agents"]
    return next(a["id"] for a in agents if a["name"] == name)
