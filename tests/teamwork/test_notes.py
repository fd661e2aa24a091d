"""Private notes with @mentions, notifications, canned responses and reply threads."""

from __future__ import annotations

import pytest
import trio

from qandu.client import ApiError, new_id
from qandu.domain import User
from qandu.gateway import protocol as p
from qandu.teamwork.service import mentioned

TIMEOUT = 20


def _staff(*people: tuple[str, str]) -> list[User]:
    return [
        User(id=f"u{i}", kind="agent", role="support", name=name, email=email)
        for i, (name, email) in enumerate(people)
    ]


def test_mentions_by_email_full_name_and_handle():
    ann, anna, bo = _staff(
        ("Ann Lee", "ann@example.com"), ("Ann", "anna@example.com"), ("Bo Berg", "bo@x.org")
    )
    staff = [ann, anna, bo]
    assert mentioned("@Ann Lee can you check?", staff) == [ann]
    assert {u.id for u in mentioned("ask @ann and @bo@x.org.", staff)} == {anna.id, bo.id}
    assert {u.id for u in mentioned("@anna, @BO BERG!", staff)} == {anna.id, bo.id}
    assert mentioned("@annabelle is not here; mail ann@example.com", staff) == []
    assert mentioned("no mentions at all", staff) == []


async def test_private_notes_reach_staff_only_and_mentions_notify_the_agent(desk, frames):
    with trio.fail_after(TIMEOUT):
        async with desk() as d:
            ann = await d.customer(name="Ann")
            smith = await d.agent("smith@example.com", "Jo Smith")
            lee = await d.agent("lee@example.com", "Kim Lee")
            cid = ann.conversation_id
            await smith.api.request("POST", f"/api/conversations/{cid}/join")
            await lee.gateway.request(_subscribe(cid))
            public = await smith.send_text("Hi Ann, looking into it", conversation_id=cid)
            note = await smith.send_text(
                "@Kim Lee could you check the refund? cc @smith", conversation_id=cid, private=True
            )
            assert note["private"] is True

            customer_sees = [f["message"]["id"] for f in await frames(ann, "message.new", 0.5)]
            assert public["id"] in customer_sees and note["id"] not in customer_sees
            history = await ann.history(cid)
            assert note["id"] not in [m["id"] for m in history["messages"]]
            with pytest.raises(ApiError) as error:
                await ann.api.request("GET", f"/api/messages/{note['id']}/thread")
            assert error.value.status == 404
            staff_history = await lee.history(cid)
            assert note["id"] in [m["id"] for m in staff_history["messages"]]

            mention = await lee.gateway.next_frame("mention")
            notification = mention["notification"]
            assert notification["kind"] == "mention"
            assert (notification["conversationId"], notification["messageId"]) == (cid, note["id"])
            assert notification["actorId"] == smith.user["id"]
            assert notification["data"]["excerpt"].startswith("@Kim Lee")
            assert await frames(smith, "mention", 0.3) == []  # mentioning yourself notifies nobody

            listed = await lee.api.request("GET", "/api/notifications", params={"unread": "true"})
            assert listed["unread"] == 1 and [n["id"] for n in listed["notifications"]] == [
                notification["id"]
            ]
            marked = await lee.api.request(
                "POST", "/api/notifications/read", json={"ids": [notification["id"]]}
            )
            assert marked == {"marked": 1}
            listed = await lee.api.request("GET", "/api/notifications")
            assert listed["unread"] == 0 and listed["notifications"][0]["readAt"] is not None
            assert (await smith.api.request("GET", "/api/notifications"))["notifications"] == []
            with pytest.raises(ApiError) as error:
                await ann.api.request("GET", "/api/notifications")
            assert error.value.status == 403
            assert [e.data["agentId"] for e in d.events.named("note.mentioned")] == [lee.user["id"]]


def _subscribe(conversation_id):
    from qandu.client import new_id
    from qandu.gateway import protocol as p

    return p.Subscribe(conversation_id=conversation_id, ref=new_id())


async def test_admins_manage_canned_responses_and_agents_search_them(desk):
    with trio.fail_after(TIMEOUT):
        async with desk() as d:
            boss = await d.agent("boss@example.com", "Boss", role="admin")
            smith = await d.agent("smith@example.com", "Smith")
            made = []
            for body in (
                {"shortcut": "refund", "text": "Your refund is on its way.", "language": "en"},
                {"shortcut": "refund", "text": "Deine Erstattung ist unterwegs.", "language": "de"},
                {"shortcut": "hours", "text": "We are open 8-18 CET."},
            ):
                made.append(
                    (await boss.api.request("POST", "/api/canned-responses", json=body))["cannedResponse"]
                )
            assert made[2]["language"] is None
            with pytest.raises(ApiError) as error:
                await boss.api.request(
                    "POST",
                    "/api/canned-responses",
                    json={"shortcut": "refund", "text": "x", "language": "en"},
                )
            assert (error.value.status, error.value.field) == (409, "shortcut")
            with pytest.raises(ApiError) as error:
                await smith.api.request(
                    "POST", "/api/canned-responses", json={"shortcut": "mine", "text": "x"}
                )
            assert error.value.status == 403
            with pytest.raises(ApiError) as error:
                await boss.api.request(
                    "POST", "/api/canned-responses", json={"shortcut": "Bad Name", "text": "x"}
                )
            assert (error.value.status, error.value.field) == (422, "shortcut")

            async def shortcuts(**params):
                found = await smith.api.request("GET", "/api/canned-responses", params=params)
                return [(c["shortcut"], c["language"]) for c in found["cannedResponses"]]

            assert await shortcuts() == [("hours", None), ("refund", "de"), ("refund", "en")]
            assert await shortcuts(language="de") == [("hours", None), ("refund", "de")]
            assert await shortcuts(q="ref") == [("refund", "de"), ("refund", "en")]
            assert await shortcuts(q="open 8") == [("hours", None)]

            changed = await boss.api.request(
                "PATCH",
                f"/api/canned-responses/{made[2]['id']}",
                json={"text": "Open 9-17.", "language": "en"},
            )
            assert (changed["cannedResponse"]["text"], changed["cannedResponse"]["language"]) == (
                "Open 9-17.",
                "en",
            )
            await boss.api.request("DELETE", f"/api/canned-responses/{made[0]['id']}")
            assert await shortcuts(language="en") == [("hours", "en")]
            with pytest.raises(ApiError) as error:
                await boss.api.request("DELETE", f"/api/canned-responses/{made[0]['id']}")
            assert error.value.status == 404


async def test_replies_form_a_thread(desk):
    with trio.fail_after(TIMEOUT):
        async with desk() as d:
            ann = await d.customer()
            smith = await d.agent("smith@example.com")
            cid = ann.conversation_id
            question = await ann.send_text("Two questions: shipping and returns?")
            await ann.send_text("unrelated")
            shipping = await smith.send_text(
                "Shipping takes 2 days", conversation_id=cid, reply_to=question["id"]
            )
            returns = await smith.send_text("Returns: 30 days", conversation_id=cid, reply_to=question["id"])
            thanks = await ann.send_text("thanks for the shipping info", reply_to=shipping["id"])
            hidden = await smith.send_text(
                "internal: check stock", conversation_id=cid, reply_to=returns["id"], private=True
            )

            for start in (question, thanks):
                thread = await smith.api.request("GET", f"/api/messages/{start['id']}/thread")
                assert thread["root"]["id"] == question["id"]
                assert [m["id"] for m in thread["replies"]] == [
                    shipping["id"],
                    returns["id"],
                    thanks["id"],
                    hidden["id"],
                ]
            thread = await ann.api.request("GET", f"/api/messages/{thanks['id']}/thread")
            assert [m["id"] for m in thread["replies"]] == [shipping["id"], returns["id"], thanks["id"]]
            with pytest.raises(ApiError) as error:
                await ann.api.request("GET", "/api/messages/nope/thread")
            assert error.value.status == 404


async def test_editing_a_note_notifies_only_the_agents_it_newly_mentions(desk, frames):
    with trio.fail_after(TIMEOUT):
        async with desk() as d:
            ann = await d.customer(name="Ann")
            smith = await d.agent("smith@example.com", "Jo Smith")
            lee = await d.agent("lee@example.com", "Kim Lee")
            park = await d.agent("park@example.com", "Sam Park")
            cid = ann.conversation_id
            await smith.api.request("POST", f"/api/conversations/{cid}/join")
            note = await smith.send_text("@Kim Lee can you check?", conversation_id=cid, private=True)
            first = (await lee.gateway.next_frame("mention"))["notification"]
            assert first["messageId"] == note["id"]

            # over the gateway, as the console edits: Sam is new, Kim was notified already
            edit = p.EditMessage(message_id=note["id"], text="@Kim Lee can you check? cc @park", ref=new_id())
            edited = await smith.gateway.request(edit)
            assert edited["message"]["content"]["text"].endswith("cc @park")
            mention = (await park.gateway.next_frame("mention"))["notification"]
            assert (mention["conversationId"], mention["messageId"]) == (cid, note["id"])
            assert mention["actorId"] == smith.user["id"]
            assert mention["data"]["excerpt"] == "@Kim Lee can you check? cc @park"

            # over HTTP; mentioning both again (and the author) notifies nobody
            await smith.api.request(
                "PATCH", f"/api/messages/{note['id']}", json={"text": "@park @Kim Lee @smith: done?"}
            )
            assert await frames(lee, "mention", 0.5) == []
            assert await frames(park, "mention", 0.1) == []
            assert await frames(smith, "mention", 0.1) == []
            for agent, expected in ((lee, [first["id"]]), (park, [mention["id"]]), (smith, [])):
                listed = await agent.api.request("GET", "/api/notifications")
                assert [n["id"] for n in listed["notifications"]] == expected
            assert [e.data["agentId"] for e in d.events.named("note.mentioned")] == [
                lee.user["id"],
                park.user["id"],
            ]

            # a public message edited to mention someone is not a note: no notification
            public = await smith.send_text("Hello Ann", conversation_id=cid)
            await smith.api.request("PATCH", f"/api/messages/{public['id']}", json={"text": "Hi @Sam Park"})
            assert await frames(park, "mention", 0.5) == []
            listed = await park.api.request("GET", "/api/notifications")
            assert [n["id"] for n in listed["notifications"]] == [mention["id"]]
