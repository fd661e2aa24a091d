"""The analytics dashboard: date range, Chart.js charts, and an honest page without analytics."""

from __future__ import annotations

import json

from playwright.sync_api import expect

from tests.browser.conftest import new_page
from tests.browser.helpers import agent_login

#: Figures in the shape the dashboard draws (time series and rankings); served by a stubbed
#: route below, because this test checks the drawing, not the analytics plugin's numbers.
FIGURES = {
    "conversations": 42,
    "csatAverage": 4.4,
    "botContainment": 0.61,
    "volume": [{"date": f"2026-11-{d:02d}", "conversations": 3 + d % 5} for d in range(1, 15)],
    "responseTimes": [
        {"date": f"2026-11-{d:02d}", "firstResponseSeconds": 30 + d, "resolutionSeconds": 600 + 9 * d}
        for d in range(1, 15)
    ],
    "topIntents": [{"intent": "order_status", "count": 17}, {"intent": "refund", "count": 9}],
    "topTags": {"shipping": 12, "billing": 5},
    "sentiment": [
        {"date": f"2026-11-{d:02d}", "positive": d, "neutral": 5, "negative": 14 - d} for d in range(1, 15)
    ],
}


def test_dashboard_without_analytics_says_so(browser, live):
    page = new_page(browser)
    agent_login(page, live.url)
    page.goto(live.url + "/dashboard")
    has_analytics = "/api/analytics" in page.request.get(live.url + "/api/openapi.json").text()
    if has_analytics:
        expect(page.locator("[data-chart]").first).to_be_visible()
    else:
        expect(page.get_by_role("status")).to_contain_text("no analytics")
    assert page.evaluate("typeof window.Chart") == "function"  # served locally, not from the internet
    assert page.js_errors == []
    page.context.close()


def test_dashboard_draws_charts_for_a_date_range(browser, live, screenshot):
    page = new_page(browser, viewport={"width": 1280, "height": 1100})
    asked: list[str] = []

    def openapi(route):
        document = route.fetch().json()
        document["paths"].setdefault("/api/analytics", {"get": {}})
        route.fulfill(json=document)

    def analytics(route):
        asked.append(route.request.url)
        route.fulfill(status=200, content_type="application/json", body=json.dumps(FIGURES))

    page.route("**/api/openapi.json", openapi)
    page.route("**/api/analytics?*", analytics)
    agent_login(page, live.url)
    page.goto(live.url + "/dashboard")
    charts = page.locator("[data-chart] canvas")
    expect(charts).to_have_count(5)
    expect(page.locator("[data-kpi='conversations']")).to_contain_text("42")
    drawn = charts.evaluate_all(
        "cs => cs.map(c => Chart.getChart(c) && Chart.getChart(c).data.datasets.length)"
    )
    assert all(drawn), drawn
    with page.expect_request("**/api/analytics?*") as request:
        page.get_by_role("button", name="7 days").click()
    expect(page.get_by_role("button", name="7 days")).to_have_attribute("aria-pressed", "true")
    assert "from=" in request.value.url and "to=" in request.value.url and request.value.url != asked[0]
    expect(charts).to_have_count(5)
    page.wait_for_function(
        "[...document.querySelectorAll('[data-chart] canvas')].every(c => c.width > 100 && Chart.getChart(c))"
    )
    page.wait_for_timeout(300)
    screenshot(page, "dashboard")
    assert page.js_errors == []
    page.context.close()
