"""Error responses: every error is ``{"error": {"code", "message", "field"?}}`` with its status."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from qandu.errors import QanduError


class InvalidJson(QanduError):
    """The request body is not JSON."""

    code = "invalid_json"
    http_status = 400


class PayloadTooLarge(QanduError):
    """The request body is larger than ``[http] max_body_bytes``."""

    code = "too_large"
    http_status = 413


#: Error code for the statuses Starlette's router raises itself.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    500: "internal",
}


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    error = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return {"error": error}


def error_response(
    status: int, code: str, message: str, *, field: str | None = None, headers: dict[str, str] | None = None
) -> JsonResponse:
    return JsonResponse(error_body(code, message, field), status_code=status, headers=headers)


async def qandu_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, QanduError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
    return error_response(exc.http_status, exc.code, exc.message, field=exc.field, headers=headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail
    if exc.status_code == 404:
        message = f"no route for {request.url.path}"
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        message = f"{request.method} is not allowed on {request.url.path} (allowed: {allowed})"
    return error_response(exc.status_code, code, message, headers=exc.headers)


EXCEPTION_HANDLERS = {QanduError: qandu_error, HTTPException: http_error}
