"""Every teamwork, lifecycle and review endpoint answers with what the OpenAPI document says."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import trio
from jsonschema import Draft202012Validator

from qandu.domain import iso, utcnow

TIMEOUT = 30


class Checked:
    """Validates each response against the schema the served document gives for its status."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.seen: set[tuple[str, str]] = set()

    def __call__(self, method: str, template: str, response: httpx.Response) -> Any:
        operation = self.document["paths"][template][method.lower()]
        status = str(response.status_code)
        assert status in operation["responses"], f"{method} {template}: undocumented {status} {response.text}"
        content = operation["responses"][status]["content"]
        media = response.headers["content-type"].split(";")[0]
        assert media in content, f"{method} {template}: undocumented {media}"
        self.seen.add((method, template))
        if media != "application/json":
            return response.text
        schema = {**content[media]["schema"], "components": self.document["components"]}
        validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(response.json())]
        assert errors == [], f"{method} {template} {status}"
        return response.json()


def _client(url: str, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


async def test_responses_match_the_document(desk):
    with trio.fail_after(TIMEOUT):
        async with desk() as d:
            boss = await d.agent("boss@example.com", "Boss", role="admin")
            lee = await d.agent("lee@example.com", "Kim Lee")
            ann = await d.customer()
            cid = ann.conversation_id
            url = d.endpoints.http_url
            async with _client(url, boss.api.token) as admin, _client(url, ann.api.token) as customer:
                check = Checked((await admin.get("/api/openapi.json")).json())
                conv = f"/api/conversations/{cid}"
                check(
                    "POST",
                    "/api/conversations/{conversationId}/tags",
                    await admin.post(f"{conv}/tags", json={"tags": ["vip"]}),
                )
                check(
                    "POST",
                    "/api/conversations/{conversationId}/tags",
                    await admin.post(f"{conv}/tags", json={"tags": ["x y!"]}),
                )
                check("GET", "/api/tags", await admin.get("/api/tags"))
                check(
                    "DELETE",
                    "/api/conversations/{conversationId}/tags/{tag}",
                    await admin.delete(f"{conv}/tags/vip"),
                )
                check(
                    "DELETE",
                    "/api/conversations/{conversationId}/tags/{tag}",
                    await customer.delete(f"{conv}/tags/vip"),
                )
                made = check(
                    "POST",
                    "/api/canned-responses",
                    await admin.post("/api/canned-responses", json={"shortcut": "hi", "text": "Hello!"}),
                )["cannedResponse"]
                check(
                    "GET",
                    "/api/canned-responses",
                    await admin.get("/api/canned-responses", params={"q": "h"}),
                )
                path = f"/api/canned-responses/{made['id']}"
                check(
                    "PATCH",
                    "/api/canned-responses/{cannedResponseId}",
                    await admin.patch(path, json={"text": "Hi!"}),
                )
                check("DELETE", "/api/canned-responses/{cannedResponseId}", await admin.delete(path))
                check("DELETE", "/api/canned-responses/{cannedResponseId}", await admin.delete(path))
                note = await boss.send_text("@Kim Lee have a look", conversation_id=cid, private=True)
                await lee.gateway.next_frame("mention")
                async with _client(url, lee.api.token) as agent:
                    listed = check("GET", "/api/notifications", await agent.get("/api/notifications"))
                    ids = [n["id"] for n in listed["notifications"]]
                    check(
                        "POST",
                        "/api/notifications/read",
                        await agent.post("/api/notifications/read", json={"ids": ids}),
                    )
                check(
                    "GET",
                    "/api/messages/{messageId}/thread",
                    await admin.get(f"/api/messages/{note['id']}/thread"),
                )
                at = iso(utcnow() + dt.timedelta(hours=1))
                job = check(
                    "POST",
                    "/api/conversations/{conversationId}/followups",
                    await admin.post(f"{conv}/followups", json={"at": at, "kind": "reminder"}),
                )["followup"]
                check(
                    "GET",
                    "/api/conversations/{conversationId}/followups",
                    await admin.get(f"{conv}/followups"),
                )
                check(
                    "DELETE", "/api/followups/{followupId}", await admin.delete(f"/api/followups/{job['id']}")
                )
                check(
                    "DELETE", "/api/followups/{followupId}", await admin.delete(f"/api/followups/{job['id']}")
                )
                await admin.put(f"{conv}/status", json={"status": "resolved"})
                check(
                    "POST",
                    "/api/conversations/{conversationId}/csat",
                    await customer.post(f"{conv}/csat", json={"rating": 4}),
                )
                check(
                    "POST",
                    "/api/conversations/{conversationId}/csat",
                    await customer.post(f"{conv}/csat", json={"rating": 4}),
                )
                check("GET", "/api/conversations/{conversationId}/csat", await customer.get(f"{conv}/csat"))
                check(
                    "GET",
                    "/api/review/conversations",
                    await admin.get("/api/review/conversations", params={"csatMin": 4}),
                )
                check("GET", "/api/review/conversations", await customer.get("/api/review/conversations"))
                check("GET", "/api/search", await customer.get("/api/search", params={"q": "look"}))
                check("GET", "/api/search", await admin.get("/api/search", params={"q": "look"}))
                check("GET", "/api/export", await admin.get("/api/export", params={"format": "csv"}))
                check("GET", "/api/export", await admin.get("/api/export"))
                check("GET", "/metrics", await admin.get("/metrics"))
                ours = {
                    (method.upper(), path)
                    for path, item in check.document["paths"].items()
                    for method, op in item.items()
                    if op["tags"][0] in ("tags", "teamwork", "lifecycle", "review") or path in ("/metrics",)
                }
                assert ours <= check.seen, ours - check.seen
