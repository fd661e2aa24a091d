"""Conversation review for admins: filters, full-text search, JSON/CSV export, and /metrics."""

from __future__ import annotations

import csv
import io

import httpx
import pytest
import trio

from qandu import hookimpl
from qandu.client import ApiError

TIMEOUT = 30


async def _ids(client, path="/api/review/conversations", **params):
    data = await client.api.request("GET", path, params=params)
    return {c["id"] for c in data["conversations"]}


class StubNlu:
    """Annotations like the NLU plugin's: an intent and a sentiment label from keywords."""

    @hookimpl
    async def qandu_analyze_message(self, message):
        text = (message.content.text or "").lower()
        intent = "order_status" if "order" in text else "refund" if "refund" in text else "other"
        label = "negative" if "angry" in text else "neutral"
        return {"intent": {"name": intent, "confidence": 0.9}, "sentiment": {"score": 0.0, "label": label}}


async def test_admins_filter_every_conversation(desk, wait_for):
    with trio.fail_after(TIMEOUT):
        async with desk(plugins={"nlu": StubNlu()}) as d:
            boss = await d.agent("boss@example.com", "Boss", role="admin")
            smith = await d.agent("smith@example.com", "Smith")
            ann, bob = await d.customer(name="Ann"), await d.customer(name="Bob")
            carl = await d.customer(name="Carl")
            a, b, c = ann.conversation_id, bob.conversation_id, carl.conversation_id
            started_b = (await boss.api.request("GET", f"/api/conversations/{b}"))["conversation"][
                "startedAt"
            ]

            await smith.api.request("POST", f"/api/conversations/{a}/join")
            await smith.api.request("PUT", f"/api/conversations/{a}/priority", json={"priority": "high"})
            await smith.api.request("POST", f"/api/conversations/{a}/tags", json={"tags": ["vip"]})
            await smith.api.request("POST", f"/api/conversations/{b}/tags", json={"tags": ["vip", "orders"]})
            await bob.send_text("where is my order?")
            await carl.send_text("I am angry about my refund")
            await smith.api.request("PUT", f"/api/conversations/{a}/status", json={"status": "resolved"})
            await ann.api.request("POST", f"/api/conversations/{a}/csat", json={"rating": 2})
            await bob.api.request("PUT", f"/api/conversations/{b}/status", json={"status": "resolved"})
            await bob.api.request("POST", f"/api/conversations/{b}/csat", json={"rating": 5})

            assert await _ids(boss) >= {a, b, c}
            assert await _ids(boss, tag="vip") == {a, b}
            assert await _ids(boss, tag="vip,orders") == {b}

            async def analysed():  # the pipeline analyses after delivery
                return await _ids(boss, intent="refund") == {c}

            await wait_for(analysed)
            assert await _ids(boss, intent="order_status") == {b}
            assert await _ids(boss, sentiment="negative") == {c}
            assert await _ids(boss, sentiment="negative", intent="order_status") == set()
            assert await _ids(boss, status="resolved") == {a, b}
            assert await _ids(boss, agent=smith.user["id"]) == {a}
            assert {a} & await _ids(boss, agent="none") == set()
            assert await _ids(boss, priority="high") == {a}
            assert await _ids(boss, csatMax=2) == {a}
            assert await _ids(boss, csatMin=4) == {b}
            assert await _ids(boss, **{"from": started_b}) == {b, c}
            assert await _ids(boss, to=started_b) == {a}
            assert await _ids(boss, **{"from": "2999-01-01"}) == set()

            page = await boss.api.request("GET", "/api/review/conversations", params={"limit": 2})
            rest = await boss.api.request(
                "GET", "/api/review/conversations", params={"limit": 2, "before": page["nextBefore"]}
            )
            assert len(page["conversations"]) == 2 and page["nextBefore"]
            assert {x["id"] for x in page["conversations"] + rest["conversations"]} == {a, b, c}

            for client in (smith, ann):
                with pytest.raises(ApiError) as error:
                    await client.api.request("GET", "/api/review/conversations")
                assert error.value.status == 403
            with pytest.raises(ApiError) as error:
                await boss.api.request("GET", "/api/review/conversations", params={"from": "yesterday"})
            assert (error.value.status, error.value.field) == (422, "from")


async def test_full_text_search_respects_who_may_read_what(desk):
    with trio.fail_after(TIMEOUT):
        async with desk() as d:
            smith = await d.agent("smith@example.com", "Smith")
            ann, bob = await d.customer(name="Ann"), await d.customer(name="Bob")
            a, b = ann.conversation_id, bob.conversation_id
            mine = await ann.send_text("Was my payment REFUNDED already?")
            await bob.send_text("I want a refund for order 48213")
            note = await smith.send_text("refund approved by finance", conversation_id=b, private=True)
            await smith.send_text("unrelated words", conversation_id=a)

            async def found(client, **params):
                data = await client.api.request("GET", "/api/search", params=params)
                return [m["id"] for m in data["messages"]]

            staff = await found(smith, q="refun")
            assert len(staff) == 3 and staff[0] == note["id"]  # newest first, private notes included
            assert await found(smith, q="refund finance") == [note["id"]]
            assert await found(smith, q="refun", conversationId=a) == [mine["id"]]
            assert await found(ann, q="refund") == [mine["id"]]  # only her own conversation
            assert note["id"] not in await found(bob, q="refund")
            assert len(await found(bob, q="48213")) == 1
            first = await smith.api.request("GET", "/api/search", params={"q": "refund", "limit": 2})
            more = await smith.api.request(
                "GET", "/api/search", params={"q": "refund", "limit": 2, "before": first["nextBefore"]}
            )
            assert [m["id"] for m in first["messages"] + more["messages"]] == staff
            with pytest.raises(ApiError) as error:
                await ann.api.request("GET", "/api/search", params={"q": "refund", "conversationId": b})
            assert error.value.status == 403
            with pytest.raises(ApiError) as error:
                await smith.api.request("GET", "/api/search", params={"q": "?!"})
            assert (error.value.status, error.value.field) == (422, "q")

            await smith.api.request(
                "PATCH", f"/api/messages/{note['id']}", json={"text": "approved by finance"}
            )
            assert note["id"] not in await found(smith, q="refund")
            await ann.api.request("DELETE", f"/api/messages/{mine['id']}")
            assert await found(smith, q="refunded") == []


async def test_export_streams_json_and_csv(desk):
    with trio.fail_after(TIMEOUT):
        async with desk() as d:
            boss = await d.agent("boss@example.com", "Boss", role="admin")
            ann, bob = await d.customer(name="Ann"), await d.customer(name="Bob")
            await boss.api.request(
                "POST", f"/api/conversations/{ann.conversation_id}/tags", json={"tags": ["vip"]}
            )
            await ann.send_text('Hello, "quoted", and a\nnew line')
            await boss.send_text("psst", conversation_id=ann.conversation_id, private=True)
            await bob.send_text("not exported")
            headers = {"Authorization": f"Bearer {boss.api.token}"}
            async with httpx.AsyncClient(base_url=d.endpoints.http_url, headers=headers) as http:
                response = await http.get("/api/export", params={"format": "json", "tag": "vip"})
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("application/json")
                exported = response.json()
                assert [item["conversation"]["id"] for item in exported] == [ann.conversation_id]
                texts = [m["content"].get("text") for m in exported[0]["messages"]]
                assert 'Hello, "quoted", and a\nnew line' in texts and "psst" in texts
                assert [h["to"] for h in exported[0]["statusHistory"]] == ["pending"]  # the bot handed off

                response = await http.get("/api/export", params={"format": "csv", "tag": "vip"})
                assert response.headers["content-type"].startswith("text/csv")
                rows = list(csv.DictReader(io.StringIO(response.text)))
                assert [r["text"] for r in rows] == texts
                assert {r["tags"] for r in rows} == {"vip"}
                assert [r["private"] for r in rows if r["text"] == "psst"] == ["true"]

                everything = (await http.get("/api/export")).json()
                assert {item["conversation"]["id"] for item in everything} >= {
                    ann.conversation_id,
                    bob.conversation_id,
                }
                assert len((await http.get("/api/export", params={"limit": 1})).json()) == 1
                agent = await d.agent("smith@example.com")
                refused = await http.get(
                    "/api/export", headers={"Authorization": f"Bearer {agent.api.token}"}
                )
                assert refused.status_code == 403


class Broken:
    @hookimpl
    async def qandu_analyze_message(self, message):
        raise RuntimeError("boom")


async def test_metrics_expose_messages_connections_and_plugin_failures(desk):
    with trio.fail_after(TIMEOUT):
        async with desk(plugins={"broken": Broken()}) as d:
            ann = await d.customer()
            await ann.send_text("one")
            await ann.send_text("two")
            await trio.sleep(0.3)
            async with httpx.AsyncClient(base_url=d.endpoints.http_url) as http:
                response = await http.get("/metrics")
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/plain")
            text = response.text
            assert 'qandu_messages_total{sender="user"} 2.0' in text
            assert "qandu_gateway_connections 1.0" in text
            assert 'qandu_plugin_failures_total{kind="error",plugin="broken"} 2.0' in text
            assert "qandu_message_send_seconds_count 2.0" in text
            assert "qandu_store_batches_total" in text


async def test_metrics_can_require_a_token_or_be_off(desk):
    with trio.fail_after(TIMEOUT):
        async with (
            desk(metrics={"token": "scrape-me"}) as d,
            httpx.AsyncClient(base_url=d.endpoints.http_url) as http,
        ):
            assert (await http.get("/metrics")).status_code == 401
            ok = await http.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
            assert ok.status_code == 200 and "qandu_bus_published_total" in ok.text
        async with (
            desk(metrics={"enabled": False}) as d,
            httpx.AsyncClient(base_url=d.endpoints.http_url) as http,
        ):
            assert (await http.get("/metrics")).status_code == 404
