"""The console's Queue list follows ``queue.updated`` deltas live, and reloads whole after ``ready``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ADMIN_EMAIL, COLLEAGUE_EMAIL, new_page
from tests.browser.helpers import agent_login, eventually, new_customer, ok


@pytest.fixture
def nobody_online(live) -> Iterator[dict[str, str]]:
    """Staff tokens, every account away or offline so the router leaves the queue alone; restored after."""
    tokens = {"grace": live.agent_token(), "kim": live.agent_token(COLLEAGUE_EMAIL)}
    tokens["ada"] = live.agent_token(ADMIN_EMAIL)
    with live.api(tokens["ada"]) as http:
        before = {a["id"]: a["status"] for a in ok(http.get("/api/agents"))["agents"]}
    mine = {}
    for name, token in tokens.items():
        with live.api(token) as http:
            mine[name] = ok(http.get("/api/me"))["user"]["id"]
            ok(http.put("/api/agents/me/status", json={"status": "away" if name == "grace" else "offline"}))
    yield tokens
    for name, token in tokens.items():
        with live.api(token) as http:
            ok(http.put("/api/agents/me/status", json={"status": before.get(mine[name], "offline")}))


def _queued_ids(page: Any, ours: set[str]) -> list[str]:
    ids = page.locator("#conversation-list .item").evaluate_all("items => items.map((i) => i.dataset.id)")
    return [cid for cid in ids if cid in ours]


def test_the_queue_list_follows_the_deltas(browser, live, nobody_online):
    grace, admin = nobody_online["grace"], nobody_online["ada"]
    agent = new_page(browser)
    agent_login(agent, live.url)
    with live.api(grace) as http:  # the console made her online: away again, and stays away
        ok(http.put("/api/agents/me/status", json={"status": "away"}))
    expect(agent.get_by_role("tab", name="Queue", exact=False)).to_have_attribute("aria-selected", "true")

    customers = [new_customer(live, name) for name in ("Queue One", "Queue Two", "Queue Three")]
    cids = [started["conversation"]["id"] for _, started in customers]
    ours = set(cids)
    try:
        with live.api(grace) as http:
            for cid in cids:  # handed to the queue, one after the other
                ok(
                    http.put(
                        f"/api/conversations/{cid}/status", json={"status": "pending", "reason": "handoff"}
                    )
                )
                expect(agent.locator(f'#conversation-list .item[data-id="{cid}"]')).to_be_visible()
        assert eventually(lambda: _queued_ids(agent, ours) == cids, what="the queue in waiting order")

        with live.api(admin) as http:
            body = {"priority": "high", "reason": "VIP"}
            ok(http.put(f"/api/conversations/{cids[2]}/priority", json=body))
        urgent_first = [cids[2], cids[0], cids[1]]
        assert eventually(lambda: _queued_ids(agent, ours) == urgent_first, what="the urgent one first")

        with live.api(admin) as http:
            ok(http.post(f"/api/conversations/{cids[0]}/claim"))
        expect(agent.locator(f'#conversation-list .item[data-id="{cids[0]}"]')).to_have_count(0)
        assert _queued_ids(agent, ours) == [cids[2], cids[1]]

        # a reload starts from GET /api/queue: the same list, the same order
        agent.reload()
        agent.locator(".conn.online").wait_for()
        assert eventually(lambda: _queued_ids(agent, ours) == [cids[2], cids[1]], what="the queue reloaded")
        with live.api(admin) as http:
            ok(http.put(f"/api/conversations/{cids[1]}/status", json={"status": "resolved"}))
        expect(agent.locator(f'#conversation-list .item[data-id="{cids[1]}"]')).to_have_count(0)
        assert _queued_ids(agent, ours) == [cids[2]]
    finally:
        with live.api(admin) as http:
            for cid in cids:
                http.put(f"/api/conversations/{cid}/status", json={"status": "resolved"})
        for client, _ in customers:
            client.close()
        agent.close()
