"""The supervisor dashboard on SQLite and PostgreSQL, and its accessible SVG charts.

The database is shared by the tests of this module, so counts are checked as changes
from before to after; only the claim-wait test claims tickets, so its median is exact.
"""
from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest

from proxy_service import models as m
from proxy_service.services import applications, bookings, calls, dashboard, tickets
from proxy_service.services.common import now
from proxy_service.services.errors import InvalidRequest
from proxy_service.web import charts
from tests.proxy.builders import application_request, bookable_day, booking_request, ticket_request

KEYS = {"days", "since", "calls", "handoffs", "handoffs_by_reason", "bookings_by_errand", "claim_wait",
        "applications_by_status"}


def by(rows: list[dict], key: str) -> dict:
    return {row[key]: row for row in rows}


def count(board: dict, part: str, key: str, code: str, field: str = "count") -> int:
    row = by(board[part], key).get(code)
    return row[field] if row else 0


def reasons(board: dict, reason: str) -> int:
    return count(board, "handoffs_by_reason", "reason", reason)


def move_ticket(uow_factory, ticket_id: int, **times) -> None:
    with uow_factory() as uow:
        ticket = uow.tickets.get(ticket_id)
        for column, value in times.items():
            setattr(ticket, column, value)
        uow.commit()


# --- the data -----------------------------------------------------------------------------


@pytest.mark.parametrize("days", [5, 0, 31, -7, True, "7"])
def test_only_7_or_30_days(uow_factory, days):
    with pytest.raises(InvalidRequest) as error:
        dashboard.supervisor_dashboard(uow_factory(), days)
    assert "7天" in error.value.zh and "30天" in error.value.zh


def test_shape_and_calls_reuse_call_counts(uow_factory):
    before = dashboard.supervisor_dashboard(uow_factory(), 7)
    calls.report_call(uow_factory(), "CAdashboard1", calls.CallReport(channel="kiosk", started_at=now()), actor="test")
    board = dashboard.supervisor_dashboard(uow_factory(), 7)
    assert set(board) == KEYS and board["days"] == 7
    assert board["since"] == board["calls"]["since"]
    assert board["calls"]["by_channel"]["kiosk"] == before["calls"]["by_channel"]["kiosk"] + 1
    assert board["calls"]["by_day"][-1]["day"] == now().date().isoformat()
    assert set(board["claim_wait"]) == {"claimed", "unclaimed", "median_minutes", "p90_minutes"}


def test_handoffs_by_reason_with_labels_most_first(uow_factory):
    before = dashboard.supervisor_dashboard(uow_factory(), 7)
    for reason in ("silence", "silence", "silence", "timeout"):
        tickets.create_ticket(uow_factory(), ticket_request(reason=reason), actor="test")
    board = dashboard.supervisor_dashboard(uow_factory(), 7)
    assert board["handoffs"] == before["handoffs"] + 4
    assert reasons(board, "silence") == reasons(before, "silence") + 3
    assert reasons(board, "timeout") == reasons(before, "timeout") + 1
    labels = {row["reason"]: row["label"] for row in board["handoffs_by_reason"]}
    assert labels["silence"] == "长时间没有声音" and labels["timeout"] == "系统没有及时回答"
    counts = [row["count"] for row in board["handoffs_by_reason"]]
    assert counts == sorted(counts, reverse=True)
    assert sum(counts) == board["handoffs"]


def test_unknown_reason_is_labelled_by_its_code(uow_factory):
    view = tickets.create_ticket(uow_factory(), ticket_request(), actor="test")
    move_ticket(uow_factory, view["id"], reason="legacy_code")
    board = dashboard.supervisor_dashboard(uow_factory(), 7)
    assert by(board["handoffs_by_reason"], "reason")["legacy_code"]["label"] == "legacy_code"


def test_older_tickets_count_in_30_days_not_in_7(uow_factory):
    before7 = dashboard.supervisor_dashboard(uow_factory(), 7)
    before30 = dashboard.supervisor_dashboard(uow_factory(), 30)
    view = tickets.create_ticket(uow_factory(), ticket_request(reason="status"), actor="test")
    move_ticket(uow_factory, view["id"], created_at=now() - timedelta(days=10))
    after7 = dashboard.supervisor_dashboard(uow_factory(), 7)
    after30 = dashboard.supervisor_dashboard(uow_factory(), 30)
    assert after7["handoffs"] == before7["handoffs"]
    assert reasons(after7, "status") == reasons(before7, "status")
    assert after30["handoffs"] == before30["handoffs"] + 1
    assert reasons(after30, "status") == reasons(before30, "status") + 1
    assert after7["claim_wait"]["unclaimed"] == before7["claim_wait"]["unclaimed"]
    assert after30["claim_wait"]["unclaimed"] == before30["claim_wait"]["unclaimed"] + 1


def test_claim_wait_median_and_p90(uow_factory):
    before = dashboard.supervisor_dashboard(uow_factory(), 7)
    assert before["claim_wait"]["claimed"] == 0      # no other test of this module claims a ticket
    assert before["claim_wait"]["median_minutes"] is None and before["claim_wait"]["p90_minutes"] is None
    created = now().replace(second=0) - timedelta(days=1)
    waits = [timedelta(minutes=30), timedelta(seconds=90), timedelta(minutes=10), timedelta(minutes=4)]
    for wait in waits:
        view = tickets.create_ticket(uow_factory(), ticket_request(reason="complaint"), actor="test")
        tickets.change_ticket(uow_factory(), view["id"], "claim", actor="staff1")
        move_ticket(uow_factory, view["id"], created_at=created, claimed_at=created + wait)
    tickets.create_ticket(uow_factory(), ticket_request(reason="complaint"), actor="test")   # never claimed
    board = dashboard.supervisor_dashboard(uow_factory(), 7)
    # Waits 1.5, 4, 10, 30 minutes: median (4 + 10) / 2; p90 at rank 0.9 * 3 = 2.7: 10 + 0.7 * 20.
    assert board["claim_wait"] == {"claimed": 4, "unclaimed": before["claim_wait"]["unclaimed"] + 1,
                                   "median_minutes": 7.0, "p90_minutes": 24.0}


def test_percentile_in_the_database_interpolates_between_neighbours(uow_factory):
    """Over the waits of the calls table's durations: 10 calls lasting 1..10 s → p90 = 9.1, median = 5.5."""
    marker = f"CApct{uuid.uuid4().hex[:8]}"
    with uow_factory() as uow:
        for seconds in range(1, 11):
            uow.calls.add(m.Call(call_sid=f"{marker}{seconds}", channel="phone", duration_seconds=seconds,
                                 created_at=now(), updated_at=now()))
        uow.commit()
        where = [m.Call.call_sid.like(f"{marker}%")]
        value = m.Call.duration_seconds * 1.0
        assert dashboard.percentile(uow.session, value, where, 10, 0.9) == pytest.approx(9.1)
        assert dashboard.percentile(uow.session, value, where, 10, 0.5) == pytest.approx(5.5)
        assert dashboard.percentile(uow.session, value, where, 10, 1.0) == pytest.approx(10)
        assert dashboard.percentile(uow.session, value, where, 0, 0.5) is None


def test_bookings_by_errand_with_cancellations(uow_factory):
    before = dashboard.supervisor_dashboard(uow_factory(), 7)
    made = [bookings.create_booking(uow_factory(), booking_request(service_code=code, day=bookable_day(i)),
                                    actor="test")
            for i, code in enumerate(["senior_card", "senior_card", "senior_card", "pension_claim"])]
    request = booking_request(service_code="pension_claim", day=bookable_day(0), half_day="pm")
    cancelled = bookings.create_booking(uow_factory(), request, actor="test")
    bookings.cancel_booking(uow_factory(), cancelled["reference"], request.resident.phone[-4:], actor="test")
    board = dashboard.supervisor_dashboard(uow_factory(), 7)
    assert len(made) == 4
    rows = by(board["bookings_by_errand"], "service_code")
    assert rows["senior_card"]["label"] == "老年人优待证" and rows["pension_claim"]["label"] == "退休养老金申领"
    for code, added, cancels in (("senior_card", 3, 0), ("pension_claim", 2, 1)):
        assert rows[code]["count"] == count(before, "bookings_by_errand", "service_code", code) + added
        assert rows[code]["cancelled"] == count(before, "bookings_by_errand", "service_code", code,
                                                "cancelled") + cancels
    counts = [row["count"] for row in board["bookings_by_errand"]]
    assert counts == sorted(counts, reverse=True)


def test_applications_by_status(uow_factory):
    before = dashboard.supervisor_dashboard(uow_factory(), 30)
    first = applications.file_application(uow_factory(), application_request(), actor="worker")
    applications.file_application(uow_factory(), application_request(), actor="worker")
    applications.change_application(uow_factory(), first["id"], "accept", actor="reviewer")
    board = dashboard.supervisor_dashboard(uow_factory(), 30)
    rows = by(board["applications_by_status"], "status")
    assert rows["submitted"]["count"] == count(before, "applications_by_status", "status", "submitted") + 1
    assert rows["accepted"]["count"] == count(before, "applications_by_status", "status", "accepted") + 1
    assert rows["accepted"]["label"] == "已受理，正在办理" and rows["submitted"]["label"] == "已提交，等待审核"


# --- the charts ---------------------------------------------------------------------------


def test_bar_chart_one_bar_per_row_with_label_and_value_as_text():
    svg = str(charts.bar_chart("转人工原因", [("长时间没有声音", 3), ("投诉", 1), ("等待", 2.5)], unit="次"))
    assert svg.startswith("<svg") and 'role="img"' in svg and 'width="100%"' in svg and "viewBox=" in svg
    assert svg.count("<rect") == 3
    for text in (">长时间没有声音<", ">3次<", ">投诉<", ">1次<", ">2.5次<"):
        assert text in svg
    assert "<title" in svg and "<desc" in svg and "长时间没有声音：3次" in svg
    assert "<script" not in svg.lower() and "http://" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_labels_are_escaped():
    svg = str(charts.bar_chart('<script>alert("x")</script>', [("<script>alert(1)</script>", 1)]))
    assert "<script" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    columns = str(charts.daily_columns("a&b", [("<b>11-21</b>", 2)]))
    assert "<b>" not in columns and "a&amp;b" in columns


def test_aria_labelledby_points_at_unique_title_and_desc():
    first, second = str(charts.bar_chart("同一个标题", [("a", 1)])), str(charts.bar_chart("同一个标题", [("a", 1)]))
    ids = [re.search(r'aria-labelledby="([^"]+)"', svg).group(1).split() for svg in (first, second)]
    assert ids[0] != ids[1]
    for svg, (title_id, desc_id) in zip((first, second), ids):
        assert f'<title id="{title_id}">' in svg and f'<desc id="{desc_id}">' in svg


def test_empty_charts_say_so_in_words():
    assert str(charts.bar_chart("预约", [])) == '<p class="chart-empty">这段时间没有数据。</p>'
    assert "这段时间没有数据。" in charts.daily_columns("来电", []) and "<svg" not in charts.daily_columns("来电", [])


def test_daily_columns_show_short_days_and_values():
    svg = str(charts.daily_columns("每天来电", [("2026-11-21", 5), ("2026-11-22", 0), ("11-23", 12)], unit="通"))
    assert svg.count("<rect") == 3
    for text in (">11-21<", ">11-22<", ">11-23<", ">5<", ">0<", ">12<"):
        assert text in svg
    assert "11月21日：5通；11月22日：0通；11月23日：12通。" in svg and "2026-" not in svg
    sizes = [int(size) for size in re.findall(r'font-size="(\d+)"', svg)]
    assert sizes and min(sizes) >= 16
