"""The chat widget on its own: offline queue and resync, reload, history paging, size, languages."""

from __future__ import annotations

import gzip
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import expect

from tests.browser.conftest import REPO, new_page
from tests.browser.helpers import GatewayLine, W, eventually, open_widget, say, widget_send, widget_session

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


def _chat_with_an_agent(
    customer: Any, live: Any, greeting: str, answers: list[str]
) -> tuple[str, str, dict[str, Any], list[dict[str, Any]]]:
    """The customer greets through the widget, an agent joins and answers (shown in the widget):
    the conversation id, the agent's token, the stored greeting and the stored answers."""
    open_widget(customer, live.url)
    widget_send(customer, greeting)
    expect(customer.locator(f"{W} li.msg.mine:not(.pending)")).to_contain_text(greeting)
    cid = widget_session(customer)["conversationId"]
    agent = live.agent_token()
    with live.api(agent) as http:
        assert http.post(f"/api/conversations/{cid}/join").status_code == 200
        said = [say(http, cid, text) for text in answers]
    expect(customer.locator(f"{W} li.msg", has_text=answers[-1])).to_be_visible()
    return cid, agent, _stored(live, cid, greeting)[0], said


def test_offline_messages_are_queued_then_synced_without_gaps_or_duplicates(browser, live, screenshot):
    customer = new_page(browser)
    cid, agent, greeting, [first] = _chat_with_an_agent(
        customer, live, "hello before going offline", ["agent's first words"]
    )

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
        # and changes what the customer already has: no live frame reaches an offline widget
        assert http.patch(f"/api/messages/{first['id']}", json={"text": "agent's corrected words"}).is_success
        assert http.post(f"/api/messages/{greeting['id']}/reactions", json={"emoji": "👍"}).is_success
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
    # the reconnected widget reloaded what it held: the edit and the reaction show
    expect(customer.locator(f"{W} li.msg", has_text="agent's corrected words")).to_be_visible()
    expect(customer.locator(f"{W} li.msg", has_text="agent's first words")).to_have_count(0)
    mine = customer.locator(f"{W} li.msg.mine", has_text="hello before going offline")
    expect(mine.locator(".reactions .chip")).to_contain_text("👍")

    # the session survives a reload: same conversation, same messages, nothing twice
    customer.reload()
    expect(customer.locator(f"{W} li.msg", has_text="agent says B")).to_be_visible()
    assert widget_session(customer)["conversationId"] == cid
    assert _seqs(customer) == shown
    assert customer.js_errors == []
    customer.context.close()


def _outbox(page: Any) -> list[dict[str, Any]]:
    """The widget's unsent messages as kept in localStorage."""
    return page.evaluate(
        """() => { for (const k of Object.keys(localStorage))
                     if (k.endsWith(':outbox')) return JSON.parse(localStorage[k]) || [];
                   return []; }"""
    )


def _stored(live, cid: str, text: str) -> list[dict[str, Any]]:
    """The stored copies of the message ``text`` in the conversation."""
    return [m for m in _history(live, live.agent_token(), cid) if m["content"].get("text") == text]


def test_offline_messages_survive_a_reload_and_are_sent_once(browser, live):
    customer = new_page(browser)
    line = GatewayLine(customer)
    open_widget(customer, live.url)
    widget_send(customer, "hello before the network went away")
    expect(customer.locator(f"{W} li.msg.mine:not(.pending)")).to_contain_text("before the network")
    cid = widget_session(customer)["conversationId"]

    # offline: the message is queued, and kept in localStorage with its clientMsgId
    customer.context.set_offline(True)
    expect(customer.locator(f"{W} .banner")).to_be_visible()
    text = "typed offline, then the page was reloaded"
    widget_send(customer, text)
    pending = customer.locator(f"{W} li.pending", has_text=text)
    expect(pending).to_have_attribute("data-state", "queued")
    [kept] = _outbox(customer)
    assert kept["content"]["text"] == text and kept["clientMsgId"]

    # the page reloads while the chat server is still out of reach (a browser that is offline
    # cannot reload a page at all, so here only the gateway's WebSocket is refused)
    line.down = True
    customer.context.set_offline(False)
    customer.reload()
    expect(pending).to_have_attribute("data-state", "queued")
    assert _stored(live, cid, text) == []

    # back online: sent once, with the clientMsgId it was given before the reload
    customer.context.set_offline(True)
    line.down = False
    customer.context.set_offline(False)
    expect(pending).to_have_count(0, timeout=15_000)
    expect(customer.locator(f"{W} li.msg.mine .text", has_text=text)).to_have_count(1)
    [stored] = _stored(live, cid, text)
    assert stored["clientMsgId"] == kept["clientMsgId"]
    assert _outbox(customer) == []

    # sent, stored, but the ack was lost: after a reload it is shown once and leaves the outbox
    line.dropping = {"ack"}
    unacknowledged = "stored by the server, but its ack never arrived"
    widget_send(customer, unacknowledged)
    eventually(lambda: _stored(live, cid, unacknowledged), what="the server storing the message")
    expect(customer.locator(f"{W} li.pending", has_text=unacknowledged)).to_have_count(1)
    assert [m["content"]["text"] for m in _outbox(customer)] == [unacknowledged]
    line.dropping = set()
    customer.reload()
    expect(customer.locator(f"{W} li.msg.mine:not(.pending) .text", has_text=unacknowledged)).to_have_count(1)
    expect(customer.locator(f"{W} li.pending")).to_have_count(0)
    assert len(_stored(live, cid, unacknowledged)) == 1 and len(_stored(live, cid, text)) == 1
    assert _outbox(customer) == []
    assert customer.js_errors == []
    customer.context.close()


def test_resync_reloads_the_changes_whose_frames_were_lost(browser, live):
    """The server's nodes lost frames for a while (an edit, a deletion, a reaction): ``resync``
    makes the widget reload the messages it holds."""
    customer = new_page(browser)
    line = GatewayLine(customer)
    cid, agent, greeting, [typo, aside] = _chat_with_an_agent(
        customer, live, "hello, anyone there?", ["I will chekc your order", "an aside I take back"]
    )

    line.dropping = {"message.updated", "message.deleted", "reaction"}
    with live.api(agent) as http:
        assert http.patch(f"/api/messages/{typo['id']}", json={"text": "I will check your order"}).is_success
        assert http.delete(f"/api/messages/{aside['id']}").is_success
        assert http.post(f"/api/messages/{greeting['id']}/reactions", json={"emoji": "🙂"}).is_success
        say(http, cid, "done checking")  # a frame that does arrive, after the lost ones
    expect(customer.locator(f"{W} li.msg", has_text="done checking")).to_be_visible()
    expect(customer.locator(f"{W} li.msg", has_text="chekc")).to_have_count(1)  # lost, so still shown

    line.dropping = set()
    line.inject({"type": "resync"})
    expect(customer.locator(f"{W} li.msg", has_text="I will check your order")).to_be_visible()
    expect(customer.locator(f"{W} li.msg", has_text="chekc")).to_have_count(0)
    expect(customer.locator(f"{W} li.msg", has_text="an aside I take back")).to_have_count(0)
    mine = customer.locator(f"{W} li.msg.mine", has_text="anyone there")
    expect(mine.locator(".reactions .chip")).to_contain_text("🙂")
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
