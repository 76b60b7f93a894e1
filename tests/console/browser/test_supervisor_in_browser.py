"""In Chromium: the supervisor's dashboard shows calls reported by the voice gateway's API
and the handoffs of this run; the supervisor pages pass the axe check. (Named to run after
the other browser tests, so the screenshot shows their tickets and applications.)"""
from __future__ import annotations

import uuid
from datetime import timedelta

import requests

from proxy_service.services.common import now
from tests.conftest import TOKEN
from tests.console.browser.chromium import axe_violations, describe, overflows_horizontally
from tests.console.browser.conftest import screenshot


def report_call(api_url: str, days_ago: int, channel: str = "phone") -> None:
    started = now() - timedelta(days=days_ago, minutes=5)
    response = requests.put(f"{api_url}/api/calls/CA{uuid.uuid4().hex}", timeout=10,
                            headers={"Authorization": f"Bearer {TOKEN}"},
                            json={"channel": channel, "started_at": started.isoformat(), "status": "completed",
                                  "ended_at": (started + timedelta(minutes=3)).isoformat(), "duration_seconds": 180})
    assert response.status_code == 200, response.text


def cards(page) -> dict[str, str]:
    return {card.locator("p").first.inner_text(): card.locator(".count").inner_text()
            for card in page.locator(".card").all()}


def calls_shown(page, days: int) -> int:
    page.goto(f"/dashboard?days={days}")
    return int(cards(page)["来电"])


def test_dashboard_counts_calls_of_the_period_and_is_accessible(open_as, api_url):
    page = open_as("admin")
    before = {days: calls_shown(page, days) for days in (7, 30)}
    for days_ago, channel in ((0, "phone"), (1, "phone"), (2, "kiosk"), (12, "phone")):
        report_call(api_url, days_ago, channel)
    assert calls_shown(page, 7) == before[7] + 3                      # the call 12 days ago is outside
    assert page.get_by_role("img", name="每天来电数").count() == 1
    violations = axe_violations(page)
    assert violations == [], describe(violations)
    screenshot(page, "dashboard")
    page.get_by_role("link", name="最近30天").click()
    assert int(cards(page)["来电"]) == before[30] + 4
    assert page.get_by_role("heading", level=1).inner_text() == "最近30天的情况"


def test_supervisor_pages_pass_the_check_at_normal_size_and_200_percent(open_as):
    page = open_as("admin")
    for width in (1280, 640):
        page.set_viewport_size({"width": width, "height": 900})
        for path in ("/dashboard?days=30", "/admin/users", "/bookings", "/review?status=all", "/queues"):
            page.goto(path)
            violations = axe_violations(page)
            assert violations == [], f"{path} at {width}px\n{describe(violations)}"
            assert not overflows_horizontally(page), f"{path} at {width}px"
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto("/admin/users")
    screenshot(page, "admin-users")
