"""The OpenAPI 3.1 document, generated from the route table and its schemas (so it cannot drift)."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable
from typing import Any

from starlette.routing import BaseRoute, Route

from qandu.http.errors import HTTP_CODES
from qandu.http.routing import Operation
from qandu.http.schemas import COMPONENTS, ref

_CONVERTER = re.compile(r"{(\w+):\w+}")

_ERROR_TEXT = {
    400: "The body is not valid JSON (invalid_json).",
    401: "Missing, invalid or expired token (unauthorized).",
    403: "Not allowed for this user (forbidden).",
    404: "No such conversation or message (not_found).",
    409: "Conflicts with the current state (conflict, invalid_transition).",
    413: "The body is larger than [http] max_body_bytes, or a file than its limit (too_large).",
    422: "A field is missing, unknown or invalid (invalid_request; error.field names it).",
    500: "A bug in the server (internal).",
}


def openapi_document(
    operations: Iterable[Operation],
    extra_routes: Iterable[BaseRoute] = (),
    *,
    version: str,
    server_url: str = "",
) -> dict[str, Any]:
    """Return the OpenAPI 3.1 document of ``operations`` plus plugin routes (``extra_routes``)."""
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(operation)
    for route in extra_routes:
        if isinstance(route, Route):
            path = _CONVERTER.sub(r"{\1}", route.path)
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    paths.setdefault(path, {})[method.lower()] = _plugin_operation(route, path, method)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "QanDu HTTP API",
            "version": version,
            "description": "Self-hosted live chat: the REST API beside the real-time WebSocket gateway.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "paths": paths,
        "components": {
            "schemas": COMPONENTS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    return document


def _operation(operation: Operation) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "tags": [operation.tag],
        "security": [{"bearer": []}] if operation.auth else [],
    }
    if operation.description:
        doc["description"] = operation.description
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": schema}
        for name, schema in operation.params.items()
    ]
    required = set(operation.query["required"])
    parameters += [
        {"name": name, "in": "query", "required": name in required, "schema": schema}
        for name, schema in operation.query["properties"].items()
    ]
    if parameters:
        doc["parameters"] = parameters
    if operation.body is not None:
        doc["requestBody"] = {
            "required": bool(operation.body.get("required")),
            "content": {"application/json": {"schema": operation.body}},
        }
    elif operation.stream_body is not None:
        doc["requestBody"] = {"required": True, "content": operation.stream_body}
    responses: dict[str, Any] = {
        str(status): {"description": text, "content": {"application/json": {"schema": schema}}}
        for status, (text, schema) in sorted(operation.responses.items())
    }
    for status, (text, content) in sorted(operation.raw_responses.items()):
        responses[str(status)] = {"description": text, "content": content}
    for status in [*operation.error_statuses, 500]:
        responses[str(status)] = _error(_ERROR_TEXT.get(status, HTTP_CODES.get(status, "error")))
    doc["responses"] = responses
    return doc


def _plugin_operation(route: Route, path: str, method: str) -> dict[str, Any]:
    summary = (inspect.getdoc(route.endpoint) or f"{route.name} (plugin route)").split("\n")[0]
    doc: dict[str, Any] = {
        "operationId": f"{method.lower()}_{route.name}",
        "summary": summary,
        "tags": ["plugins"],
    }
    names = re.findall(r"{(\w+)}", path)
    if names:
        doc["parameters"] = [
            {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names
        ]
    doc["responses"] = {"default": {"description": "Defined by the plugin."}}
    return doc


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref("Error")}}}
