"""The satisfaction survey: sent on every resolution, answered once over the API or the gateway."""

from __future__ import annotations

import pytest
import trio

from qandu.client import ApiError, new_id
from qandu.gateway import protocol as p

TIMEOUT = 20


async def _survey(client):
    """The next survey message the customer receives."""
    while True:
        frame = await client.gateway.next_frame("message.new")
        if (frame["message"]["content"].get("metadata") or {}).get("survey") == "csat":
            return frame["message"]


async def test_each_resolution_sends_a_survey_that_is_answered_once(desk):
    with trio.fail_after(TIMEOUT):
        async with desk() as d:
            ann = await d.customer(name="Ann", locale="de-DE")
            smith = await d.agent("smith@example.com", "Smith")
            cid = ann.conversation_id
            await smith.api.request("POST", f"/api/conversations/{cid}/join")
            await smith.send_text("All done!", conversation_id=cid)
            await smith.api.request("PUT", f"/api/conversations/{cid}/status", json={"status": "resolved"})

            survey = await _survey(ann)
            content = survey["content"]
            assert content["type"] == "action"
            assert content["text"].startswith("Danke")  # the demo bot's German [csat] text
            assert content["metadata"]["scale"] == {"min": 1, "max": 5}
            assert survey["sender"]["type"] == "system"

            with pytest.raises(ApiError) as error:
                await smith.api.request("POST", f"/api/conversations/{cid}/csat", json={"rating": 5})
            assert error.value.status == 403
            with pytest.raises(ApiError) as error:
                await ann.api.request("POST", f"/api/conversations/{cid}/csat", json={"rating": 6})
            assert (error.value.status, error.value.field) == (422, "rating")

            answer = await ann.api.request(
                "POST", f"/api/conversations/{cid}/csat", json={"rating": 4, "comment": "Quick, thanks"}
            )
            answered = answer["survey"]
            assert (answered["rating"], answered["comment"]) == (4, "Quick, thanks")
            assert answered["id"] == content["metadata"]["surveyId"]
            assert answered["agentId"] == smith.user["id"] and answered["messageId"] == survey["id"]
            seen = await smith.gateway.next_frame("csat.answered")
            assert seen["survey"]["rating"] == 4
            with pytest.raises(ApiError) as error:
                await ann.api.request("POST", f"/api/conversations/{cid}/csat", json={"rating": 1})
            assert (error.value.status, error.value.field) == (409, "rating")
            conversation = await smith.api.request("GET", f"/api/conversations/{cid}")
            assert conversation["conversation"]["status"] == "resolved"  # answering does not reopen

            # The customer writes again (reopens), the agent resolves again: a second survey,
            # answered over the gateway this time.
            await ann.send_text("one more thing")
            await smith.api.request("PUT", f"/api/conversations/{cid}/status", json={"status": "resolved"})
            second = await _survey(ann)
            assert second["content"]["metadata"]["surveyId"] != answered["id"]
            frame = p.SubmitCsat(conversation_id=cid, rating=2, comment=None, ref=new_id())
            assert (await ann.gateway.request(frame))["type"] == "ack"
            with pytest.raises(ApiError) as error:
                await ann.gateway.request(p.SubmitCsat(conversation_id=cid, rating=3, ref=new_id()))
            assert error.value.code == "conflict"

            surveys = (await smith.api.request("GET", f"/api/conversations/{cid}/csat"))["surveys"]
            assert [(s["rating"], s["comment"]) for s in surveys] == [(4, "Quick, thanks"), (2, None)]
            events = d.events.named("csat.submitted")
            assert [(e.data["rating"], e.data["agentId"]) for e in events] == [
                (4, smith.user["id"]),
                (2, smith.user["id"]),
            ]


async def test_surveys_can_be_turned_off(desk, frames):
    with trio.fail_after(TIMEOUT):
        async with desk(lifecycle={"csat_survey": False}) as d:
            ann = await d.customer()
            await ann.api.request(
                "PUT", f"/api/conversations/{ann.conversation_id}/status", json={"status": "resolved"}
            )
            assert [
                f
                for f in await frames(ann, "message.new", 0.5)
                if f["message"]["content"]["type"] == "action"
            ] == []
            with pytest.raises(ApiError) as error:
                await ann.api.request(
                    "POST", f"/api/conversations/{ann.conversation_id}/csat", json={"rating": 5}
                )
            assert (error.value.status, error.value.field) == (404, "surveyId")
