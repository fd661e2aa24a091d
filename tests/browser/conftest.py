"""Browser tests: a real QanDu server in a background thread, Debian's chromium driven by Playwright.

Playwright's API runs on asyncio (not trio), so these tests are plain synchronous functions
using its sync API, and the server is ``qandu serve`` in a subprocess, as a user starts it.  Screenshots go
to ``tests/screenshots/``.  Without ``/usr/bin/chromium`` the tests are skipped, except in CI
(``CI=true``), where that is an error: ``scripts/test`` installs it (``scripts/browser``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
AXE = REPO / "build" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = REPO / "tests" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AGENT_EMAIL = "grace@example.com"
AGENT_PASSWORD = "agent-pass-123"
AGENT_NAME = "Grace Hopper"
#: A second agent (transfers, mentions) and an admin (canned responses); same password.
COLLEAGUE_EMAIL, COLLEAGUE_NAME = "kim@example.com", "Kim Lee"
ADMIN_EMAIL, ADMIN_NAME = "ada@example.com", "Ada Lovelace"
TIMEOUT_MS = 10_000


class LiveServer:
    """``qandu serve`` in a subprocess (as the README starts it), with two agents and an admin."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.http_port, self.ws_port = free_port(), free_port()
        self.config = directory / "config.toml"
        self.config.write_text(
            f"""
[server]
port = {self.http_port}
ws_port = {self.ws_port}
data_dir = "{directory / "data"}"
log_format = "json"
log_level = "warning"

[bots]
paths = ["{REPO / "bots" / "support"}"]
"""
        )
        self.log = directory / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> None:
        env = {**os.environ, "QANDU_PASSWORD": AGENT_PASSWORD}
        qandu = [sys.executable, "-m", "qandu"]
        accounts = [
            (AGENT_EMAIL, AGENT_NAME, "support"),
            (COLLEAGUE_EMAIL, COLLEAGUE_NAME, "support"),
            (ADMIN_EMAIL, ADMIN_NAME, "admin"),
        ]
        for email, name, role in accounts:
            add = [*qandu, "user", "add", email, "--name", name, "--role", role, "-c", str(self.config)]
            subprocess.run(add, cwd=REPO, env=env, check=True, capture_output=True)
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [*qandu, "serve", "-c", str(self.config)], cwd=REPO, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"qandu serve exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    self._lift_chat_limits()
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("qandu serve did not become healthy in 60 s")

    def _lift_chat_limits(self) -> None:
        """The tests share one server: let each agent hold every conversation given to them."""
        with self.api(self.agent_token(ADMIN_EMAIL)) as admin:
            for agent in admin.get("/api/agents").raise_for_status().json()["agents"]:
                admin.patch(f"/api/agents/{agent['id']}", json={"maxChats": 1000}).raise_for_status()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def api(self, token: str | None = None) -> httpx.Client:
        """An HTTP client of the server (with a bearer token if given)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def agent_token(self, email: str = AGENT_EMAIL) -> str:
        """A staff token of Grace (or of the account with ``email``)."""
        with self.api() as http:
            response = http.post("/api/auth/login", json={"email": email, "password": AGENT_PASSWORD})
            response.raise_for_status()
            return response.json()["token"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("/usr/bin/chromium is missing: scripts/browser installs Debian's chromium")
        pytest.skip("/usr/bin/chromium is missing (run scripts/browser)")
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(chromium_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with every installed plugin and one agent account, shared by the browser tests.

    Each test works in its own browser contexts and conversations, so sharing one server
    keeps the suite fast without coupling the tests.
    """
    server = LiveServer(tmp_path_factory.mktemp("live"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def screenshot() -> Any:
    """``screenshot(page_or_locator, name)`` writes ``tests/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(target: Any, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        target.screenshot(path=str(path))
        return path

    return take


def new_page(browser: Any, **options: Any) -> Any:
    """A page in a fresh browser context (its own storage: a separate person)."""
    options.setdefault("viewport", {"width": 1280, "height": 800})
    context = browser.new_context(**options)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.js_errors = errors
    return page


def axe_violations(page: Any, context: str = "document") -> list[dict[str, Any]]:
    """Serious and critical axe-core violations on the page (the widget's shadow DOM included)."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: scripts/browser installs axe-core from npm")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(f"async () => await axe.run({context}, {{resultTypes: ['violations']}})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
