"""Teams and inboxes changed and deleted over the API, and what that does to conversations."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from qandu.client import ApiError


async def _error(client: Any, method: str, path: str, **options: Any) -> tuple[int, str | None]:
    with pytest.raises(ApiError) as error:
        await client.api.request(method, path, **options)
    return error.value.status, error.value.field


async def _queued(desk, cid: str) -> bool:
    return cid in await desk.queue()


async def _teams_announced(gateway, agent_id: str, team_ids: list[str]) -> None:
    """Wait for an ``agent.updated`` frame saying ``agent_id`` is in exactly ``team_ids``."""
    frame = await gateway.next_frame("agent.updated")
    while (frame["agent"]["id"], frame["agent"]["teamIds"]) != (agent_id, team_ids):
        frame = await gateway.next_frame("agent.updated")


async def test_a_team_changed_over_the_api(desk, wait_for):
    with trio.fail_after(40):
        async with desk() as desk:
            ann = await desk.agent("ann@example.com", "Ann", connect=False)  # offline member
            bert = await desk.agent("bert@example.com", "Bert")  # online, not a member yet
            created = await desk.admin.api.request(
                "POST", "/api/teams", json={"name": "Billing", "memberIds": [ann.id]}
            )
            team_id = created["team"]["id"]
            await desk.admin.api.request("POST", "/api/teams", json={"name": "Shop"})
            await desk.admin.api.request("POST", "/api/inboxes", json={"name": "Web", "teamId": team_id})
            customer = await desk.customer()
            cid = customer.conversation_id
            await customer.send_text("I need help with my invoice")
            await wait_for(lambda: _queued(desk, cid))
            assert await desk.app.routing.drain() == 0  # only the team's (offline) agents may take it
            assert (await desk.conversation(cid))["assigneeId"] is None

            changed = await desk.admin.api.request(
                "PATCH",
                f"/api/teams/{team_id}",
                json={
                    "name": "Billing EU",
                    "memberIds": [ann.id, bert.user["id"]],
                    "businessHours": {"mon": ["08:00-18:00"]},
                    "timezone": "Europe/Berlin",
                },
            )
            team = changed["team"]
            assert (team["name"], team["memberIds"], team["timezone"]) == (
                "Billing EU",
                [ann.id, bert.user["id"]],
                "Europe/Berlin",
            )
            assert team["businessHours"]["mon"] == ["08:00-18:00"]
            # Bert's consoles (and every staff member) hear that he joined
            await _teams_announced(bert.gateway, bert.user["id"], [team_id])
            # only the fields given change; null hours mean always open, so the router gives it to Bert
            reopened = await desk.admin.api.request(
                "PATCH", f"/api/teams/{team_id}", json={"businessHours": None}
            )
            assert (reopened["team"]["businessHours"], reopened["team"]["name"]) == (None, "Billing EU")
            assert (reopened["team"]["timezone"], reopened["team"]["memberIds"]) == (
                "Europe/Berlin",
                [ann.id, bert.user["id"]],
            )
            conversation = await desk.assignee_becomes(cid, bert.user["id"])
            assert conversation["teamId"] == team_id

            # Ann leaves the team: she is told through agent.updated, and the team keeps Bert
            await desk.admin.api.request(
                "PATCH", f"/api/teams/{team_id}", json={"memberIds": [bert.user["id"]]}
            )
            await _teams_announced(desk.admin.gateway, ann.id, [])
            got = await desk.admin.api.request("GET", f"/api/teams/{team_id}")
            assert got["team"]["memberIds"] == [bert.user["id"]]

            path = f"/api/teams/{team_id}"
            assert await _error(desk.admin, "PATCH", path, json={"name": "Shop"}) == (409, "name")
            stranger = customer.user["id"]
            body = {"memberIds": [bert.user["id"], stranger]}
            assert await _error(desk.admin, "PATCH", path, json=body) == (404, "memberIds.1")
            assert await _error(desk.admin, "PATCH", path, json={"timezone": "Mars/Olympus"}) == (
                422,
                "timezone",
            )
            for spans in (["9-5"], ["08:00-12:00", "18:00-08:00"]):
                hours = {"businessHours": {"mon": spans}}
                field = f"businessHours.mon.{len(spans) - 1}"
                assert await _error(desk.admin, "PATCH", path, json=hours) == (422, field)
            assert await _error(desk.admin, "PATCH", path, json={"name": ""}) == (422, "name")
            assert (await _error(desk.admin, "PATCH", path, json={}))[0] == 422
            assert await _error(desk.admin, "PATCH", "/api/teams/nope", json={"name": "X"}) == (
                404,
                "teamId",
            )
            assert (await _error(bert, "PATCH", path, json={"name": "Mine"}))[0] == 403
            assert (await desk.admin.api.request("GET", path))["team"]["name"] == "Billing EU"


async def test_deleting_a_team_leaves_its_conversations_waiting_for_anyone(desk, wait_for):
    with trio.fail_after(40):
        async with desk() as desk:
            ann = await desk.agent("ann@example.com", "Ann", connect=False)  # offline member
            created = await desk.admin.api.request(
                "POST", "/api/teams", json={"name": "Billing", "memberIds": [ann.id]}
            )
            team_id = created["team"]["id"]
            inbox = await desk.admin.api.request(
                "POST", "/api/inboxes", json={"name": "Web", "source": "widget", "teamId": team_id}
            )
            customer = await desk.customer(source="widget")
            cid = customer.conversation_id
            await customer.send_text("I need help with my invoice")
            await wait_for(lambda: _queued(desk, cid))
            assert (await desk.conversation(cid))["teamId"] == team_id
            bert = await desk.agent("bert@example.com", "Bert")  # online, not in the team
            assert await desk.app.routing.drain() == 0  # Bert is not in the team
            assert (await desk.conversation(cid))["assigneeId"] is None

            assert (await _error(bert, "DELETE", f"/api/teams/{team_id}"))[0] == 403
            deleted = await desk.admin.api.request("DELETE", f"/api/teams/{team_id}")
            assert deleted == {"deleted": team_id}

            # staff consoles hear it: the conversation (still waiting, now without a team), the
            # queue entry and the former member
            update = await desk.admin.gateway.next_frame("queue.updated")
            while not update["updated"]:  # skip the delta of its joining the queue
                update = await desk.admin.gateway.next_frame("queue.updated")
            assert [c["id"] for c in update["updated"]] == [cid] and "teamId" not in update["updated"][0]
            assert (update["added"], update["removed"], update["total"]) == ([], [], 1)
            changed = await desk.admin.gateway.next_frame("conversation.updated")
            while changed["conversation"]["id"] != cid or "teamId" in changed["conversation"]:
                changed = await desk.admin.gateway.next_frame("conversation.updated")
            await _teams_announced(desk.admin.gateway, ann.id, [])
            # the team no longer holds it back: the router gives it to Bert
            conversation = await desk.assignee_becomes(cid, bert.user["id"])
            assert "teamId" not in conversation
            inboxes = (await desk.admin.api.request("GET", "/api/inboxes"))["inboxes"]
            assert [(i["id"], i["teamId"]) for i in inboxes] == [(inbox["inbox"]["id"], None)]
            assert (await desk.admin.api.request("GET", "/api/teams"))["teams"] == []
            later = await desk.customer(source="widget")
            assert "teamId" not in await desk.conversation(later.conversation_id)

            path = f"/api/teams/{team_id}"
            assert await _error(desk.admin, "GET", path) == (404, "teamId")
            assert await _error(desk.admin, "DELETE", path) == (404, "teamId")
            assert await _error(desk.admin, "PATCH", path, json={"name": "Again"}) == (404, "teamId")
            body = {"name": "Old", "teamId": team_id}
            assert await _error(desk.admin, "POST", "/api/inboxes", json=body) == (404, "teamId")
            transfer = f"/api/conversations/{cid}/transfer"
            assert await _error(desk.admin, "POST", transfer, json={"teamId": team_id}) == (404, "teamId")


async def test_an_inbox_changed_and_deleted_over_the_api(desk):
    with trio.fail_after(30):
        async with desk() as desk:
            agent = await desk.agent("ann@example.com", "Ann")
            first = (await desk.admin.api.request("POST", "/api/teams", json={"name": "First"}))["team"]
            second = (await desk.admin.api.request("POST", "/api/teams", json={"name": "Second"}))["team"]
            web = await desk.admin.api.request(
                "POST", "/api/inboxes", json={"name": "Web", "source": "widget", "teamId": first["id"]}
            )
            inbox_id = web["inbox"]["id"]
            await desk.admin.api.request("POST", "/api/inboxes", json={"name": "Mail", "source": "email"})
            before = await desk.customer(source="widget")
            assert (await desk.conversation(before.conversation_id))["teamId"] == first["id"]

            moved = await desk.admin.api.request(
                "PATCH", f"/api/inboxes/{inbox_id}", json={"teamId": second["id"], "bot": None}
            )
            assert moved["inbox"] == {
                "id": inbox_id,
                "name": "Web",
                "source": "widget",
                "bot": None,
                "teamId": second["id"],
            }
            after = await desk.customer(source="widget")
            assert (await desk.conversation(after.conversation_id))["teamId"] == second["id"]
            # a change applies to conversations started afterwards
            assert (await desk.conversation(before.conversation_id))["teamId"] == first["id"]
            renamed = await desk.admin.api.request("PATCH", f"/api/inboxes/{inbox_id}", json={"name": "Site"})
            assert (renamed["inbox"]["name"], renamed["inbox"]["teamId"]) == ("Site", second["id"])

            path = f"/api/inboxes/{inbox_id}"
            assert await _error(desk.admin, "PATCH", path, json={"teamId": "nope"}) == (404, "teamId")
            assert await _error(desk.admin, "PATCH", path, json={"name": "Mail"}) == (409, "name")
            assert await _error(desk.admin, "PATCH", path, json={"source": ""}) == (422, "source")
            assert await _error(desk.admin, "PATCH", path, json={"colour": "red"}) == (422, "colour")
            assert (await _error(desk.admin, "PATCH", path, json={}))[0] == 422
            assert await _error(desk.admin, "PATCH", "/api/inboxes/nope", json={"name": "X"}) == (
                404,
                "inboxId",
            )
            assert (await _error(agent, "PATCH", path, json={"name": "Mine"}))[0] == 403
            assert (await _error(agent, "DELETE", path))[0] == 403

            assert await desk.admin.api.request("DELETE", path) == {"deleted": inbox_id}
            names = [i["name"] for i in (await desk.admin.api.request("GET", "/api/inboxes"))["inboxes"]]
            assert names == ["Mail"]
            gone = await desk.customer(source="widget")
            assert "teamId" not in await desk.conversation(gone.conversation_id)
            assert (await desk.conversation(after.conversation_id))["teamId"] == second["id"]
            assert await _error(desk.admin, "DELETE", path) == (404, "inboxId")
            assert await _error(desk.admin, "PATCH", path, json={"name": "Back"}) == (404, "inboxId")
