"""Routing end to end over real sockets: priority, queue order, assignment, transfer, requeue."""

from __future__ import annotations

import trio

from qandu.client import ApiError
from qandu.gateway import protocol as p

ANGRY = "This is unacceptable! I'm furious, your service is the worst I have ever seen."


async def test_an_angry_message_makes_the_conversation_high_priority(desk, wait_for):
    with trio.fail_after(20):
        async with desk() as desk:
            customer = await desk.customer(name="Rita")
            cid = customer.conversation_id
            assert (await desk.conversation(cid))["priority"] == "medium"
            await customer.send_text("Hello, I have a question about my order")
            await trio.sleep(0.3)
            assert (await desk.conversation(cid))["priority"] == "medium"  # a calm message changes nothing
            await customer.send_text(ANGRY)

            async def high():
                conversation = await desk.conversation(cid)
                return conversation if conversation["priority"] == "high" else None

            conversation = await wait_for(high)
            assert conversation["priorityReason"].startswith("angry message (sentiment -0.")
            frame = await desk.admin.gateway.next_frame("conversation.updated")
            while frame["conversation"]["id"] != cid or frame["conversation"]["priority"] != "high":
                frame = await desk.admin.gateway.next_frame("conversation.updated")
            changed = desk.events.named("conversation.priority_changed")
            assert [(e.conversation_id, e.data["priority"], e.data["previous"]) for e in changed] == [
                (cid, "high", "medium")
            ]


async def test_the_plan_in_the_initialize_context_sets_the_first_priority(desk):
    with trio.fail_after(20):
        async with desk() as desk:
            vip = await desk.customer(context={"plan": "Enterprise"})
            free = await desk.customer(context={"tier": "free"})
            vip_conversation = await desk.conversation(vip.conversation_id)
            assert (vip_conversation["priority"], vip_conversation["priorityReason"]) == (
                "high",
                "Enterprise plan",
            )
            assert (await desk.conversation(free.conversation_id))["priority"] == "low"


async def test_queue_order_is_priority_then_waiting_time_and_is_pushed_live(desk, wait_for):
    with trio.fail_after(30):
        async with desk() as desk:
            first = await desk.customer(name="First")  # medium
            await first.send_text("I need help with my invoice")
            await wait_for(lambda: _queued(desk, first.conversation_id))
            low = await desk.customer(name="Low", context={"plan": "free"})
            await low.send_text("a question")
            await wait_for(lambda: _queued(desk, low.conversation_id))
            second = await desk.customer(name="Second")  # medium, later
            await second.send_text("Where is my parcel?")
            await wait_for(lambda: _queued(desk, second.conversation_id))
            angry = await desk.customer(name="Angry")
            await angry.send_text(ANGRY)  # high: jumps ahead
            expected = [
                angry.conversation_id,
                first.conversation_id,
                second.conversation_id,
                low.conversation_id,
            ]

            async def ordered():
                return await desk.queue() == expected

            await wait_for(ordered)
            # the admin's console was open from the start: the deltas alone rebuild the queue
            live = await _queue_from_deltas(desk.admin.gateway, expected)
            queued_at = [c["queuedAt"] for c in live]
            assert queued_at[1] < queued_at[2]


async def test_queue_updated_frames_carry_only_what_changed(desk, wait_for):
    with trio.fail_after(30):
        async with desk() as desk:
            calm = await desk.customer(name="Calm")
            await calm.send_text("I need help with my invoice")
            await wait_for(lambda: _queued(desk, calm.conversation_id))
            other = await desk.customer(name="Other")
            await other.send_text("Where is my parcel?")
            await wait_for(lambda: _queued(desk, other.conversation_id))
            cid = other.conversation_id
            added = await _next_delta(desk.admin.gateway)
            assert ([c["id"] for c in added["added"]], added["updated"], added["removed"]) == (
                [calm.conversation_id],
                [],
                [],
            )
            added = await _next_delta(desk.admin.gateway)
            assert [c["id"] for c in added["added"]] == [cid] and added["total"] == 2

            await desk.admin.api.request(
                "PUT", f"/api/conversations/{cid}/priority", json={"priority": "high", "reason": "VIP"}
            )
            updated = await _next_delta(desk.admin.gateway)
            assert [(c["id"], c["priority"]) for c in updated["updated"]] == [(cid, "high")]
            assert (updated["added"], updated["removed"], updated["total"]) == ([], [], 2)
            assert await desk.queue() == [cid, calm.conversation_id]  # the snapshot, on demand

            await desk.admin.api.request("POST", f"/api/conversations/{cid}/claim")
            removed = await _next_delta(desk.admin.gateway)
            assert (removed["added"], removed["updated"], removed["removed"], removed["total"]) == (
                [],
                [],
                [cid],
                1,
            )
            assert await desk.queue() == [calm.conversation_id]


_RANK = {"high": 0, "medium": 1, "low": 2}


async def _next_delta(gateway):
    frame = await gateway.next_frame("queue.updated")
    changed = len(frame["added"]) + len(frame["updated"]) + len(frame["removed"])
    assert changed == 1, frame  # one conversation per change, whatever the queue's length
    return frame


async def _queue_from_deltas(gateway, expected):
    """Apply ``queue.updated`` deltas from an empty queue until it is ``expected`` (ids, in order)."""
    waiting = {}
    while True:
        frame = await _next_delta(gateway)
        for conversation in frame["added"] + frame["updated"]:
            waiting[conversation["id"]] = conversation
        for conversation_id in frame["removed"]:
            waiting.pop(conversation_id, None)
        assert frame["total"] == len(waiting)
        ordered = sorted(waiting.values(), key=lambda c: (_RANK[c["priority"]], c["queuedAt"], c["id"]))
        if [c["id"] for c in ordered] == expected:
            return ordered


async def _queued(desk, cid):
    return cid in await desk.queue()


async def test_automatic_assignment_respects_language_skills_limits_and_presence(desk, wait_for):
    with trio.fail_after(40):
        async with desk() as desk:
            ann = await desk.agent("ann@example.com", "Ann", languages=["en"], skills=["billing"], maxChats=1)
            bert = await desk.agent("bert@example.com", "Bert", languages=["de"])
            cleo = await desk.agent("cleo@example.com", "Cleo", languages=["en"])
            await cleo.gateway.request(p.SetPresence(status="away", ref="away"))
            dan = await desk.agent(
                "dan@example.com", "Dan", connect=False, languages=["en"]
            )  # never connects

            german = await desk.customer(locale="de-DE")
            await german.send_text("Hallo, wo ist mein Paket?")
            await desk.assignee_becomes(german.conversation_id, bert.user["id"])
            frame = await bert.gateway.next_frame("assignment")
            assert (frame["action"], frame["conversation"]["id"]) == ("assigned", german.conversation_id)
            assert frame["reason"].startswith("least busy: Bert")

            billing = await desk.customer(locale="en", context={"skills": ["billing"]})
            await billing.send_text("I was charged twice")
            await desk.assignee_becomes(
                billing.conversation_id, ann.user["id"]
            )  # the only one with the skill

            # Ann is at her limit, Bert does not speak English, Cleo is away, Dan is offline: it waits
            english = await desk.customer(locale="en-GB")
            await english.send_text("Can I change my delivery address?")
            await wait_for(lambda: _queued(desk, english.conversation_id))
            await trio.sleep(0.5)  # several sweeps
            assert (await desk.conversation(english.conversation_id))["assigneeId"] is None
            assert dan.id not in [c["assigneeId"] for c in [await desk.conversation(english.conversation_id)]]

            # Cleo comes back: the backlog is drained at once
            await cleo.gateway.request(p.SetPresence(status="online", ref="back"))
            conversation = await desk.assignee_becomes(english.conversation_id, cleo.user["id"])
            assert conversation["status"] == "active"
            assert any(participant["id"] == cleo.user["id"] for participant in conversation["participants"])
            agents = {a["name"]: a for a in (await desk.admin.api.request("GET", "/api/agents"))["agents"]}
            assert (agents["Ann"]["load"], agents["Ann"]["limit"], agents["Ann"]["status"]) == (
                1,
                1,
                "online",
            )
            assert (agents["Cleo"]["load"], agents["Dan"]["status"]) == (1, "offline")


async def test_an_agent_who_frees_capacity_gets_the_next_waiting_conversation_at_once(desk, wait_for):
    with trio.fail_after(30):
        async with desk() as desk:
            ann = await desk.agent("ann@example.com", "Ann", maxChats=1)
            one = await desk.customer()
            await one.send_text("first question")
            await desk.assignee_becomes(one.conversation_id, ann.user["id"])
            two = await desk.customer()
            await two.send_text("second question")
            await wait_for(lambda: _queued(desk, two.conversation_id))
            await ann.api.request(
                "PUT", f"/api/conversations/{one.conversation_id}/status", json={"status": "resolved"}
            )
            await desk.assignee_becomes(two.conversation_id, ann.user["id"], timeout=5)


async def test_claim_and_a_concurrent_claim_conflict(desk, wait_for):
    with trio.fail_after(30):
        async with desk() as desk:
            customer = await desk.customer()
            await customer.send_text("anyone there?")
            await wait_for(lambda: _queued(desk, customer.conversation_id))
            ann = await desk.agent("ann@example.com", "Ann", connect=False)
            bea = await desk.agent("bea@example.com", "Bea", connect=False)
            sessions = []
            for user in (ann, bea):
                api = __import__("qandu.client").client.Api(desk.endpoints.http_url)
                await api.login(user.email, "secret-pass")
                sessions.append(api)
            results = []

            async def claim(api):
                try:
                    results.append(
                        await api.request("POST", f"/api/conversations/{customer.conversation_id}/claim")
                    )
                except ApiError as exc:
                    results.append(exc)

            async with trio.open_nursery() as nursery:
                for api in sessions:
                    nursery.start_soon(claim, api)
            for api in sessions:
                await api.aclose()
            won = [r for r in results if isinstance(r, dict)]
            lost = [r for r in results if isinstance(r, ApiError)]
            assert len(won) == 1 and len(lost) == 1
            assert (lost[0].status, lost[0].code) == (409, "conflict")
            assert await desk.queue() == []


async def test_transfer_to_an_agent_with_a_note_then_to_a_team_then_back_to_the_bot(desk, wait_for):
    with trio.fail_after(40):
        async with desk() as desk:
            ann = await desk.agent("ann@example.com", "Ann")
            customer = await desk.customer()
            cid = customer.conversation_id
            await customer.send_text("My order arrived damaged")
            await desk.assignee_becomes(cid, ann.user["id"])
            bert = await desk.agent("bert@example.com", "Bert", connect=False)

            moved = await ann.api.request(
                "POST",
                f"/api/conversations/{cid}/transfer",
                json={"agentId": bert.id, "note": "VIP, be gentle"},
            )
            assert moved["conversation"]["assigneeId"] == bert.id
            unassigned = await ann.gateway.next_frame("assignment")
            while unassigned["action"] != "unassigned":
                unassigned = await ann.gateway.next_frame("assignment")
            assert unassigned["conversation"]["id"] == cid
            staff_history = await ann.api.request("GET", f"/api/chat/history/{cid}")
            notes = [m for m in staff_history["messages"] if m.get("private")]
            assert [n["content"]["text"] for n in notes] == ["Transfer note: VIP, be gentle"]
            customer_history = await customer.history()
            assert not any(m.get("private") for m in customer_history["messages"])
            assert any(
                "transferred the conversation to Bert" in (m["content"].get("text") or "")
                for m in customer_history["messages"]
            )

            team = await desk.admin.api.request(
                "POST", "/api/teams", json={"name": "Returns", "memberIds": [ann.user["id"]]}
            )
            team_id = team["team"]["id"]
            await desk.admin.api.request(
                "POST", f"/api/conversations/{cid}/transfer", json={"teamId": team_id}
            )
            conversation = await desk.assignee_becomes(cid, ann.user["id"])  # the team's only member
            assert conversation["teamId"] == team_id

            back = await ann.api.request("POST", f"/api/conversations/{cid}/transfer", json={"bot": True})
            assert (back["conversation"]["assigneeId"], back["conversation"]["status"]) == (None, "active")
            handed_back = desk.events.named("conversation.handed_back")
            assert [e.data["fromAgentId"] for e in handed_back] == [ann.user["id"]]
            transfers = desk.events.named("conversation.transferred")
            assert [e.data.get("toAgentId") for e in transfers] == [bert.id, None]


async def test_transfer_errors_name_the_field(desk):
    with trio.fail_after(20):
        async with desk() as desk:
            customer = await desk.customer()
            cid = customer.conversation_id
            for body, field in (({"agentId": "nobody"}, "agentId"), ({"teamId": "nope"}, "teamId")):
                try:
                    await desk.admin.api.request("POST", f"/api/conversations/{cid}/transfer", json=body)
                except ApiError as exc:
                    assert (exc.status, exc.field) == (404, field)
                else:
                    raise AssertionError("expected an error")
            try:
                await desk.admin.api.request("POST", f"/api/conversations/{cid}/transfer", json={"note": "x"})
            except ApiError as exc:
                assert exc.status == 422
            else:
                raise AssertionError("expected an error")


async def test_conversations_of_an_agent_who_goes_offline_are_requeued(desk, wait_for):
    with trio.fail_after(40):
        async with desk() as desk:
            ann = await desk.agent("ann@example.com", "Ann")
            customer = await desk.customer()
            cid = customer.conversation_id
            await customer.send_text("help please")
            await desk.assignee_becomes(cid, ann.user["id"])
            # an explicit "offline" requeues at once
            await ann.api.request("PUT", "/api/agents/me/status", json={"status": "offline"})
            conversation = await desk.assignee_becomes(cid, None, timeout=5)
            assert conversation["status"] == "pending"
            assert cid in await desk.queue()
            assert desk.events.named("conversation.unassigned")[-1].data["reason"] == "agent went offline"

            # back online: hers again; then her console closes and, after the grace period, it is requeued
            await ann.api.request("PUT", "/api/agents/me/status", json={"status": "online"})
            await desk.assignee_becomes(cid, ann.user["id"])
            await ann.gateway.ws.aclose()
            await trio.sleep(0.2)
            assert (await desk.conversation(cid))["assigneeId"] == ann.user[
                "id"
            ]  # still within the grace period
            await desk.assignee_becomes(cid, None, timeout=8)
            assert await desk.status_is(ann.user["id"], "offline")
            assert cid in await desk.queue()
