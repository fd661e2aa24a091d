"""The HTTP API: a Starlette app served by hypercorn's trio worker beside the gateway.

``server`` builds and serves it; ``api`` holds the operations, ``schemas`` their request and
response schemas, ``openapi`` the document generated from both.
"""

from qandu.http.server import build_asgi_app as build_asgi_app
from qandu.http.server import serve_http as serve_http

__all__ = ["build_asgi_app", "serve_http"]
