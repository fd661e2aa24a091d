"""The analytics dashboard: real figures of the analytics plugin for conversations scripted
through the API, drawn for a date range and bucket; and an honest page without analytics."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import AGENT_NAME, LiveServer, new_page
from tests.browser.helpers import agent_login

#: What the scripted conversations add up to (see ``scripted``).
CONVERSATIONS = 3
RATINGS = [5, 3]
TAGS = {"billing": 2, "refund": 1}


def _say(http: httpx.Client, conversation_id: str, text: str) -> None:
    body = {
        "conversationId": conversation_id,
        "clientMsgId": uuid.uuid4().hex,
        "content": {"type": "text", "text": text},
    }
    response = http.post("/api/chat/message", json=body)
    assert response.status_code == 201, response.text


def _ok(response: httpx.Response) -> Any:
    assert response.is_success, response.text
    return response.json()


def _customer(server: LiveServer, name: str, first: str) -> tuple[httpx.Client, str]:
    with server.api() as anonymous:
        init = _ok(anonymous.post("/api/chat/initialize", json={"name": name}))
    http = server.api(init["token"])
    _say(http, init["conversation"]["id"], first)
    return http, init["conversation"]["id"]


def _wait_for_bot(staff: httpx.Client, conversation_id: str) -> None:
    """Until the bot has answered the customer's first message (the pipeline runs after the store)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        history = _ok(staff.get(f"/api/chat/history/{conversation_id}"))["messages"]
        history.sort(key=lambda m: m["seq"])
        senders = [m["sender"]["type"] for m in history]
        if "user" in senders and "ai" in senders[senders.index("user") :]:
            return
        time.sleep(0.05)
    raise AssertionError(f"the bot did not answer in {conversation_id}")


def _script(server: LiveServer, staff: httpx.Client) -> None:
    """Three conversations: one the bot handles alone, one handed to Grace and resolved, one open."""
    ann, ann_id = _customer(server, "Ann", "Where is my order?")
    _wait_for_bot(staff, ann_id)
    _ok(ann.put(f"/api/conversations/{ann_id}/status", json={"status": "resolved"}))
    _ok(ann.post(f"/api/conversations/{ann_id}/csat", json={"rating": RATINGS[0]}))

    bob, bob_id = _customer(server, "Bob", "human")
    _wait_for_bot(staff, bob_id)
    _ok(staff.post(f"/api/conversations/{bob_id}/join"))
    _say(staff, bob_id, "Hi Bob, Grace here. Let me look at your invoice.")
    _say(bob, bob_id, "Thanks, it is invoice 4711.")
    _ok(staff.post(f"/api/conversations/{bob_id}/tags", json={"tags": ["billing"]}))
    _ok(staff.put(f"/api/conversations/{bob_id}/status", json={"status": "resolved"}))
    _ok(bob.post(f"/api/conversations/{bob_id}/csat", json={"rating": RATINGS[1]}))

    carl, carl_id = _customer(server, "Carl", "I want a refund for my kettle")
    _wait_for_bot(staff, carl_id)
    _ok(staff.post(f"/api/conversations/{carl_id}/join"))
    _say(staff, carl_id, "Sorry about the kettle, Carl. I'm on it.")
    _ok(staff.post(f"/api/conversations/{carl_id}/tags", json={"tags": ["billing", "refund"]}))
    for http in (ann, bob, carl):
        http.close()


def _today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, Any]]]:
    """A fresh server (every installed plugin, analytics included) with the scripted conversations,
    and the figures ``GET /api/analytics`` reports for the last 30 days once they are all recorded."""
    server = LiveServer(tmp_path_factory.mktemp("dashboard"))
    try:
        server.start()
        with server.api(server.agent_token()) as staff:
            _script(server, staff)
            today = dt.datetime.now(dt.UTC).date()
            query = {
                "from": (today - dt.timedelta(days=29)).isoformat(),
                "to": (today + dt.timedelta(days=1)).isoformat(),
            }
            deadline = time.monotonic() + 10
            while True:  # the pipeline records after the store: wait until the last message is in
                figures = _ok(staff.get("/api/analytics", params=query))
                totals = figures["totals"]
                if totals["csat"]["count"] == len(RATINGS) and totals["messages"].get("agent") == 2:
                    break
                assert time.monotonic() < deadline, totals
                time.sleep(0.1)
        yield server, figures
    finally:
        server.stop()


def test_dashboard_without_analytics_says_so(browser, live):
    """A server whose OpenAPI document has no ``GET /api/analytics`` gets a notice, not charts."""
    page = new_page(browser)

    def without_analytics(route):
        document = route.fetch().json()
        document["paths"].pop("/api/analytics", None)
        route.fulfill(json=document)

    page.route("**/api/openapi.json", without_analytics)
    agent_login(page, live.url)
    page.goto(live.url + "/dashboard")
    expect(page.get_by_role("status")).to_contain_text("no analytics")
    expect(page.locator("[data-chart]")).to_have_count(0)
    assert page.evaluate("typeof window.Chart") == "function"  # served locally, not from the internet
    assert page.js_errors == []
    page.context.close()


def _chart(page: Any, name: str) -> dict[str, Any]:
    return page.locator(f"[data-chart='{name}'] canvas").evaluate(
        "c => { const d = Chart.getChart(c).data; return {labels: d.labels,"
        " sets: Object.fromEntries(d.datasets.map((s, i) => [s.label || i, s.data]))}; }"
    )


def _wait_for_buckets(page: Any, n: int) -> None:
    """Until the volume chart shows ``n`` buckets (the figures of the new range arrived)."""
    page.wait_for_function(
        """n => { const c = document.querySelector("[data-chart='volume'] canvas");
                  const chart = c && Chart.getChart(c); return chart && chart.data.labels.length === n; }""",
        arg=n,
    )


def test_dashboard_draws_the_real_figures(browser, scripted, screenshot):
    server, figures = scripted
    totals = figures["totals"]
    # the analytics plugin counted what the script did
    assert totals["conversations"] == CONVERSATIONS
    assert totals["csat"]["average"] == sum(RATINGS) / len(RATINGS)
    assert totals["csat"]["distribution"] == {"1": 0, "2": 0, "3": 1, "4": 0, "5": 1}
    assert totals["resolutions"] == 2 and totals["firstResponse"]["count"] == 2
    assert {t["tag"]: t["count"] for t in figures["topTags"]} == TAGS

    page = new_page(browser, viewport={"width": 1280, "height": 1500})
    asked: list[str] = []
    page.on("request", lambda r: "/api/analytics" in r.url and asked.append(r.url))
    agent_login(page, server.url)
    page.goto(server.url + "/dashboard")
    expect(page.locator("[data-kpi='conversations'] .value")).to_have_text(str(CONVERSATIONS))
    expect(page.locator("[data-kpi='csat'] .value")).to_have_text("4 / 5")
    expect(page.locator("[data-kpi='csat'] .detail")).to_have_text("2 answers")
    expect(page.locator("[data-kpi='handoff'] .detail")).to_contain_text(
        f"{totals['handoffs']} of {totals['botConversations']} bot conversations"
    )
    expect(page.locator("[data-kpi='containment'] .detail")).to_contain_text(
        f"{totals['contained']} of {totals['botResolutions']} bot resolutions"
    )
    # the default range: the last 30 UTC days, today included (the API's `to` is exclusive)
    query = parse_qs(urlsplit(asked[0]).query)
    today = dt.datetime.now(dt.UTC).date()
    assert query == {
        "from": [(today - dt.timedelta(days=29)).isoformat()],
        "to": [(today + dt.timedelta(days=1)).isoformat()],
        "bucket": ["day"],
    }

    volume = _chart(page, "volume")
    assert len(volume["labels"]) == 30 and volume["labels"][-1] == today.isoformat()
    assert sum(volume["sets"]["Conversations"]) == CONVERSATIONS
    assert sum(volume["sets"]["Resolutions"]) == 2
    assert sum(volume["sets"]["Messages"]) == sum(totals["messages"].values())
    assert _chart(page, "csat")["sets"]["Answers"] == [0, 0, 1, 0, 1]
    tags = _chart(page, "tags")
    assert dict(zip(tags["labels"], tags["sets"]["Conversations"], strict=True)) == TAGS
    times = _chart(page, "times")["sets"]
    assert [v for v in times["First response"] if v is not None] == [totals["firstResponse"]["median"]]
    agents = page.locator("[data-table='agents'] tbody tr")
    expect(agents).to_have_count(1)
    expect(agents.first.locator("th")).to_have_text(AGENT_NAME)
    expect(agents.first.locator("td").last).to_have_text("3 (1)")  # Grace's one rated conversation

    # hourly buckets over the last 7 days: the same conversations, 7 * 24 points
    with page.expect_request("**/api/analytics?*") as request:
        page.get_by_role("button", name="7 days").click()
    expect(page.get_by_role("button", name="7 days")).to_have_attribute("aria-pressed", "true")
    assert parse_qs(urlsplit(request.value.url).query)["from"] == [(today - dt.timedelta(days=6)).isoformat()]
    with page.expect_request("**/api/analytics?*") as request:
        page.get_by_label("By").select_option("hour")
    assert parse_qs(urlsplit(request.value.url).query)["bucket"] == ["hour"]
    _wait_for_buckets(page, 7 * 24)
    assert sum(_chart(page, "volume")["sets"]["Conversations"]) == CONVERSATIONS
    expect(page.locator("[data-kpi='conversations'] .value")).to_have_text(str(CONVERSATIONS))

    page.get_by_label("By").select_option("day")
    _wait_for_buckets(page, 7)
    page.wait_for_function(
        "[...document.querySelectorAll('[data-chart] canvas')].every(c => c.width > 100 && Chart.getChart(c))"
    )
    page.wait_for_timeout(300)
    screenshot(page, "dashboard")
    assert page.js_errors == []
    page.context.close()


def test_dashboard_reports_a_bad_range(browser, scripted):
    """A range the API refuses (longer than max_range_days) shows the API's error, not stale charts."""
    server, _ = scripted
    page = new_page(browser)
    agent_login(page, server.url)
    page.goto(server.url + "/dashboard")
    expect(page.locator("[data-chart='volume'] canvas")).to_be_visible()
    page.fill("input[name=from]", "2020-01-01")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("alert")).to_contain_text("from")
    expect(page.locator("[data-chart]")).to_have_count(0)
    assert page.js_errors == []
    page.context.close()


def test_empty_top_intents_say_why(browser, live):
    """No intents while the NLU models train says so; so does a server without the nlu plugin."""
    page = new_page(browser)
    models = [{"language": "de", "state": "ready"}, {"language": "en", "state": "training"}]
    status = {"training": True, "bots": [{"bot": "support", "models": models}]}

    def without_intents(route):
        figures = route.fetch().json()
        figures["topIntents"] = []
        route.fulfill(json=figures)

    page.route("**/api/analytics?*", without_intents)
    page.route("**/api/nlu/status", lambda route: route.fulfill(json=status))
    agent_login(page, live.url)
    page.goto(live.url + "/dashboard")
    intents = page.locator("[data-chart='intents']")
    expect(intents.locator(".empty")).to_contain_text("The NLU models are still training: support (en).")
    expect(intents.locator("canvas")).to_have_count(0)

    # trained: asked again with the next range, and the plain "nothing in this range"
    status = {
        "training": False,
        "bots": [{"bot": "support", "models": [{**m, "state": "ready"} for m in models]}],
    }
    page.get_by_role("button", name="7 days").click()
    expect(intents.locator(".empty")).to_have_text("No recognised intent in this range.")

    # a model that could not be trained
    status = {
        "training": False,
        "bots": [{"bot": "support", "models": [{"language": "en", "state": "unavailable"}]}],
    }
    page.get_by_role("button", name="30 days").click()
    expect(intents.locator(".empty")).to_contain_text("No intent model for support (en)")
    assert page.js_errors == []
    page.context.close()

    # a server without the nlu plugin (no /api/nlu/status in its OpenAPI document)
    page = new_page(browser)

    def without_nlu(route):
        document = route.fetch().json()
        document["paths"].pop("/api/nlu/status", None)
        route.fulfill(json=document)

    page.route("**/api/openapi.json", without_nlu)
    page.route("**/api/analytics?*", without_intents)
    agent_login(page, live.url)
    page.goto(live.url + "/dashboard")
    expect(page.locator("[data-chart='intents'] .empty")).to_contain_text("the nlu plugin is not installed")
    assert page.js_errors == []
    page.context.close()
