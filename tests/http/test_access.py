"""Accounts, agents' conversation handling, and who may read or change what."""

from __future__ import annotations

import trio

TIMEOUT = 20


async def test_login_and_me(http, agent):
    with trio.fail_after(TIMEOUT):
        smith = await agent("Smith@Example.com", name="Agent Smith")
        me = await smith.get("/api/me")
        assert me.status_code == 200
        assert me.json()["user"] == smith.user
        assert smith.user["role"] == "support" and smith.user["type"] == "agent"

        response = await http.post(
            "/api/auth/login", json={"email": "smith@example.com", "password": "wrong"}
        )
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
        response = await http.post("/api/auth/login", json={"email": "nobody@example.com", "password": "x"})
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"


async def test_customers_cannot_log_in_with_a_password(http, customer, site_hash):
    with trio.fail_after(TIMEOUT):
        await customer(site="shop", userId="7", userHash=site_hash("7"), email="carol@example.com")
        response = await http.post("/api/auth/login", json={"email": "carol@example.com", "password": ""})
        assert response.status_code == 422  # empty password: refused by the schema
        response = await http.post("/api/auth/login", json={"email": "carol@example.com", "password": "x"})
        assert response.status_code == 401


async def test_missing_or_bad_token(http, customer):
    with trio.fail_after(TIMEOUT):
        for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer nonsense"}):
            response = await http.get("/api/me", headers=headers)
            assert response.status_code == 401, headers
            assert response.json()["error"]["code"] == "unauthorized"
        response = await http.post("/api/chat/message", json={})
        assert response.status_code == 401  # auth is checked before the body


async def test_agent_lists_joins_and_changes_status(customer, agent):
    with trio.fail_after(TIMEOUT):
        ann = await customer(name="Ann")
        bob = await customer(name="Bob")
        smith = await agent("smith@example.com", name="Agent Smith")
        conversation_id = ann.conversation["id"]

        listed = (await smith.get("/api/conversations")).json()
        ids = [c["id"] for c in listed["conversations"]]
        assert ids == [bob.conversation["id"], conversation_id]  # newest activity first
        assert listed["nextBefore"] is None

        unassigned = (await smith.get("/api/conversations", params={"assignee": "none"})).json()
        assert len(unassigned["conversations"]) == 2
        mine = (await smith.get("/api/conversations", params={"assignee": "me"})).json()
        assert mine["conversations"] == []

        joined = await smith.post(f"/api/conversations/{conversation_id}/join")
        assert joined.status_code == 200, joined.text
        conversation = joined.json()["conversation"]
        assert conversation["assigneeId"] == smith.user["id"]
        assert smith.user["id"] in [p["id"] for p in conversation["participants"]]

        mine = (await smith.get("/api/conversations", params={"assignee": "me"})).json()
        assert [c["id"] for c in mine["conversations"]] == [conversation_id]
        by_id = (await smith.get("/api/conversations", params={"assignee": smith.user["id"]})).json()
        assert by_id == mine

        resolved = await smith.put(
            f"/api/conversations/{conversation_id}/status", json={"status": "resolved", "reason": "done"}
        )
        assert resolved.status_code == 200, resolved.text
        assert resolved.json()["conversation"]["status"] == "resolved"
        only_resolved = (await smith.get("/api/conversations", params={"status": "resolved"})).json()
        assert [c["id"] for c in only_resolved["conversations"]] == [conversation_id]

        detail = (await smith.get(f"/api/conversations/{conversation_id}")).json()
        assert detail["conversation"]["status"] == "resolved"
        assert (
            detail["statusHistory"][-1]["to"] == "resolved"
            and detail["statusHistory"][-1]["reason"] == "done"
        )

        archived = await smith.put(
            f"/api/conversations/{conversation_id}/status", json={"status": "archived"}
        )
        assert archived.status_code == 200
        bad = await smith.put(f"/api/conversations/{conversation_id}/status", json={"status": "pending"})
        assert bad.status_code == 409
        assert bad.json()["error"]["code"] == "invalid_transition"
        assert bad.json()["error"]["field"] == "status"

        left = await smith.post(f"/api/conversations/{conversation_id}/leave")
        assert left.status_code == 200
        again = await smith.post(f"/api/conversations/{conversation_id}/leave")
        assert again.status_code == 409


async def test_conversation_list_pages(customer, agent):
    with trio.fail_after(TIMEOUT):
        started = [(await customer()).conversation["id"] for _ in range(5)]
        smith = await agent("smith@example.com")
        seen: list[str] = []
        params: dict[str, object] = {"limit": 2}
        while True:
            page = (await smith.get("/api/conversations", params=params)).json()
            seen += [c["id"] for c in page["conversations"]]
            if page["nextBefore"] is None:
                break
            params["before"] = page["nextBefore"]
        assert seen == started[::-1]
        bad = await smith.get("/api/conversations", params={"before": "garbage"})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "before"


async def test_customer_is_confined_to_their_own_conversations(customer):
    with trio.fail_after(TIMEOUT):
        ann = await customer(name="Ann")
        bob = await customer(name="Bob")
        theirs = bob.conversation["id"]
        greeting = bob.extra["greeting"]["id"]

        own = (await ann.get("/api/conversations")).json()
        assert [c["id"] for c in own["conversations"]] == [ann.conversation["id"]]
        detail = (await ann.get(f"/api/conversations/{ann.conversation['id']}")).json()
        assert "statusHistory" not in detail  # staff only

        forbidden = [
            await ann.get(f"/api/chat/history/{theirs}"),
            await ann.get(f"/api/conversations/{theirs}"),
            await ann.send("let me in", conversation_id=theirs),
            await ann.put(f"/api/conversations/{theirs}/status", json={"status": "resolved"}),
            await ann.put(f"/api/chat/status/{greeting}", json={"status": "read"}),
            await ann.post(f"/api/messages/{greeting}/reactions", json={"emoji": "👍"}),
        ]
        for response in forbidden:
            assert response.status_code == 403, (response.request.url, response.text)
            assert response.json()["error"]["code"] == "forbidden"

        staff_only = [
            await ann.post(f"/api/conversations/{ann.conversation['id']}/join"),
            await ann.post(f"/api/conversations/{ann.conversation['id']}/leave"),
            await ann.put(f"/api/conversations/{ann.conversation['id']}/status", json={"status": "pending"}),
        ]
        assert [r.status_code for r in staff_only] == [403, 403, 403]

        missing = await ann.get("/api/chat/history/no-such-conversation")
        assert missing.status_code == 404 and missing.json()["error"]["field"] == "conversationId"

        resolved = await ann.put(
            f"/api/conversations/{ann.conversation['id']}/status", json={"status": "resolved"}
        )
        assert resolved.status_code == 200


async def test_edit_delete_and_react_permissions(customer, agent):
    with trio.fail_after(TIMEOUT):
        ann = await customer(name="Ann")
        bob = await customer(name="Bob")
        smith = await agent("smith@example.com")
        admin = await agent("root@example.com", role="admin", name="Admin")
        message = (await ann.send("helo")).json()["message"]
        url = f"/api/messages/{message['id']}"

        edited = await ann.patch(url, json={"text": "hello"})
        assert edited.status_code == 200, edited.text
        assert edited.json()["message"]["content"]["text"] == "hello"
        assert "editedAt" in edited.json()["message"]

        assert (await smith.patch(url, json={"text": "hacked"})).status_code == 403  # not the sender
        assert (await bob.patch(url, json={"text": "hacked"})).status_code == 403  # not a participant
        assert (await ann.patch(url, json={"text": "   "})).status_code == 422

        reacted = await ann.post(f"{url}/reactions", json={"emoji": "👍"})
        assert reacted.status_code == 200, reacted.text
        assert [r["emoji"] for r in reacted.json()["message"]["reactions"]] == ["👍"]
        staff_reaction = await smith.post(f"{url}/reactions", json={"emoji": "🎉"})
        assert len(staff_reaction.json()["message"]["reactions"]) == 2
        assert (await bob.post(f"{url}/reactions", json={"emoji": "👎"})).status_code == 403
        not_emoji = await ann.post(f"{url}/reactions", json={"emoji": "ok"})
        assert not_emoji.status_code == 422 and not_emoji.json()["error"]["field"] == "emoji"

        removed = await ann.delete(f"{url}/reactions/👍")
        assert removed.status_code == 200, removed.text
        assert [r["emoji"] for r in removed.json()["message"]["reactions"]] == ["🎉"]
        bad_path = await ann.delete(f"{url}/reactions/nope")
        assert bad_path.status_code == 422 and bad_path.json()["error"]["field"] == "emoji"

        assert (await smith.delete(url)).status_code == 403  # agents may not delete others' messages
        assert (await bob.delete(url)).status_code == 403
        deleted = await ann.delete(url)
        assert deleted.status_code == 200
        assert "deletedAt" in deleted.json()["message"]
        assert "text" not in deleted.json()["message"]["content"]
        assert (await ann.patch(url, json={"text": "back"})).status_code == 409

        other = (await ann.send("another")).json()["message"]
        by_admin = await admin.delete(f"/api/messages/{other['id']}")
        assert by_admin.status_code == 200 and "deletedAt" in by_admin.json()["message"]

        assert (await ann.delete("/api/messages/no-such-message")).status_code == 404
