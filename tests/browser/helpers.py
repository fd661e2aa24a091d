"""Page helpers shared by the browser tests (what a person clicks, in one place)."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import httpx

from tests.browser.conftest import AGENT_EMAIL, AGENT_PASSWORD

W = "#qandu-widget"  # the widget's host element; Playwright's CSS pierces its (open) shadow root


def open_widget(page: Any, url: str, path: str = "/") -> None:
    """Load the demo host page, open the widget and wait for the bot's greeting."""
    page.goto(url + path)
    page.locator(f"{W} .launcher").click()
    page.locator(f"{W} li.msg.theirs").first.wait_for()


def widget_send(page: Any, text: str) -> None:
    box = page.locator(f"{W} #qd-input")
    box.fill(text)
    box.press("Enter")


def widget_session(page: Any) -> dict[str, Any]:
    """The widget's saved session (token, conversation id) from localStorage."""
    return page.evaluate(
        """() => { for (const k of Object.keys(localStorage))
                     if (k.startsWith('qandu:http') && !k.endsWith(':outbox'))
                       return JSON.parse(localStorage[k]); }"""
    )


def agent_login(page: Any, url: str, email: str = AGENT_EMAIL) -> None:
    page.goto(url + "/console")
    page.fill("#email", email)
    page.fill("#password", AGENT_PASSWORD)
    page.click("button[type=submit]")
    page.locator(".conn.online").wait_for()


def console_open(page: Any, conversation_id: str, tab: str = "Open") -> None:
    """Pick a list in the console and open one conversation from it."""
    page.get_by_role("tab", name=re.compile(f"^{tab}")).click()
    page.locator(f'.item[data-id="{conversation_id}"]').click()
    page.locator(".conversation .messages li").first.wait_for()


def ok(response: httpx.Response) -> Any:
    """The JSON of a successful API answer (fails the test with the body otherwise)."""
    assert response.is_success, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json() if response.content else None


def say(http: httpx.Client, conversation_id: str, text: str, **fields: Any) -> dict[str, Any]:
    """Send a text message over the HTTP API; returns the stored message."""
    body = {
        "conversationId": conversation_id,
        "clientMsgId": uuid.uuid4().hex,
        "content": {"type": "text", "text": text},
        **fields,
    }
    return ok(http.post("/api/chat/message", json=body))["message"]


def new_customer(live: Any, name: str, **body: Any) -> tuple[httpx.Client, dict[str, Any]]:
    """A customer started over the API: their client (token set) and the initialize answer."""
    with live.api() as anonymous:
        started = ok(anonymous.post("/api/chat/initialize", json={"name": name, **body}))
    return live.api(started["token"]), started


def eventually(check: Any, timeout: float = 15.0, what: str = "the condition") -> Any:
    """Poll ``check()`` until it returns something truthy (server-side state, not the page)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.1)


class GatewayLine:
    """The page's gateway WebSocket, through Playwright: refused while ``down``, else passed on
    both ways, except the server's frames whose type is in ``dropping``; ``inject`` hands the
    page a frame as if the server had sent it."""

    def __init__(self, page: Any) -> None:
        self.down = False
        self.dropping: set[str] = set()
        self.page_side: Any = None
        page.route_web_socket(re.compile(r"^ws://[^/]+/ws\?"), self._connect)

    def _connect(self, ws: Any) -> None:
        if self.down:
            ws.close()
            return
        self.page_side = ws
        server = ws.connect_to_server()
        ws.on_message(server.send)
        server.on_message(lambda frame: None if self._lost(frame) else ws.send(frame))

    def _lost(self, frame: str | bytes) -> bool:
        return json.loads(frame).get("type") in self.dropping

    def inject(self, frame: dict[str, Any]) -> None:
        self.page_side.send(json.dumps(frame))
