"""The widget's endpoints: initialize, send (idempotent), history paging, receipts."""

from __future__ import annotations

import trio

TIMEOUT = 20


async def test_initialize_anonymous(http, endpoints):
    with trio.fail_after(TIMEOUT):
        response = await http.post(
            "/api/chat/initialize",
            json={
                "name": "Ann",
                "email": "ann@example.com",
                "context": {"page": "/pricing"},
                "source": "widget",
            },
        )
        assert response.status_code == 201, response.text
        data = response.json()
        assert data["user"]["role"] == "customer" and data["user"]["type"] == "user"
        assert data["user"]["name"] == "Ann"
        assert "email" not in data["user"]  # unverified: kept in the context only
        conversation = data["conversation"]
        assert conversation["status"] == "active" and conversation["bot"] == "testbot"
        assert conversation["metadata"] == {
            "source": "widget",
            "context": {"page": "/pricing", "email": "ann@example.com"},
        }
        assert data["gatewayUrl"] == endpoints.ws_url
        assert data["greeting"]["content"]["text"] == "Hello! How can I help?"
        assert data["greeting"]["seq"] == 1

        me = await http.get("/api/me", headers={"Authorization": f"Bearer {data['token']}"})
        assert me.json() == {"user": data["user"]}


async def test_initialize_defaults_and_locale(http):
    with trio.fail_after(TIMEOUT):
        first = (await http.post("/api/chat/initialize", json={})).json()
        assert first["user"]["name"] == "Visitor"
        assert first["conversation"]["metadata"] == {"source": "api"}
        german = (await http.post("/api/chat/initialize", json={"locale": "de-AT"})).json()
        assert german["greeting"]["content"]["text"] == "Hallo! Wie kann ich helfen?"
        assert german["user"]["id"] != first["user"]["id"]


async def test_initialize_empty_body_is_an_empty_object(http):
    with trio.fail_after(TIMEOUT):
        response = await http.post("/api/chat/initialize")
        assert response.status_code == 201, response.text


async def test_initialize_unknown_bot(http):
    with trio.fail_after(TIMEOUT):
        response = await http.post("/api/chat/initialize", json={"bot": "nobody"})
        assert response.status_code == 404
        assert response.json()["error"]["field"] == "bot"


async def test_site_verified_customer_is_the_same_user_on_every_device(http, site_hash):
    with trio.fail_after(TIMEOUT):
        body = {
            "site": "shop",
            "userId": "42",
            "userHash": site_hash("42"),
            "name": "Bob",
            "email": "bob@x.org",
        }
        first = (await http.post("/api/chat/initialize", json=body)).json()
        second = (await http.post("/api/chat/initialize", json=body)).json()
        assert first["user"]["id"] == second["user"]["id"]
        assert first["user"]["email"] == "bob@x.org"
        assert first["conversation"]["id"] != second["conversation"]["id"]
        other = {**body, "userId": "43", "userHash": site_hash("43")}
        third = (await http.post("/api/chat/initialize", json=other)).json()
        assert third["user"]["id"] != first["user"]["id"]
        assert "email" not in third["user"]  # bob@x.org is taken: not given to another user


async def test_site_verification_failures(http, site_hash):
    with trio.fail_after(TIMEOUT):
        bad = {"site": "shop", "userId": "42", "userHash": site_hash("42", "wrong secret")}
        response = await http.post("/api/chat/initialize", json=bad)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.json()["error"]["field"] == "userHash"

        response = await http.post("/api/chat/initialize", json={**bad, "site": "elsewhere"})
        assert response.status_code == 401
        assert response.json()["error"]["field"] == "site"

        response = await http.post("/api/chat/initialize", json={"site": "shop", "userId": "42"})
        assert response.status_code == 422
        assert response.json()["error"]["field"] == "userHash"
        assert "userHash" in response.json()["error"]["message"]


async def test_token_resumes_the_customer(http, customer, site_hash):
    with trio.fail_after(TIMEOUT):
        ann = await customer(name="Ann")
        response = await http.post("/api/chat/initialize", json={"token": ann.token})
        assert response.status_code == 201
        data = response.json()
        assert data["user"]["id"] == ann.user["id"]
        assert data["conversation"]["id"] != ann.conversation["id"]

        response = await http.post("/api/chat/initialize", json={"token": "not-a-token"})
        assert response.status_code == 401
        assert response.json()["error"]["field"] == "token"

        both = {"token": ann.token, "site": "shop", "userId": "1", "userHash": site_hash("1")}
        response = await http.post("/api/chat/initialize", json=both)
        assert response.status_code == 422
        assert response.json()["error"]["field"] == "token"


async def test_staff_token_cannot_be_resumed_as_customer(http, agent):
    with trio.fail_after(TIMEOUT):
        smith = await agent("smith@example.com")
        response = await http.post("/api/chat/initialize", json={"token": smith.token})
        assert response.status_code == 401
        assert response.json()["error"]["field"] == "token"


async def test_send_message_and_idempotent_resend(customer):
    with trio.fail_after(TIMEOUT):
        ann = await customer()
        first = await ann.send("hello", clientMsgId="m-1")
        assert first.status_code == 201, first.text
        message = first.json()["message"]
        assert message["content"] == {"type": "text", "text": "hello"}
        assert message["seq"] == 2 and message["clientMsgId"] == "m-1"
        assert message["sender"]["id"] == ann.user["id"]

        again = await ann.send("hello", clientMsgId="m-1")
        assert again.status_code == 200
        assert again.json()["message"]["id"] == message["id"]
        assert again.json()["message"]["seq"] == message["seq"]

        reply = await ann.send("and more", clientMsgId="m-2", replyTo=message["id"])
        assert reply.status_code == 201
        assert reply.json()["message"]["replyTo"] == message["id"]


async def test_customer_cannot_write_private_notes_or_reply_to_unknown(customer):
    with trio.fail_after(TIMEOUT):
        ann = await customer()
        response = await ann.send("psst", private=True)
        assert response.status_code == 403
        assert response.json()["error"]["field"] == "private"
        response = await ann.send("re", replyTo="no-such-message")
        assert response.status_code == 404
        assert response.json()["error"]["field"] == "replyTo"
        response = await ann.send("file", attachments=["a1"])  # not an upload of hers
        assert response.status_code == 404
        assert response.json()["error"]["field"] == "attachments.0"


async def _conversation_with_messages(customer, agent, count: int):
    """A conversation an agent owns (so the bot stays quiet) with ``count`` customer messages."""
    ann = await customer()
    smith = await agent("smith@example.com")
    joined = await smith.post(f"/api/conversations/{ann.conversation['id']}/join")
    assert joined.status_code == 200, joined.text
    for i in range(count):
        assert (await ann.send(f"message {i}")).status_code == 201
    return ann, smith


async def test_history_pages_backwards_and_forwards(customer, agent):
    with trio.fail_after(TIMEOUT):
        ann, _ = await _conversation_with_messages(customer, agent, 10)
        url = f"/api/chat/history/{ann.conversation['id']}"
        # greeting (1), "Agent Smith joined" (2), then the customer's 3..12
        newest = (await ann.get(url, params={"limit": 5})).json()
        assert [m["seq"] for m in newest["messages"]] == [8, 9, 10, 11, 12]
        assert newest["hasMore"] is True and newest["nextBefore"] == 8 and newest["nextAfter"] is None

        seen = [m["seq"] for m in newest["messages"]]
        cursor = newest["nextBefore"]
        while cursor is not None:
            page = (await ann.get(url, params={"limit": 5, "before": cursor})).json()
            seen = [m["seq"] for m in page["messages"]] + seen
            cursor = page["nextBefore"]
        assert seen == list(range(1, 13))
        assert page["hasMore"] is False

        forward = (await ann.get(url, params={"after": 0, "limit": 4})).json()
        assert [m["seq"] for m in forward["messages"]] == [1, 2, 3, 4]
        assert forward["hasMore"] is True and forward["nextAfter"] == 4 and forward["nextBefore"] is None
        seen = [m["seq"] for m in forward["messages"]]
        while forward["nextAfter"] is not None:
            forward = (await ann.get(url, params={"after": forward["nextAfter"], "limit": 4})).json()
            seen += [m["seq"] for m in forward["messages"]]
        assert seen == list(range(1, 13))

        window = (await ann.get(url, params={"after": 3, "before": 7})).json()
        assert [m["seq"] for m in window["messages"]] == [4, 5, 6]
        assert window["hasMore"] is False

        default = (await ann.get(url)).json()
        assert len(default["messages"]) == 12 and default["hasMore"] is False


async def test_private_notes_are_hidden_from_the_customer(customer, agent):
    with trio.fail_after(TIMEOUT):
        ann, smith = await _conversation_with_messages(customer, agent, 1)
        note = await smith.send("internal note", conversation_id=ann.conversation["id"], private=True)
        assert note.status_code == 201 and note.json()["message"]["private"] is True
        url = f"/api/chat/history/{ann.conversation['id']}"
        staff_view = [m["content"].get("text") for m in (await smith.get(url)).json()["messages"]]
        customer_view = [m["content"].get("text") for m in (await ann.get(url)).json()["messages"]]
        assert "internal note" in staff_view and "internal note" not in customer_view


async def test_receipts_mark_messages_read(customer, agent):
    with trio.fail_after(TIMEOUT):
        ann, smith = await _conversation_with_messages(customer, agent, 2)
        url = f"/api/chat/history/{ann.conversation['id']}"
        messages = (await ann.get(url)).json()["messages"]
        first, last = messages[-2], messages[-1]
        assert last["status"] == "sent"

        response = await smith.put(f"/api/chat/status/{first['id']}", json={"status": "delivered"})
        assert response.status_code == 200, response.text
        assert response.json()["message"]["id"] == first["id"]
        statuses = {m["id"]: m["status"] for m in (await ann.get(url)).json()["messages"]}
        assert statuses[first["id"]] == "delivered" and statuses[last["id"]] == "sent"

        response = await smith.put(f"/api/chat/status/{last['id']}", json={"status": "read"})
        assert response.status_code == 200
        statuses = {m["id"]: m["status"] for m in (await ann.get(url)).json()["messages"]}
        assert statuses[first["id"]] == statuses[last["id"]] == "read"

        response = await smith.put(f"/api/chat/status/{last['id']}", json={"status": "seen"})
        assert response.status_code == 422
        assert response.json()["error"]["field"] == "status"
        response = await smith.put("/api/chat/status/nope", json={"status": "read"})
        assert response.status_code == 404
