"""ASGI middleware: one log line per request, and a last-resort 500 for real bugs."""

from __future__ import annotations

import logging
import time

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qandu.http.errors import error_response

log = logging.getLogger("qandu.http")


class RequestLog:
    """Log ``method path status duration`` once per HTTP request (fields also as extras)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0

        async def logged_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, logged_send)
        finally:
            duration = round((time.perf_counter() - start) * 1000, 1)
            method, path = scope["method"], scope["path"]
            log.info(
                "%s %s %s %.1fms",
                method,
                path,
                status or "-",
                duration,
                extra={"method": method, "path": path, "status": status, "duration_ms": duration},
            )


class ErrorBoundary:
    """An unexpected exception is logged and answered ``500 internal`` (JSON).

    Only real bugs get here: bad input is turned into a 4xx response before that.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        except ClientDisconnect:
            log.debug("client went away during %s %s", scope["method"], scope["path"])
        except Exception:
            log.exception("unhandled error in %s %s", scope["method"], scope["path"])
            if not started:
                response = error_response(500, "internal", "internal server error")
                await response(scope, receive, send)
