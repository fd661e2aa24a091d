"""Page helpers shared by the browser tests (what a person clicks, in one place)."""

from __future__ import annotations

from typing import Any

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


def agent_login(page: Any, url: str) -> None:
    page.goto(url + "/console")
    page.fill("#email", AGENT_EMAIL)
    page.fill("#password", AGENT_PASSWORD)
    page.click("button[type=submit]")
    page.locator(".conn.online").wait_for()
