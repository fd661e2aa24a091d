"""A customer (widget) and an agent (console) in two browser contexts hold a conversation."""

from __future__ import annotations

import json
import re
import struct
import zlib

from playwright.sync_api import expect

from tests.browser.conftest import new_page
from tests.browser.helpers import W, agent_login, open_widget, widget_send, widget_session


def test_customer_and_agent_chat_live(browser, live, screenshot):
    customer = new_page(browser)
    agent = new_page(browser)
    open_widget(customer, live.url)
    expect(customer.locator(f"{W} li.msg.theirs").first).to_contain_text("Qanda")
    widget_send(customer, "I'd like to talk to a human, please")
    expect(customer.locator(f"{W} li.msg.mine").last).to_contain_text("talk to a human")
    cid = widget_session(customer)["conversationId"]

    # the agent watches the queue; the conversation enters it live when it is handed off
    # (done here over the API, as the bot's handoff would, so the test does not depend on
    # what the installed bot plugins answer)
    agent_login(agent, live.url)
    item = agent.locator(f'.item[data-id="{cid}"]')
    with live.api(live.agent_token()) as http:
        body = {"status": "pending", "reason": "handoff"}
        changed = http.put(f"/api/conversations/{cid}/status", json=body)
        # 409: the bot or routing moved it on already (to pending, or to an agent)
        assert changed.status_code in (200, 409), changed.text
    # routing may hand it straight to the only agent online; otherwise it waits in the queue
    agent.get_by_role("tab", name=re.compile("^Open")).click()
    expect(item).to_be_visible()
    item.click()
    expect(agent.locator(".messages")).to_contain_text("talk to a human")
    claim = agent.locator(".conv-head .actions").get_by_role("button", name=re.compile("^(Claim|Join)$"))
    if claim.count():
        claim.click()
    expect(agent.locator(".conv-head")).to_contain_text("assigned to you")

    # typing shows on the other side, both ways
    agent.locator("#reply-input").press_sequentially("Hello", delay=20)
    expect(customer.locator(f"{W} .typing")).to_contain_text("is typing", timeout=5000)
    agent.locator("#reply-input").fill("Hi, I'm Grace 👋 How can I help?")
    agent.locator("#reply-input").press("Enter")
    reply = customer.locator(f"{W} li.msg.theirs", has_text="I'm Grace")
    expect(reply).to_be_visible()
    expect(customer.locator(f"{W} .typing")).not_to_contain_text("is typing")
    customer.locator(f"{W} #qd-input").press_sequentially("My order", delay=20)
    expect(agent.locator(".typing")).to_contain_text("is typing")

    # the open widget reads the reply: the agent's message shows "read"
    expect(agent.locator(".msg.mine", has_text="I'm Grace").locator(".status")).to_have_attribute(
        "data-status", "read"
    )
    widget_send(customer, "My order NL-48213 has not arrived 📦")
    expect(agent.locator(".messages")).to_contain_text("NL-48213 has not arrived")
    mine = customer.locator(f"{W} li.msg.mine", has_text="NL-48213")
    expect(mine.locator(".status")).to_have_attribute("data-status", "read")

    # a reaction from the customer reaches the agent
    reply.hover()
    reply.get_by_role("button", name="React").click()
    reply.locator(".quick button", has_text="👍").click()
    expect(reply.locator(".chip.mine")).to_contain_text("👍 1")
    expect(agent.locator(".msg", has_text="I'm Grace").locator(".chip")).to_contain_text("👍 1")

    # a reply to a message quotes it
    reply.hover()
    reply.get_by_role("button", name="Reply").click()
    widget_send(customer, "Thanks, that was quick!")
    expect(agent.locator(".msg", has_text="that was quick").locator(".quote")).to_contain_text("I'm Grace")

    # tags from the context panel
    agent.locator("#tag-input").fill("Shipping")
    agent.locator("#tag-input").press("Enter")
    expect(agent.locator(".context .tags")).to_contain_text("#shipping")

    # an image, with upload progress, shows as a picture on both sides
    customer.locator(f"{W} input[type=file]").set_input_files(
        files=[{"name": "parcel.png", "mimeType": "image/png", "buffer": _png(160, 120)}]
    )
    picture = customer.locator(f"{W} li.msg.mine img[alt='parcel.png']")
    expect(picture).to_be_visible()
    expect(agent.locator(".msg img[alt='parcel.png']")).to_be_visible()
    assert picture.evaluate("img => img.complete && img.naturalWidth > 0")
    assert agent.locator(".msg img[alt='parcel.png']").evaluate("img => img.complete && img.naturalWidth > 0")

    screenshot(customer, "widget-conversation")
    screenshot(agent, "console-conversation")

    # the agent resolves; the customer is told (and surveyed when the server runs one)
    agent.get_by_role("button", name="Resolve").click()
    expect(customer.locator(f"{W} .resolved")).to_be_visible()
    expect(agent.locator(".conv-head .pill").first).to_have_text(re.compile("resolved"))
    survey = customer.locator(f"{W} form.survey")
    expect(survey).to_be_visible()
    survey.get_by_role("radio", name="5 of 5").click()
    survey.locator("textarea").fill("Quick and friendly 🙂")
    screenshot(customer, "widget-resolved")
    survey.get_by_role("button", name="Send feedback").click()
    expect(customer.locator(f"{W} .survey[role=status]")).to_contain_text("Thank you")
    with live.api(live.agent_token()) as http:
        answer = http.get(f"/api/conversations/{cid}/csat").json()
    assert '"rating": 5' in json.dumps(answer), answer
    assert customer.js_errors == [] and agent.js_errors == []
    customer.context.close()
    agent.context.close()


def _png(width: int, height: int) -> bytes:
    """A small real PNG: a blue-to-teal gradient."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((30, 64 + y, 200 - x // 2)) for x in range(width)) for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
