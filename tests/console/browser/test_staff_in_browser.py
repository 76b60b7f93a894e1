"""In Chromium: staff take a ticket that a real conversation with the assistant created,
read what the caller said, claim it and resolve it; the staff pages pass the axe check."""
from __future__ import annotations

import re
import uuid

import requests
from sqlalchemy import select

from proxy_service import models as m
from proxy_service.services import calendar
from proxy_service.services.common import now
from proxy_service.settings import get_settings
from tests.conftest import TOKEN
from tests.console.browser.chromium import axe_violations, describe, overflows_horizontally
from tests.console.browser.conftest import screenshot


def assert_accessible(page) -> None:
    violations = axe_violations(page)
    assert violations == [], f"{page.url}\n{describe(violations)}"


CALLER_PHONE = "13912345678"


def handed_off_ticket(rasa, console_uow, words: str) -> tuple[m.HandoffTicket, str]:
    """Talk to the running assistant as a phone caller until it hands over; the ticket and its queue's name."""
    caller = f"browser-{uuid.uuid4().hex[:8]}"
    metadata = {"channel": "phone", "caller": CALLER_PHONE}
    rasa.send(caller, "你好", metadata)
    rasa.send(caller, words, metadata)
    with console_uow() as uow:
        ticket = uow.session.execute(select(m.HandoffTicket).filter_by(conversation_id=caller)).scalar_one()
        uow.session.expunge(ticket)
        return ticket, uow.queues.get(ticket.queue_id).name


def test_staff_claims_reads_and_resolves_a_ticket_from_a_real_conversation(open_as, rasa, console_uow):
    ticket, queue_name = handed_off_ticket(rasa, console_uow, "我要找人工客服")
    page = open_as("staff")
    assert page.url.endswith("/queues")
    assert_accessible(page)
    screenshot(page, "staff-queues")

    page.get_by_role("link", name=queue_name).click()
    assert page.get_by_role("heading", level=1).inner_text() == f"{queue_name}队列"
    assert_accessible(page)
    screenshot(page, "staff-queue")

    page.get_by_role("link", name=f"打开工单 {ticket.reference}").click()
    transcript = page.get_by_role("region", name="对话记录")
    assert "我要找人工客服" in transcript.inner_text()          # the caller's own words
    facts = page.get_by_role("region", name="基本情况").inner_text()
    assert "139****5678" in facts and CALLER_PHONE not in facts
    assert_accessible(page)
    page.get_by_role("button", name="显示完整号码").click()
    assert CALLER_PHONE in page.get_by_role("region", name="基本情况").inner_text()
    with console_uow() as uow:
        assert [e.action for e in uow.audit.for_entity("handoff_tickets", ticket.id)].count("reveal_phone") == 1

    page.get_by_role("button", name="接单").click()
    assert page.get_by_role("status").inner_text() == "已接单。"
    facts = page.get_by_role("region", name="基本情况").inner_text()
    assert "处理中" in facts
    screenshot(page, "staff-ticket")
    page.get_by_label("办结说明（可以不填）").fill("已电话回复，来电人满意。")
    page.get_by_role("button", name="办结").click()
    assert page.get_by_role("status").inner_text() == "工单已办结。"
    trail = page.get_by_role("region", name="操作记录").inner_text()
    assert "接单" in trail and "办结" in trail
    assert_accessible(page)
    with console_uow() as uow:
        stored = uow.tickets.get(ticket.id)
        assert stored.status == "resolved" and stored.assignee.startswith("browser-staff")


def test_staff_pages_hold_at_200_percent_zoom(open_as, rasa, console_uow):
    ticket, _ = handed_off_ticket(rasa, console_uow, "转人工")
    page = open_as("staff", width=640)
    for path in ("/queues", f"/tickets/{ticket.id}", "/bookings"):
        page.goto(path)
        assert not overflows_horizontally(page), path
        assert_accessible(page)


def test_a_booking_made_through_the_api_shows_on_its_day_with_the_remaining_capacity(open_as, api_url):
    day = calendar.bookable_days(now().date())[0]
    response = requests.post(f"{api_url}/api/bookings", timeout=30, headers={"Authorization": f"Bearer {TOKEN}"}, json={
        "service_code": "elderly_allowance", "mode": "assisted", "place_code": "city_hall", "day": day.isoformat(),
        "half_day": "am", "resident": {"name": "王秀英", "phone": "13911112222"}, "channel": "phone",
        "consent": {"given": True, "wording_version": "2026-11"}})
    assert response.status_code == 201, response.text
    page = open_as("staff")
    page.goto("/bookings")
    page.get_by_label("日期").fill(day.isoformat())
    page.get_by_label("办事地点").select_option("city_hall")
    page.get_by_role("button", name="查看").click()
    sheet = page.locator("main").inner_text()
    assert response.json()["reference"] in sheet and "王*英" in sheet and "王秀英" not in sheet
    capacity = get_settings().slot_capacity
    morning = re.search(r"上午\s*可约\s*(\d+)\s*个\s*已约\s*(\d+)\s*个\s*还剩\s*(\d+)\s*个", sheet)
    offered, booked, left = map(int, morning.groups())
    assert offered == capacity and booked >= 1 and left == capacity - booked
    assert_accessible(page)
    screenshot(page, "staff-bookings")
