"""The agent console's desk work: the customer's context, AI suggestions, canned responses,
transfer and hand-back, availability, notifications and unread counts, in a real browser."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ADMIN_EMAIL, AGENT_NAME, COLLEAGUE_EMAIL, COLLEAGUE_NAME, new_page
from tests.browser.helpers import (
    GatewayLine,
    W,
    agent_login,
    console_open,
    eventually,
    new_customer,
    ok,
    open_widget,
    say,
    widget_send,
    widget_session,
)

#: Stands in for the browser's Notification API and lets a test hide the page.
HIDDEN_PAGE_AND_NOTIFICATIONS = """
window.__hidden = false;
window.__notifications = [];
Object.defineProperty(document, "visibilityState",
  {configurable: true, get: () => window.__hidden ? "hidden" : "visible"});
window.Notification = class {
  static permission = "granted";
  static requestPermission() { return Promise.resolve("granted"); }
  constructor(title, options) { window.__notifications.push([title, options.body]); }
};
"""


@pytest.fixture
def grace(live) -> Iterator[str]:
    """Grace's token; her availability is back to online after the test (other tests route to her)."""
    token = live.agent_token()
    yield token
    with live.api(token) as http:
        ok(http.put("/api/agents/me/status", json={"status": "online"}))


@pytest.fixture
def kim(live) -> Iterator[str]:
    """Kim's token; she is offline after the test, so routing never picks her in other tests."""
    token = live.agent_token(COLLEAGUE_EMAIL)
    yield token
    with live.api(token) as http:
        ok(http.put("/api/agents/me/status", json={"status": "offline"}))


def _nlu_ready(live, token: str) -> None:
    """Until the NLU's models are trained (the server trains them when it starts)."""
    with live.api(token) as http:
        eventually(lambda: not ok(http.get("/api/nlu/status"))["training"], 90, "training the NLU models")


def _read_everything(http, conversation_id: str) -> None:
    """Move the caller's read mark to the conversation's last message."""
    messages = ok(http.get(f"/api/chat/history/{conversation_id}"))["messages"]
    ok(http.put(f"/api/chat/status/{messages[-1]['id']}", json={"status": "read"}))


def test_context_panel_shows_understanding_and_earlier_conversations(browser, live, grace, screenshot):
    _nlu_ready(live, grace)
    customer, first = new_customer(live, "Nora")
    say(
        customer,
        first["conversation"]["id"],
        "My parcel NL-48213 is late, I'm really annoyed.",
    )
    # Nora comes back later: her token starts a second conversation, as the same customer
    again, second = new_customer(live, "Nora", token=first["token"])
    assert second["user"]["id"] == first["user"]["id"]
    cid = second["conversation"]["id"]
    say(again, cid, "Where is my order NL-48213? It still hasn't arrived and I'm really annoyed.")

    agent = new_page(browser)
    agent_login(agent, live.url)
    console_open(agent, cid)
    nlu = agent.locator(".context .nlu")
    expect(nlu.locator("[data-nlu=intent]")).to_contain_text("order_status")
    expect(nlu.locator("[data-nlu=sentiment]")).to_contain_text("negative")
    expect(nlu.locator("[data-nlu=entities]")).to_contain_text("NL-48213")
    expect(nlu).to_contain_text("en")
    expect(agent.locator(".msg", has_text="still hasn't arrived").locator(".annotation")).to_contain_text(
        "order_status"
    )

    # a new message is analysed after delivery: the panel follows it live (here, in German)
    say(again, cid, "Wo ist meine Bestellung? Bitte schnell.")
    expect(nlu.get_by_text("de", exact=True)).to_be_visible()
    expect(nlu.locator("[data-nlu=intent]")).to_contain_text("order_status")

    # her earlier conversation, one click away
    earlier = agent.locator(".context .earlier")
    expect(earlier.locator(".earlier-item")).to_have_count(1)
    screenshot(agent, "console-context")
    earlier.locator(f'.earlier-item[data-id="{first["conversation"]["id"]}"]').click()
    expect(agent.locator(".messages")).to_contain_text("My parcel NL-48213 is late")
    expect(agent.locator(f'.context .earlier-item[data-id="{cid}"]')).to_be_visible()
    assert agent.js_errors == []
    agent.context.close()
    customer.close()
    again.close()


def test_ai_suggestions_go_into_the_reply_with_one_click(browser, live, grace):
    customer = new_page(browser)
    open_widget(customer, live.url)
    widget_send(customer, "How long does shipping to Germany take?")
    cid = widget_session(customer)["conversationId"]
    with live.api(grace) as http:
        ok(http.post(f"/api/conversations/{cid}/join"))  # an agent owns it: suggestions are for them

    agent = new_page(browser)
    agent_login(agent, live.url)
    console_open(agent, cid, tab="Mine")
    suggestion = agent.locator(".suggestions .suggestion").first
    expect(suggestion).to_be_visible()
    text = suggestion.text_content()
    assert text and len(text) > 20
    suggestion.click()
    reply = agent.locator("#reply-input")
    expect(reply).to_have_value(text)
    expect(reply).to_be_focused()
    agent.get_by_role("button", name="Send", exact=True).click()
    expect(agent.locator(".msg.mine:not(.pending) .text", has_text=text[:60])).to_be_visible()
    expect(customer.locator(f"{W} li.msg.theirs .text", has_text=text[:60])).to_be_visible()
    expect(reply).to_have_value("")

    # the customer asks something else: fresh suggestions arrive live (a `suggestions` frame)
    widget_send(customer, "Can I pay with PayPal?")
    expect(agent.locator(".suggestions .suggestion").first).not_to_have_text(text)
    assert agent.js_errors == [] and customer.js_errors == []
    agent.context.close()
    customer.context.close()


def test_canned_responses_by_shortcut_and_from_the_picker(browser, live, grace, screenshot):
    tag = uuid.uuid4().hex[:6]
    refund = f"Refunds reach your account within 3-5 business days ({tag})."
    thanks = f"Thanks for waiting, I'm checking that for you now ({tag})."
    with live.api(live.agent_token(ADMIN_EMAIL)) as admin:
        ok(admin.post("/api/canned-responses", json={"shortcut": f"refund-{tag}", "text": refund}))
        created = ok(admin.post("/api/canned-responses", json={"shortcut": f"wait-{tag}", "text": thanks}))
    customer, started = new_customer(live, "Otto")
    cid = started["conversation"]["id"]
    with live.api(grace) as http:
        ok(http.post(f"/api/conversations/{cid}/join"))

    agent = new_page(browser)
    agent_login(agent, live.url)
    console_open(agent, cid, tab="Mine")
    reply = agent.locator("#reply-input")
    reply.press_sequentially(f"Hello Otto! /refund-{tag[:3]}", delay=10)
    options = agent.get_by_role("listbox", name="Canned responses").get_by_role("option")
    expect(options).to_have_count(1)
    expect(options.first).to_contain_text(f"/refund-{tag}")
    expect(options.first).to_have_attribute("aria-selected", "true")
    screenshot(agent, "console-canned")
    reply.press("Enter")  # inserts the canned response: it does not send yet
    expect(reply).to_have_value(f"Hello Otto! {refund}")
    expect(options).to_have_count(0)
    reply.press("Enter")
    expect(agent.locator(".msg.mine:not(.pending) .text", has_text=refund)).to_be_visible()
    eventually(
        lambda: (
            refund
            in [
                m["content"].get("text", "") for m in ok(customer.get(f"/api/chat/history/{cid}"))["messages"]
            ][-1]
        ),
        what="the customer getting the canned reply",
    )

    # the picker beside the composer inserts one too
    agent.locator("#canned-select").select_option(created["cannedResponse"]["id"])
    expect(reply).to_have_value(thanks)

    # arrow keys choose among several; Escape closes the list and keeps the text
    reply.fill("")
    reply.press_sequentially("/", delay=10)
    expect(options.first).to_be_visible()
    assert options.count() >= 2
    reply.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    reply.press("Escape")
    expect(options).to_have_count(0)
    expect(reply).to_have_value("/")

    # a canned response an admin adds now is there at once (a `canned.updated` frame)
    fresh = f"Our stores open at 9 ({tag})."
    with live.api(live.agent_token(ADMIN_EMAIL)) as admin:
        ok(admin.post("/api/canned-responses", json={"shortcut": f"hours-{tag}", "text": fresh}))
    reply.fill("")
    reply.press_sequentially(f"/hours-{tag}", delay=10)
    expect(options).to_have_count(1)
    reply.press("Tab")
    expect(reply).to_have_value(fresh)
    assert agent.js_errors == []
    agent.context.close()
    customer.close()


def test_transfer_to_a_colleague_then_hand_back_to_the_bot(browser, live, grace, kim, screenshot):
    customer = new_page(browser)
    open_widget(customer, live.url)
    widget_send(customer, "How long does shipping to Germany take?")
    cid = widget_session(customer)["conversationId"]
    with live.api(grace) as http:
        ok(http.post(f"/api/conversations/{cid}/join"))
        kim_id = next(a["id"] for a in ok(http.get("/api/agents"))["agents"] if a["name"] == COLLEAGUE_NAME)

    colleague = new_page(browser)
    agent_login(colleague, live.url, COLLEAGUE_EMAIL)
    agent = new_page(browser)
    agent_login(agent, live.url)
    console_open(agent, cid, tab="Mine")
    expect(agent.locator(".conv-head")).to_contain_text("assigned to you")
    agent.locator("#transfer-select").select_option(kim_id)
    expect(agent.locator(".conv-head")).to_contain_text("assigned to a colleague")

    # Kim is told, and the conversation is in her list
    expect(colleague.locator(".toast", has_text="Assigned to you")).to_be_visible()
    colleague.get_by_role("tab", name=re.compile("^Mine")).click()
    item = colleague.locator(f'.item[data-id="{cid}"]')
    expect(item).to_be_visible()
    # what the customer writes before she opens it is counted as unread, live
    widget_send(customer, "Hello, is someone there?")
    widget_send(customer, "I ordered on Monday.")
    expect(item.locator(".unread")).to_have_attribute("data-unread", "2")
    item.click()
    expect(colleague.locator(".messages")).to_contain_text("I ordered on Monday")
    expect(item.locator(".unread")).to_have_count(0)

    # she gives it back to the bot, which answers the customer again
    colleague.get_by_role("button", name="Hand back to bot").click()
    expect(colleague.locator(".conv-head")).to_contain_text("unassigned")
    screenshot(colleague, "console-handed-back")
    widget_send(customer, "What payment methods do you accept?")
    with live.api(grace) as http:

        def bot_answered() -> bool:
            messages = ok(http.get(f"/api/chat/history/{cid}"))["messages"]
            asked = max(
                m["seq"]
                for m in messages
                if m["content"].get("text") == "What payment methods do you accept?"
            )
            return any(m["sender"]["type"] == "ai" and m["seq"] > asked for m in messages)

        eventually(bot_answered, what="the bot answering after the hand-back")
    assert agent.js_errors == [] and colleague.js_errors == [] and customer.js_errors == []
    for page in (customer, colleague, agent):
        page.context.close()


def test_availability_and_notifications(browser, live, grace, kim, screenshot):
    agent = new_page(browser)
    agent.add_init_script(HIDDEN_PAGE_AND_NOTIFICATIONS)
    agent_login(agent, live.url)
    with live.api(grace) as http:
        me = ok(http.get("/api/me"))["user"]["id"]

    # availability: chosen here, and changed elsewhere (another tab) shown live
    availability = agent.locator("#availability")
    expect(availability).to_have_value("online")
    availability.select_option("away")
    with live.api(grace) as http:

        def status() -> str:
            return next(a["status"] for a in ok(http.get("/api/agents"))["agents"] if a["id"] == me)

        eventually(lambda: status() == "away", what="Grace being away")
        ok(http.put("/api/agents/me/status", json={"status": "online"}))
    expect(availability).to_have_value("online")

    # Kim mentions Grace in a private note: a toast, a badge, and the list of notifications
    customer, started = new_customer(live, "Pia")
    cid = started["conversation"]["id"]
    with live.api(kim) as http:
        say(http, cid, f"@{AGENT_NAME} could you check this refund?", private=True)
    expect(agent.locator(".toast", has_text=f"{COLLEAGUE_NAME} mentioned you")).to_be_visible()
    bell = agent.locator(".notifications .bell")
    expect(bell.locator(".badge")).to_have_attribute("data-count", "1")
    bell.click()
    entry = agent.locator("#notification-list .notification.new", has_text="could you check this refund")
    expect(entry).to_be_visible()
    screenshot(agent, "console-notifications")
    entry.click()
    expect(agent.locator(".messages .msg.note")).to_contain_text("could you check this refund")
    expect(bell.locator(".badge")).to_have_count(0)

    # a conversation assigned while the console is hidden: a toast and a browser notification
    agent.evaluate("window.__hidden = true")
    other, assigned = new_customer(live, "Quinn")
    with live.api(live.agent_token(ADMIN_EMAIL)) as admin:
        body = {"agentId": me}
        ok(admin.post(f"/api/conversations/{assigned['conversation']['id']}/assign", json=body))
    expect(agent.locator(".toast", has_text="Assigned to you: Quinn")).to_be_visible()
    agent.wait_for_function("window.__notifications.length > 0")
    assert agent.evaluate("window.__notifications") == [["New conversation assigned", "Quinn"]]
    assert agent.js_errors == []
    agent.context.close()
    customer.close()
    other.close()


def test_unread_counts_live_and_after_a_reload(browser, live, grace):
    first, one = new_customer(live, "Rita")
    second, two = new_customer(live, "Sam")
    busy, quiet = one["conversation"]["id"], two["conversation"]["id"]
    with live.api(grace) as http:
        for cid in (busy, quiet):
            ok(http.post(f"/api/conversations/{cid}/join"))
            _read_everything(http, cid)

    agent = new_page(browser)
    agent_login(agent, live.url)
    console_open(agent, quiet, tab="Mine")
    item = agent.locator(f'.item[data-id="{busy}"]')
    expect(item).to_be_visible()
    expect(item.locator(".unread")).to_have_count(0)
    with live.api(grace) as http:  # what Grace left unread in other conversations
        elsewhere = sum(c["unread"] for c in ok(http.get("/api/me/unread"))["conversations"])
    for text in ("Are you there?", "Hello??", "My parcel is lost"):
        say(first, busy, text)
    expect(item.locator(".unread")).to_have_attribute("data-unread", "3")
    expect(agent).to_have_title(f"({elsewhere + 3}) QanDu console")  # the page title adds them all up
    expect(agent.locator(f'.item[data-id="{quiet}"] .unread')).to_have_count(0)  # the open one is read

    # the count comes from the server after a reload: nothing was read
    agent.reload()
    agent.get_by_role("tab", name=re.compile("^Mine")).click()
    expect(item.locator(".unread")).to_have_attribute("data-unread", "3")
    item.click()
    expect(agent.locator(".messages")).to_contain_text("My parcel is lost")
    expect(item.locator(".unread")).to_have_count(0)
    expect(agent).to_have_title(f"({elsewhere}) QanDu console" if elsewhere else "QanDu console")
    with live.api(grace) as http:
        eventually(
            lambda: (
                busy not in {c["conversationId"] for c in ok(http.get("/api/me/unread"))["conversations"]}
            ),
            what="the read mark reaching the server",
        )
    agent.reload()
    agent.get_by_role("tab", name=re.compile("^Mine")).click()
    expect(item).to_be_visible()
    expect(item.locator(".unread")).to_have_count(0)
    assert agent.js_errors == []
    agent.context.close()
    first.close()
    second.close()


def test_resync_reloads_the_conversations_the_console_holds(browser, live, grace):
    """Frames lost between the server's nodes (an edit, a deletion): ``resync`` makes the console
    reload the messages of the conversations it holds."""
    customer, started = new_customer(live, "Rita")
    cid = started["conversation"]["id"]
    typo = say(customer, cid, "my ordr number is 12345")
    aside = say(customer, cid, "ignore this one")
    agent = new_page(browser)
    line = GatewayLine(agent)
    agent_login(agent, live.url)
    console_open(agent, cid)
    expect(agent.locator(".msg", has_text="ignore this one")).to_be_visible()

    line.dropping = {"message.updated", "message.deleted"}
    ok(customer.patch(f"/api/messages/{typo['id']}", json={"text": "my order number is 12345"}))
    ok(customer.delete(f"/api/messages/{aside['id']}"))
    say(customer, cid, "thanks for looking")  # a frame that does arrive, after the lost ones
    expect(agent.locator(".msg", has_text="thanks for looking")).to_be_visible()
    expect(agent.locator(".msg", has_text="my ordr number")).to_have_count(1)

    line.dropping = set()
    line.inject({"type": "resync"})
    expect(agent.locator(".msg", has_text="my order number is 12345")).to_be_visible()
    expect(agent.locator(".msg", has_text="my ordr number")).to_have_count(0)
    expect(agent.locator(".msg", has_text="ignore this one")).to_have_count(0)
    assert agent.js_errors == []
    agent.context.close()
    customer.close()
