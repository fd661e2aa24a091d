"""Follow-ups: scheduled messages and reminders that fire exactly once, across restarts and nodes."""

from __future__ import annotations

import datetime as dt

import pytest
import trio

from qandu.client import ApiError, ChatClient
from qandu.domain import iso, utcnow
from qandu.testing import add_agent, make_app, running

TIMEOUT = 30
PASSWORD = "secret-pass"


def _in(seconds: float) -> str:
    return iso(utcnow() + dt.timedelta(seconds=seconds)) or ""


async def _followup_messages(client, conversation_id):
    history = await client.history(conversation_id, limit=200)
    return [m for m in history["messages"] if (m.get("clientMsgId") or "").startswith("followup-")]


async def test_a_scheduled_message_is_posted_as_the_agent_once(desk, wait_for):
    with trio.fail_after(TIMEOUT):
        async with desk() as d:
            ann = await d.customer()
            smith = await d.agent("smith@example.com", "Smith")
            cid = ann.conversation_id
            job = (
                await smith.api.request(
                    "POST",
                    f"/api/conversations/{cid}/followups",
                    json={"at": _in(0.6), "text": "Did the replacement arrive?"},
                )
            )["followup"]
            assert (job["status"], job["kind"]) == ("scheduled", "message")
            frame = await ann.gateway.next_frame("message.new")
            while frame["message"]["content"].get("text") != "Did the replacement arrive?":
                frame = await ann.gateway.next_frame("message.new")
            assert frame["message"]["sender"]["id"] == smith.user["id"]
            done = await wait_for(lambda: _status(smith, cid, "done"))
            assert done["messageId"] == frame["message"]["id"] and done["firedAt"] is not None
            await trio.sleep(0.3)
            assert len(await _followup_messages(smith, cid)) == 1
            assert [e.data["followupId"] for e in d.events.named("followup.fired")] == [job["id"]]


async def _status(client, conversation_id, status):
    jobs = (await client.api.request("GET", f"/api/conversations/{conversation_id}/followups"))["followups"]
    return next((job for job in jobs if job["status"] == status), None)


async def test_a_reminder_notifies_its_agent_and_cancelled_ones_never_fire(desk, wait_for, frames):
    with trio.fail_after(TIMEOUT):
        async with desk() as d:
            ann = await d.customer()
            smith = await d.agent("smith@example.com", "Smith")
            lee = await d.agent("lee@example.com", "Lee")
            cid = ann.conversation_id
            reminder = (
                await smith.api.request(
                    "POST",
                    f"/api/conversations/{cid}/followups",
                    json={"at": _in(0.5), "kind": "reminder", "text": "Call back about the refund"},
                )
            )["followup"]
            cancelled = (
                await smith.api.request(
                    "POST", f"/api/conversations/{cid}/followups", json={"at": _in(0.7), "text": "never sent"}
                )
            )["followup"]
            with pytest.raises(ApiError) as error:
                await lee.api.request("DELETE", f"/api/followups/{cancelled['id']}")
            assert error.value.status == 403
            gone = await smith.api.request("DELETE", f"/api/followups/{cancelled['id']}")
            assert gone["followup"]["status"] == "cancelled"

            frame = await smith.gateway.next_frame("reminder")
            notification = frame["notification"]
            assert notification["data"]["followupId"] == reminder["id"]
            assert notification["data"]["text"] == "Call back about the refund"
            assert await frames(lee, "reminder", 0.3) == []
            listed = await smith.api.request("GET", "/api/notifications")
            assert [n["kind"] for n in listed["notifications"]] == ["reminder"]
            await trio.sleep(0.5)
            assert await _followup_messages(smith, cid) == []
            with pytest.raises(ApiError) as error:
                await smith.api.request("DELETE", f"/api/followups/{reminder['id']}")
            assert error.value.status == 409


async def test_bad_follow_ups_are_refused(desk):
    with trio.fail_after(TIMEOUT):
        async with desk() as d:
            ann = await d.customer()
            smith = await d.agent("smith@example.com")
            path = f"/api/conversations/{ann.conversation_id}/followups"
            cases = [
                ({"at": _in(-5), "text": "x"}, "at"),
                ({"at": "2030-01-01T09:00:00", "text": "x"}, "at"),  # no time zone
                ({"at": "tomorrow", "text": "x"}, "at"),
                ({"at": _in(60)}, "text"),  # a message needs a text
                ({"at": _in(60), "kind": "call"}, "kind"),
            ]
            for body, field in cases:
                with pytest.raises(ApiError) as error:
                    await smith.api.request("POST", path, json=body)
                assert (error.value.status, error.value.field) == (422, field), body
            with pytest.raises(ApiError) as error:
                await ann.api.request("POST", path, json={"at": _in(60), "text": "x"})
            assert error.value.status == 403


async def test_a_follow_up_due_while_the_server_was_down_fires_once_after_restart(tmp_path):
    with trio.fail_after(TIMEOUT):
        first = make_app(tmp_path)
        async with running(first) as endpoints:
            await add_agent(first, "smith@example.com", PASSWORD, name="Smith")
            async with (
                ChatClient.initialize(endpoints.http_url) as ann,
                ChatClient.login(
                    endpoints.http_url, endpoints.ws_url, "smith@example.com", PASSWORD
                ) as smith,
            ):
                cid = ann.conversation_id
                job = (
                    await smith.api.request(
                        "POST",
                        f"/api/conversations/{cid}/followups",
                        json={"at": _in(1.0), "text": "Checking in after the weekend"},
                    )
                )["followup"]
        assert first.chat.teamwork.followups.fired == 0
        await trio.sleep(1.3)  # the job falls due while no server runs

        second = make_app(tmp_path)  # same SQLite file
        async with (
            running(second) as endpoints,
            ChatClient.login(endpoints.http_url, endpoints.ws_url, "smith@example.com", PASSWORD) as smith,
        ):
            with trio.fail_after(5):
                while (await _status(smith, cid, "done")) is None:
                    await trio.sleep(0.05)
            await trio.sleep(0.5)
            sent = await _followup_messages(smith, cid)
            assert [m["clientMsgId"] for m in sent] == [f"followup-{job['id']}"]
            assert sent[0]["content"]["text"] == "Checking in after the weekend"
        assert second.chat.teamwork.followups.fired == 1


async def test_two_nodes_on_one_database_fire_each_follow_up_once(tmp_path):
    with trio.fail_after(TIMEOUT):
        node_a, node_b = make_app(tmp_path), make_app(tmp_path)
        async with running(node_a) as a, running(node_b) as b:
            await add_agent(node_a, "smith@example.com", PASSWORD, name="Smith")
            async with (
                ChatClient.initialize(a.http_url) as ann,
                ChatClient.login(b.http_url, b.ws_url, "smith@example.com", PASSWORD) as smith,
            ):
                cid = ann.conversation_id
                for n in range(8):
                    await smith.api.request(
                        "POST",
                        f"/api/conversations/{cid}/followups",
                        json={"at": _in(0.4), "text": f"ping {n}"},
                    )
                node_a.chat.teamwork.followups._wake.set()  # node A did not see them scheduled
                with trio.fail_after(10):
                    while len(await _followup_messages(smith, cid)) < 8:
                        await trio.sleep(0.05)
                await trio.sleep(0.5)
                texts = sorted(m["content"]["text"] for m in await _followup_messages(smith, cid))
                assert texts == [f"ping {n}" for n in range(8)]
        fired = node_a.chat.teamwork.followups.fired + node_b.chat.teamwork.followups.fired
        assert fired == 8
