"""The chat widget on its own: offline queue and resync, reload, history paging, size, languages."""

from __future__ import annotations

import gzip
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import expect

from tests.browser.conftest import REPO, new_page
from tests.browser.helpers import W, open_widget, widget_send, widget_session

STATIC = REPO / "qandu" / "static"
WIDGET_BUDGET = 60 * 1024


def _seqs(page) -> list[int]:
    return [
        int(s) for s in page.locator(f"{W} li[data-seq]").evaluate_all("els => els.map(e => e.dataset.seq)")
    ]


def _texts(page) -> list[str]:
    return page.locator(f"{W} li.msg:not(.pending) .text").all_inner_texts()


def _history(live, token: str, cid: str) -> list[dict]:
    messages, before = [], None
    with live.api(token) as http:
        while True:
            params = {"limit": 200, **({"before": before} if before else {})}
            page = http.get(f"/api/chat/history/{cid}", params=params).json()
            messages = page["messages"] + messages
            before = page["nextBefore"]
            if not page["hasMore"]:
                return messages


def test_offline_messages_are_queued_then_synced_without_gaps_or_duplicates(browser, live, screenshot):
    customer = new_page(browser)
    open_widget(customer, live.url)
    widget_send(customer, "hello before going offline")
    expect(customer.locator(f"{W} li.msg.mine:not(.pending)")).to_contain_text("before going offline")
    cid = widget_session(customer)["conversationId"]
    agent = live.agent_token()
    with live.api(agent) as http:
        assert http.post(f"/api/conversations/{cid}/join").status_code == 200

    customer.context.set_offline(True)
    expect(customer.locator(f"{W} .banner")).to_be_visible()
    widget_send(customer, "written offline one")
    widget_send(customer, "written offline two")
    queued = customer.locator(f"{W} li.pending")
    expect(queued).to_have_count(2)
    expect(queued.first).to_have_attribute("data-state", "queued")
    with live.api(agent) as http:  # the agent keeps writing while the customer is away
        for text in ("agent says A while you were away", "agent says B while you were away"):
            body = {
                "conversationId": cid,
                "clientMsgId": uuid.uuid4().hex,
                "content": {"type": "text", "text": text},
            }
            assert http.post("/api/chat/message", json=body).status_code == 201
    screenshot(customer, "widget-offline")

    customer.context.set_offline(False)
    expect(queued).to_have_count(0, timeout=15_000)
    expect(customer.locator(f"{W} li.msg", has_text="agent says B")).to_be_visible()
    stored = [m for m in _history(live, agent, cid) if not m.get("private")]
    shown = _seqs(customer)
    assert shown == sorted(set(shown)), "messages out of order or duplicated"
    assert shown == [m["seq"] for m in stored], "the widget lost or invented messages"
    texts = [m["content"].get("text") for m in stored]
    for text in ("written offline one", "written offline two", "agent says A while you were away"):
        assert texts.count(text) == 1
    assert texts.index("written offline one") < texts.index("written offline two")

    # the session survives a reload: same conversation, same messages, nothing twice
    customer.reload()
    expect(customer.locator(f"{W} li.msg", has_text="agent says B")).to_be_visible()
    assert widget_session(customer)["conversationId"] == cid
    assert _seqs(customer) == shown
    assert customer.js_errors == []
    customer.context.close()


def test_long_history_loads_older_pages_on_scroll(browser, live):
    customer = new_page(browser)
    open_widget(customer, live.url)
    session = widget_session(customer)
    cid = session["conversationId"]
    with live.api(session["token"]) as http:
        for i in range(120):
            body = {
                "conversationId": cid,
                "clientMsgId": f"bulk-{i}",
                "content": {"type": "text", "text": f"line {i}"},
            }
            assert http.post("/api/chat/message", json=body).status_code == 201
    customer.reload()
    expect(customer.locator(f"{W} li.msg", has_text="line 119")).to_be_visible()
    first_render = len(_seqs(customer))
    assert first_render <= 40, f"{first_render} messages rendered at once: pages should load on demand"
    beginning = customer.locator(f"{W} .sentinel .hint")
    for _ in range(20):
        if "beginning" in beginning.inner_text():
            break
        customer.locator(f"{W} .list").evaluate("el => { el.scrollTop = 0; }")
        customer.wait_for_timeout(150)
    expect(beginning).to_contain_text("beginning")
    shown = _seqs(customer)
    assert shown == [m["seq"] for m in _history(live, session["token"], cid)]
    assert len(shown) > first_render
    # scrolling up kept the reader's place: the list did not jump to the bottom
    from_bottom = customer.locator(f"{W} .list").evaluate(
        "el => el.scrollHeight - el.scrollTop - el.clientHeight"
    )
    assert from_bottom > 1000
    customer.context.close()


def test_widget_is_light_and_loads_without_blocking_the_page(browser, live):
    page = new_page(browser)
    loaded: list[str] = []
    page.on("requestfinished", lambda request: loaded.append(urlsplit(request.url).path))
    # a slow widget must not hold up the host page
    page.route("**/static/widget/app.js", lambda route: (page.wait_for_timeout(1500), route.continue_()))
    page.goto(live.url + "/")
    load_ms = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventStart")
    assert load_ms < 1500, f"the host page's load event waited for the widget ({load_ms:.0f} ms)"
    assert page.locator("script[src$='/static/widget.js']").get_attribute("async") is not None
    page.locator(f"{W} .launcher").click()
    page.locator(f"{W} li.msg").first.wait_for()
    files = sorted(
        {p for p in loaded if p.startswith("/static/") and p != "/static/site.css" and "favicon" not in p}
    )
    assert "/static/widget/app.js" in files and not any("chart" in p for p in files)
    sizes = {p: len(gzip.compress((STATIC / p.removeprefix("/static/")).read_bytes(), 9)) for p in files}
    total = sum(sizes.values())
    print(f"widget: {len(files)} files, {total} bytes gzip: {sizes}")
    assert total < WIDGET_BUDGET, sizes
    page.context.close()


def test_german_from_the_browser_language(browser, live, screenshot):
    page = new_page(browser, locale="de-DE")
    open_widget(page, live.url)
    expect(page.locator(f"{W} #qd-input")).to_have_attribute("placeholder", "Nachricht schreiben…")
    expect(page.locator(f"{W} li.msg.theirs").first).to_contain_text("Hallo")
    expect(page.locator(f"{W} .launcher")).to_have_attribute("aria-label", "Chat schließen")
    screenshot(page, "widget-german")
    page.context.close()


def test_phone_layout_and_keyboard_use(browser, live, screenshot):
    page = new_page(browser, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page.goto(live.url + "/")
    launcher = page.locator(f"{W} .launcher")
    launcher.focus()
    page.keyboard.press("Enter")
    page.locator(f"{W} li.msg").first.wait_for()
    panel = page.locator(f"{W} .panel").bounding_box()
    assert panel["width"] == 390 and panel["height"] >= 800  # full screen on a phone
    expect(page.locator(f"{W} #qd-input")).to_be_focused()
    page.keyboard.type("typed with the keyboard")
    page.keyboard.press("Enter")
    expect(page.locator(f"{W} li.msg.mine:not(.pending)")).to_contain_text("typed with the keyboard")
    screenshot(page, "widget-phone")
    page.keyboard.press("Escape")
    expect(page.locator(f"{W} .panel")).to_have_count(0)
    expect(launcher).to_be_focused()
    page.context.close()


def test_static_sources_exist():
    assert Path(STATIC / "widget.js").stat().st_size < 4096  # the loader itself stays tiny
