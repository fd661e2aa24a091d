"""Build the Starlette app and serve it with hypercorn's trio worker, beside the gateway."""

from __future__ import annotations

import functools
import itertools
import logging
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import hypercorn.config
import hypercorn.trio
import trio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

import qandu
from qandu.http import desk_api as _desk_operations  # noqa: F401  (a customer's conversations, unread)
from qandu.http import files as _file_operations  # noqa: F401  (registers /api/files* on api)
from qandu.http import review_api as _review_operations  # noqa: F401  (review, search, export, /metrics)
from qandu.http import teamwork_api as _teamwork_operations  # noqa: F401  (tags, canned, CSAT, follow-ups)
from qandu.http.api import api
from qandu.http.errors import EXCEPTION_HANDLERS
from qandu.http.middleware import ErrorBoundary, RequestLog
from qandu.http.openapi import openapi_document
from qandu.http.pages import page_routes

if TYPE_CHECKING:
    from qandu.app import App
    from qandu.gateway.server import Gateway

log = logging.getLogger("qandu.http")

STATIC_DIR = Path(qandu.__file__).parent / "static"


def plugin_routes(app: App) -> list[BaseRoute]:
    """The routes every plugin returned from ``qandu_register_routes``, flattened."""
    results = app.pm.hook.qandu_register_routes(app=app)
    return list(itertools.chain.from_iterable(routes for routes in results if routes))


def build_asgi_app(app: App, gateway: Gateway | None = None) -> Starlette:
    """The HTTP API as an ASGI app: core operations, plugin routes, then static files."""
    extra = plugin_routes(app)
    routes: list[BaseRoute] = [operation.route(app, gateway) for operation in api.operations]
    routes += extra
    if STATIC_DIR.is_dir():
        routes += page_routes(STATIC_DIR)
        routes.append(Mount("/static", app=StaticFiles(directory=STATIC_DIR, html=True), name="static"))
    cors = app.config.http.cors_origins
    asgi = Starlette(
        routes=routes,
        middleware=[
            Middleware(RequestLog),
            Middleware(
                CORSMiddleware,
                allow_origins=cors,
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=["Authorization", "Content-Type"],
                max_age=600,
            ),
            Middleware(ErrorBoundary),
        ],
        exception_handlers=dict(EXCEPTION_HANDLERS),
    )
    asgi.state.openapi = openapi_document(
        api.operations, extra, version=qandu.__version__, server_url=app.config.server.public_url
    )
    return asgi


def hypercorn_config(app: App) -> hypercorn.config.Config:
    server = app.config.server
    config = hypercorn.config.Config()
    host = f"[{server.host}]" if ":" in server.host else server.host
    config.bind = [f"{host}:{server.port}"]
    config.accesslog = None  # RequestLog writes one line per request instead
    config.errorlog = logging.getLogger("qandu.http.hypercorn")
    config.include_server_header = False
    config.graceful_timeout = server.drain_timeout
    return config


async def serve_http(
    app: App, gateway: Gateway | None, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve the HTTP API on ``[server] host``/``port`` until cancelled.

    ``task_status`` gets the bound port (the real one when the configured port is 0).
    """
    asgi = build_asgi_app(app, gateway)
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(functools.partial(hypercorn.trio.serve, asgi, hypercorn_config(app)))
        port = urlsplit(binds[0]).port
        assert port is not None
        task_status.started(port)
