"""The OpenAPI document: exactly the served routes, valid OpenAPI 3.1, and true to real responses."""

from __future__ import annotations

import re
from typing import Any

import httpx
import trio
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator
from starlette.responses import JSONResponse
from starlette.routing import Route

import qandu.app
from qandu.app import App
from qandu.http.server import build_asgi_app
from qandu.plugins import PluginManager, hookimpl

TIMEOUT = 20


def _served(asgi: Any) -> set[tuple[str, str]]:
    """(path, method) of every route in the Starlette route table (HEAD is implied by GET)."""
    return {
        (re.sub(r"{(\w+):\w+}", r"{\1}", route.path), method)
        for route in asgi.routes
        if isinstance(route, Route) and route.include_in_schema
        for method in route.methods
        if method != "HEAD"
    }


def _documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in document["paths"].items() for method in item}


async def _document(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get("/api/openapi.json")
    assert response.status_code == 200
    return response.json()


async def test_document_lists_exactly_the_served_routes(app, http):
    with trio.fail_after(TIMEOUT):
        document = await _document(http)
        served = _served(build_asgi_app(app))
        assert _documented(document) == served
        assert ("/api/chat/initialize", "POST") in served and ("/api/messages/{messageId}", "PATCH") in served


async def test_document_is_valid_openapi_3_1(http):
    with trio.fail_after(TIMEOUT):
        document = await _document(http)
        assert document["openapi"].startswith("3.1")
        errors = [str(error) for error in OpenAPIV31SpecValidator(document).iter_errors()]
        assert errors == []
        operation_ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
        assert len(operation_ids) == len(set(operation_ids))


def test_the_validator_would_notice_a_broken_document(app):
    document = build_asgi_app(app).state.openapi
    document["paths"]["/api/me"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] = {
        "type": "strin"
    }
    assert list(OpenAPIV31SpecValidator(document).iter_errors())


class _Recorder:
    """Validates each response against the schema the document gives for its status."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.checked: set[tuple[str, str, int]] = set()

    def __call__(self, method: str, template: str, response: httpx.Response) -> dict[str, Any]:
        operation = self.document["paths"][template][method.lower()]
        status = str(response.status_code)
        assert status in operation["responses"], f"{method} {template} answered an undocumented {status}"
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        validator = Draft202012Validator(
            {**schema, "components": self.document["components"]},
            format_checker=Draft202012Validator.FORMAT_CHECKER,
        )
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(response.json())]
        assert errors == [], f"{method} {template} {status}"
        self.checked.add((method, template, response.status_code))
        return response.json()


async def test_real_responses_match_the_documented_schemas(http, customer, agent):
    with trio.fail_after(TIMEOUT):
        check = _Recorder(await _document(http))
        check("GET", "/healthz", await http.get("/healthz"))
        check("GET", "/api/openapi.json", await http.get("/api/openapi.json"))
        data = check(
            "POST", "/api/chat/initialize", await http.post("/api/chat/initialize", json={"name": "Ann"})
        )
        ann = await customer(name="Ann", context={"page": "/"}, customFields={"plan": "pro"})
        smith = await agent("smith@example.com")
        cid = ann.conversation["id"]
        check("GET", "/api/me", await ann.get("/api/me"))
        check(
            "POST",
            "/api/conversations/{conversationId}/join",
            await smith.post(f"/api/conversations/{cid}/join"),
        )
        message = check("POST", "/api/chat/message", await ann.send("hi", clientMsgId="c1"))["message"]
        check("POST", "/api/chat/message", await ann.send("hi", clientMsgId="c1"))
        check("POST", "/api/chat/message", await smith.send("note", conversation_id=cid, private=True))
        mid = message["id"]
        check(
            "POST",
            "/api/messages/{messageId}/reactions",
            await ann.post(f"/api/messages/{mid}/reactions", json={"emoji": "👍"}),
        )
        check(
            "PATCH",
            "/api/messages/{messageId}",
            await ann.patch(f"/api/messages/{mid}", json={"text": "hello"}),
        )
        check(
            "PUT",
            "/api/chat/status/{messageId}",
            await smith.put(f"/api/chat/status/{mid}", json={"status": "read"}),
        )
        check(
            "GET",
            "/api/chat/history/{conversationId}",
            await smith.get(f"/api/chat/history/{cid}", params={"limit": 2}),
        )
        check("GET", "/api/chat/history/{conversationId}", await ann.get(f"/api/chat/history/{cid}"))
        check("DELETE", "/api/messages/{messageId}", await ann.delete(f"/api/messages/{mid}"))
        check("GET", "/api/conversations", await smith.get("/api/conversations", params={"limit": 1}))
        check("GET", "/api/conversations/{conversationId}", await smith.get(f"/api/conversations/{cid}"))
        status = await smith.put(f"/api/conversations/{cid}/status", json={"status": "resolved"})
        check("PUT", "/api/conversations/{conversationId}/status", status)
        check(
            "POST",
            "/api/conversations/{conversationId}/leave",
            await smith.post(f"/api/conversations/{cid}/leave"),
        )
        # errors are documented too
        check("GET", "/api/me", await http.get("/api/me"))
        check("GET", "/api/me", await ann.get("/api/me", params={"x": "1"}))
        check("GET", "/healthz", await http.get("/healthz", params={"x": "1"}))
        check(
            "POST",
            "/api/auth/login",
            await http.post("/api/auth/login", json={"email": "a@b.c", "password": "x"}),
        )
        bad_hash = {"site": "shop", "userId": "1", "userHash": "00"}
        check("POST", "/api/chat/initialize", await http.post("/api/chat/initialize", json=bad_hash))
        check("POST", "/api/chat/initialize", await http.post("/api/chat/initialize", json={"bot": "nobody"}))
        check("POST", "/api/chat/message", await ann.post("/api/chat/message", json={"x": 1}))
        check("POST", "/api/chat/message", await ann.post("/api/chat/message", content=b"{"))
        check(
            "GET",
            "/api/chat/history/{conversationId}",
            await ann.get(f"/api/chat/history/{data['conversation']['id']}"),
        )
        check("GET", "/api/conversations/{conversationId}", await ann.get("/api/conversations/nope"))
        check(
            "PUT",
            "/api/conversations/{conversationId}/status",
            status := await smith.put(f"/api/conversations/{cid}/status", json={"status": "pending"}),
        )
        assert status.status_code == 409
        assert len(check.checked) == 27


class RoutesPlugin:
    """A throwaway plugin that adds one route."""

    @hookimpl
    def qandu_register_routes(self, app):
        async def echo(request):
            """Echo the number back."""
            return JSONResponse({"n": request.path_params["n"]})

        return [Route("/api/plugins/echo/{n:int}", echo, methods=["GET"], name="echo")]


async def test_plugin_routes_are_served_and_documented(config):
    with trio.fail_after(TIMEOUT):
        pm = PluginManager(hook_timeout=config.dispatch.hook_timeout)
        pm.add(RoutesPlugin(), "routes")
        app = App.create(config, pm=pm)
        async with trio.open_nursery() as nursery:
            endpoints = await nursery.start(qandu.app.serve, app)
            async with httpx.AsyncClient(base_url=endpoints.http_url) as http:
                response = await http.get("/api/plugins/echo/7")
                assert response.json() == {"n": 7}
                document = await _document(http)
            nursery.cancel_scope.cancel()
        operation = document["paths"]["/api/plugins/echo/{n}"]["get"]
        assert operation["summary"] == "Echo the number back."
        assert operation["tags"] == ["plugins"]
        assert _documented(document) == _served(build_asgi_app(app))
        assert ("/api/plugins/echo/{n}", "GET") in _served(build_asgi_app(app))
