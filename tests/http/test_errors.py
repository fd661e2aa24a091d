"""Bad input always gets a JSON 4xx naming the problem; never a 500."""

from __future__ import annotations

import logging

import httpx
import pytest
import trio

TIMEOUT = 20
MAX_BODY = 4096  # [http] max_body_bytes in conftest


def _error(response: httpx.Response, status: int, code: str, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    assert error.get("field") == field, error
    assert error["message"]
    return error


def _body(conversation_id: str, **changes):
    body = {"conversationId": conversation_id, "clientMsgId": "x1", "content": {"type": "text", "text": "hi"}}
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


async def test_malformed_json(customer):
    with trio.fail_after(TIMEOUT):
        ann = await customer()
        headers = {"content-type": "application/json"}
        for raw in (b"{", b"{'a': 1}", b"nul", '{"a": "\udc00"}'.encode("utf-8", "surrogatepass")):
            response = await ann.post("/api/chat/message", content=raw, headers=headers)
            _error(response, 400, "invalid_json")
        response = await ann.post("/api/chat/message", content=b"[1, 2]")
        assert _error(response, 422, "invalid_request")["message"] == "expected an object, got an array"


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"conversationId": 5}, "conversationId", "expected a string, got 5"),
        ({"conversationId": None}, "conversationId", "required field missing"),
        ({"clientMsgId": None}, "clientMsgId", "required field missing"),
        ({"content": None}, "content", "required field missing"),
        ({"content": "hi"}, "content", "expected an object"),
        ({"content": {"type": "text", "text": "  "}}, "content.text", "must not be blank"),
        ({"content": {"type": "text"}}, "content.text", "required field missing"),
        ({"content": {"type": "video", "text": "x"}}, "content.type", "is not one of"),
        ({"content": {"type": "text", "text": "x", "colour": "red"}}, "content.colour", "unknown field"),
        ({"private": "yes"}, "private", "expected a boolean"),
        ({"clientMsgId": "x" * 65}, "clientMsgId", "more than the maximum of 64"),
        ({"surprise": 1}, "surprise", "unknown field"),
    ],
)
async def test_invalid_message_bodies_name_the_field(customer, changes, field, fragment):
    with trio.fail_after(TIMEOUT):
        ann = await customer()
        response = await ann.post("/api/chat/message", json=_body(ann.conversation["id"], **changes))
        error = _error(response, 422, "invalid_request", field)
        assert fragment in error["message"]
        assert error["message"].startswith(f"{field}: ")


async def test_other_bodies_are_validated_too(http, customer, agent):
    with trio.fail_after(TIMEOUT):
        _error(await http.post("/api/chat/initialize", json={"name": 3}), 422, "invalid_request", "name")
        _error(
            await http.post("/api/chat/initialize", json={"context": []}), 422, "invalid_request", "context"
        )
        _error(
            await http.post("/api/chat/initialize", json={"nickname": "x"}),
            422,
            "invalid_request",
            "nickname",
        )
        _error(
            await http.post("/api/auth/login", json={"email": "a@b.c"}), 422, "invalid_request", "password"
        )
        ann = await customer()
        cid = ann.conversation["id"]
        status = await ann.put(f"/api/conversations/{cid}/status", json={"status": "closed"})
        _error(status, 422, "invalid_request", "status")
        _error(await ann.put(f"/api/conversations/{cid}/status", json={}), 422, "invalid_request", "status")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"before": "-1"}, "before"),
        ({"after": "1.5"}, "after"),
        ({"order": "desc"}, "order"),
        ([("limit", "5"), ("limit", "6")], "limit"),
    ],
)
async def test_invalid_query_parameters_name_the_field(customer, params, field):
    with trio.fail_after(TIMEOUT):
        ann = await customer()
        response = await ann.get(f"/api/chat/history/{ann.conversation['id']}", params=params)
        _error(response, 422, "invalid_request", field)


async def test_operations_without_parameters_refuse_them(customer):
    with trio.fail_after(TIMEOUT):
        ann = await customer()
        _error(await ann.get("/api/me", params={"verbose": "1"}), 422, "invalid_request", "verbose")


async def test_path_parameters_are_validated(customer):
    with trio.fail_after(TIMEOUT):
        ann = await customer()
        response = await ann.get(f"/api/chat/history/{'x' * 65}")
        _error(response, 422, "invalid_request", "conversationId")


async def test_body_over_the_limit_is_refused(customer, caplog):
    with trio.fail_after(TIMEOUT):
        ann = await customer()
        big = _body(ann.conversation["id"], content={"type": "text", "text": "x" * MAX_BODY})
        response = await ann.post("/api/chat/message", json=big)
        assert _error(response, 413, "too_large")["code"] == "too_large"

        async def chunks():  # no Content-Length: the limit is enforced while reading
            yield b'{"conversationId": "' + ann.conversation["id"].encode() + b'", "x": "'
            for _ in range(MAX_BODY // 512 + 2):
                yield b"y" * 512
            yield b'"}'

        response = await ann.post("/api/chat/message", content=chunks())
        assert "content-length" not in response.request.headers
        _error(response, 413, "too_large")

        just_fits = _body(ann.conversation["id"], content={"type": "text", "text": "x" * (MAX_BODY - 200)})
        assert (await ann.post("/api/chat/message", json=just_fits)).status_code == 201


async def test_unknown_route_and_wrong_method(http):
    with trio.fail_after(TIMEOUT):
        _error(await http.get("/api/nothing/here"), 404, "not_found")
        _error(await http.get("/no/such/page"), 404, "not_found")  # "/" is the demo page
        response = await http.delete("/api/chat/initialize")
        _error(response, 405, "method_not_allowed")
        assert response.headers["allow"] == "POST"
        _error(await http.post("/healthz"), 405, "method_not_allowed")


async def test_healthz(http, endpoints):
    with trio.fail_after(TIMEOUT):
        response = await http.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {
            "status": "ok",
            "storage": "sqlite",
            "connections": 0,
            "bus": {"backend": "memory", "connected": True},
        }
        assert endpoints.http_port > 0 and endpoints.http_url.endswith(f":{endpoints.http_port}")


async def test_cors(http):
    with trio.fail_after(TIMEOUT):
        preflight = await http.options(
            "/api/chat/message",
            headers={
                "Origin": "https://shop.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
        simple = await http.get("/healthz", headers={"Origin": "https://shop.example"})
        assert simple.headers["access-control-allow-origin"] == "https://shop.example"
        error = await http.get("/api/me", headers={"Origin": "https://shop.example"})
        assert error.status_code == 401
        assert error.headers["access-control-allow-origin"] == "https://shop.example"
        stranger = await http.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in stranger.headers


async def test_one_log_line_per_request(http, caplog):
    with trio.fail_after(TIMEOUT):
        caplog.set_level(logging.INFO, logger="qandu.http")
        await http.get("/healthz")
        await http.get("/missing")

        def lines() -> list[logging.LogRecord]:
            return [r for r in caplog.records if r.name == "qandu.http"]

        while len(lines()) < 2:  # written just after the response is sent
            await trio.sleep(0.01)
        records = lines()
        assert [(r.method, r.path, r.status) for r in records] == [
            ("GET", "/healthz", 200),
            ("GET", "/missing", 404),
        ]
        assert all(isinstance(r.duration_ms, float) for r in records)
        assert records[0].getMessage().startswith("GET /healthz 200 ")


async def test_a_bug_is_a_json_500(app, http, customer, monkeypatch, caplog):
    with trio.fail_after(TIMEOUT):
        ann = await customer()

        async def broken(*args, **kwargs):
            raise RuntimeError("boom")

        monkeypatch.setattr(app.chat, "history", broken)
        response = await ann.get(f"/api/chat/history/{ann.conversation['id']}")
        _error(response, 500, "internal")
        assert "boom" not in response.text
        assert any("unhandled error" in r.getMessage() and r.exc_info for r in caplog.records)
        assert (await http.get("/healthz")).status_code == 200  # the server carries on


async def test_client_going_away_mid_body_is_not_a_bug(http, endpoints, customer, caplog):
    with trio.fail_after(TIMEOUT):
        ann = await customer()
        stream = await trio.open_tcp_stream("127.0.0.1", endpoints.http_port)
        head = (
            "POST /api/chat/message HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {ann.token}\r\nContent-Length: 1000\r\n\r\n"
        )
        await stream.send_all(head.encode() + b'{"conversationId": "')
        await trio.sleep(0.1)
        await stream.aclose()
        await trio.sleep(0.1)
        assert (await http.get("/healthz")).status_code == 200
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
