"""axe-core finds no serious or critical accessibility problems in the widget and the console."""

from __future__ import annotations

import uuid

from playwright.sync_api import expect

from tests.browser.conftest import ADMIN_EMAIL, axe_violations, new_page
from tests.browser.helpers import W, agent_login, open_widget, widget_send, widget_session


def test_widget_and_console_pass_axe(browser, live, screenshot):
    customer = new_page(browser)
    open_widget(customer, live.url)
    widget_send(customer, "Hello, is anyone there? 🙂")
    expect(customer.locator(f"{W} li.msg.mine:not(.pending)")).to_be_visible()
    customer.locator(f"{W} .composer button[aria-label='Insert emoji']").click()
    expect(customer.locator(f"{W} .picker")).to_be_visible()
    widget = axe_violations(customer)
    print("axe widget:", widget)
    assert widget == []
    customer.keyboard.press("Escape")

    agent = new_page(browser)
    agent.goto(live.url + "/console")
    assert axe_violations(agent) == []  # the login form
    agent_login(agent, live.url)
    cid = widget_session(customer)["conversationId"]
    agent.get_by_role("tab", name="Open").click()
    agent.locator(f'.item[data-id="{cid}"]').click()
    expect(agent.locator(".messages")).to_contain_text("anyone there")
    expect(agent.locator(".context .nlu")).to_be_visible()  # what the NLU understood
    expect(agent.locator(".context .earlier")).to_be_visible()
    console = axe_violations(agent)
    print("axe console:", console)
    assert console == []
    screenshot(agent, "console-accessible")

    # the notifications list and the canned responses offered while typing "/"
    agent.locator(".notifications .bell").click()
    expect(agent.locator("#notification-list")).to_be_visible()
    assert axe_violations(agent) == []
    agent.keyboard.press("Escape")
    with live.api(live.agent_token(ADMIN_EMAIL)) as admin:
        body = {"shortcut": f"a11y-{uuid.uuid4().hex[:6]}", "text": "Happy to help!"}
        assert admin.post("/api/canned-responses", json=body).status_code == 201
    agent.locator("#reply-input").press_sequentially("/a11y", delay=10)
    expect(agent.get_by_role("listbox", name="Canned responses")).to_be_visible()
    assert axe_violations(agent) == []
    customer.context.close()
    agent.context.close()
