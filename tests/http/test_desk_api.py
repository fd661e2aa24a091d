"""The console's extra operations: a customer's conversations, and unread counts from read marks."""

from __future__ import annotations

from typing import Any

import httpx
import trio
from jsonschema import Draft202012Validator

TIMEOUT = 20


class Documented:
    """Checks each response against the schema the served OpenAPI document gives for its status."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def __call__(self, template: str, response: httpx.Response, status: int = 200) -> dict[str, Any]:
        assert response.status_code == status, response.text
        operation = self.document["paths"][template]["get"]
        schema = operation["responses"][str(status)]["content"]["application/json"]["schema"]
        validator = Draft202012Validator({**schema, "components": self.document["components"]})
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(response.json())]
        assert errors == [], f"GET {template} {status}"
        return response.json()


CONVERSATIONS = "/api/customers/{customerId}/conversations"
UNREAD = "/api/me/unread"


async def test_staff_list_a_customers_conversations(http, customer, agent, site_hash):
    with trio.fail_after(TIMEOUT):
        check = Documented((await http.get("/api/openapi.json")).json())
        first = await customer(site="shop", userId="7", userHash=site_hash("7"), name="Carol")
        other = await customer(name="Bob")
        second = await customer(site="shop", userId="7", userHash=site_hash("7"), name="Carol")
        assert first.user["id"] == second.user["id"]
        carol = first.user["id"]
        smith = await agent("smith@example.com")

        listed = check(CONVERSATIONS, await smith.get(f"/api/customers/{carol}/conversations"))
        ids = [c["id"] for c in listed["conversations"]]
        assert ids == [second.conversation["id"], first.conversation["id"]]  # newest first, not Bob's
        assert listed["nextBefore"] is None
        assert other.conversation["id"] not in ids

        page = check(
            CONVERSATIONS, await smith.get(f"/api/customers/{carol}/conversations", params={"limit": 1})
        )
        assert [c["id"] for c in page["conversations"]] == ids[:1] and page["nextBefore"]
        rest = await smith.get(
            f"/api/customers/{carol}/conversations", params={"limit": 1, "before": page["nextBefore"]}
        )
        assert [c["id"] for c in check(CONVERSATIONS, rest)["conversations"]] == ids[1:]

        # customers may not look up anyone, themselves included; unknown and staff ids are 404
        refused = await first.get(f"/api/customers/{carol}/conversations")
        assert check(CONVERSATIONS, refused, 403)["error"]["code"] == "forbidden"
        for unknown in ("u_nobody", smith.user["id"]):
            missing = await smith.get(f"/api/customers/{unknown}/conversations")
            assert check(CONVERSATIONS, missing, 404)["error"]["field"] == "customerId"


async def _unread(session: Any, check: Documented) -> dict[str, int]:
    found = check(UNREAD, await session.get(UNREAD))["conversations"]
    return {row["conversationId"]: row["unread"] for row in found}


async def _read_all(session: Any, conversation_id: str) -> None:
    history = (await session.get(f"/api/chat/history/{conversation_id}")).json()["messages"]
    latest = max(history, key=lambda m: m["seq"])
    response = await session.put(f"/api/chat/status/{latest['id']}", json={"status": "read"})
    assert response.status_code == 200, response.text


async def test_unread_counts_follow_read_marks(http, customer, agent):
    with trio.fail_after(TIMEOUT):
        check = Documented((await http.get("/api/openapi.json")).json())
        ann = await customer(name="Ann")
        cid = ann.conversation["id"]
        smith = await agent("smith@example.com", name="Agent Smith")
        lee = await agent("lee@example.com", name="Kim Lee")
        assert await _unread(smith, check) == {}  # not a participant yet

        assert (await smith.post(f"/api/conversations/{cid}/join")).status_code == 200
        # the bot's greeting is unread; the "joined" notice is not counted
        assert await _unread(smith, check) == {cid: 1}
        for text in ("hello?", "anyone there?"):
            assert (await ann.send(text)).status_code == 201
        assert await _unread(smith, check) == {cid: 3}

        await _read_all(smith, cid)
        assert await _unread(smith, check) == {}
        assert (await smith.send("Hi Ann, Smith here.", conversation_id=cid)).status_code == 201
        assert await _unread(smith, check) == {}  # one's own messages are never unread
        assert await _unread(ann, check) == {cid: 2}  # the customer has read neither greeting nor reply

        # a colleague's private note counts for staff only
        assert (
            await lee.send("@Agent Smith can you check?", conversation_id=cid, private=True)
        ).status_code == 201
        assert (await ann.send("thanks")).status_code == 201
        assert await _unread(smith, check) == {cid: 2}
        assert await _unread(ann, check) == {cid: 2}  # not the note, not their own message
        found = check(UNREAD, await smith.get(UNREAD))["conversations"]
        assert found[0]["readSeq"] < found[0]["lastSeq"]

        # archived conversations drop out
        for status in ("resolved", "archived"):
            changed = await smith.put(f"/api/conversations/{cid}/status", json={"status": status})
            assert changed.status_code == 200, changed.text
        assert await _unread(smith, check) == {}
