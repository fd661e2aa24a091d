"""The web pages: the demo host page with the chat widget, the agent console, the dashboard.

They are static HTML files under ``qandu/static/pages/``; their scripts and styles come from
``/static``.  The pages are not API operations, so they stay out of the OpenAPI document.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

PAGES = {"/": "index.html", "/console": "console.html", "/dashboard": "dashboard.html"}


def page_routes(static_dir: Path) -> list[BaseRoute]:
    """One GET route per page whose HTML file exists (none when the static files are missing)."""
    routes: list[BaseRoute] = []
    for path, filename in PAGES.items():
        file = static_dir / "pages" / filename
        if file.is_file():
            routes.append(Route(path, _page(file), methods=["GET"], include_in_schema=False))
    return routes


def _page(file: Path):  # type: ignore[no-untyped-def]
    async def page(request: Request) -> Response:
        return FileResponse(file, media_type="text/html", headers={"Cache-Control": "no-cache"})

    page.__name__ = f"page_{file.stem}"
    return page
