"""Calls reported by the voice gateway and Twilio's status callbacks, on SQLite and PostgreSQL:
upserts in any order, retries, masking, validation, the audit trail and the dashboard counts."""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from proxy_service.crypto import decrypt, lookup_hash
from proxy_service.services import calls
from proxy_service.services.calls import CallReport
from proxy_service.services.common import now
from proxy_service.services.errors import InvalidRequest, NotFound
from proxy_service.settings import get_settings
from tests.proxy.builders import AUTH



def new_sid() -> str:
    return "CA" + uuid.uuid4().hex


def count(uow_factory, table: str) -> int:
    with uow_factory() as uow:
        return uow.session.execute(text(f"SELECT count(*) FROM {table}")).scalar()


def trail(uow_factory, call_id: int) -> list[tuple]:
    with uow_factory() as uow:
        return [(e.action, e.from_state, e.to_state, e.details) for e in uow.audit.for_entity("calls", call_id)]


def put(client, sid: str, body: dict, headers: dict | None = None):
    return client.put(f"/api/calls/{sid}", json=body, headers=AUTH if headers is None else headers)


GATEWAY_REPORT = {"channel": "phone", "caller_phone": "+86 139 1234 5678", "started_at": "2026-03-02T09:15:00+08:00",
                  "transfer": {"ticket": "12345678", "target": "+8657187654321", "outcome": "transferred"}}
STATUS_CALLBACK = {"channel": "phone", "status": "completed", "duration_seconds": 312,
                   "ended_at": "2026-03-02T09:20:12+08:00"}


def test_first_report_creates_the_call_with_the_number_encrypted_and_masked(client, uow_factory):
    sid = new_sid()
    response = put(client, sid, {"channel": "phone", "caller_phone": "+86 139 1234 5678",
                                 "started_at": "2026-03-02T09:15:00+08:00", "status": "in-progress"})
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["call_sid"] == sid and view["channel"] == "phone" and view["status"] == "in-progress"
    assert view["caller_phone"] == "139****5678"
    assert view["started_at"] == "2026-03-02T09:15:00" and view["ended_at"] is None
    assert view["transfer"] == {"ticket": None, "target": None, "outcome": None, "detail": None}
    assert client.get(f"/api/calls/{sid}", headers=AUTH).json() == view
    with uow_factory() as uow:
        row = uow.session.execute(text("SELECT caller_phone_enc, caller_phone_hash FROM calls WHERE call_sid = :s"),
                                  {"s": sid}).one()
    assert "13912345678" not in row.caller_phone_enc
    assert decrypt(row.caller_phone_enc) == "13912345678"
    assert row.caller_phone_hash == lookup_hash("13912345678")      # same hash as a resident with that mobile


def test_times_with_a_zone_are_stored_in_service_local_time(client):
    sid = new_sid()
    view = put(client, sid, {"channel": "kiosk", "started_at": "2026-03-02T01:00:00Z"}).json()
    expected = datetime(2026, 3, 2, 1, tzinfo=timezone.utc).astimezone(ZoneInfo(get_settings().timezone))
    assert view["started_at"] == expected.replace(tzinfo=None).isoformat()
    assert view["caller_phone"] is None


@pytest.mark.parametrize("order", ["gateway_first", "callback_first"])
def test_partial_reports_fill_in_the_call_in_either_order(client, uow_factory, order):
    sid = new_sid()
    reports = [GATEWAY_REPORT, STATUS_CALLBACK] if order == "gateway_first" else [STATUS_CALLBACK, GATEWAY_REPORT]
    for report in reports:
        assert put(client, sid, report).status_code == 200
    view = client.get(f"/api/calls/{sid}", headers=AUTH).json()
    assert view["caller_phone"] == "139****5678" and view["channel"] == "phone"
    assert view["status"] == "completed" and view["duration_seconds"] == 312
    assert (view["started_at"], view["ended_at"]) == ("2026-03-02T09:15:00", "2026-03-02T09:20:12")
    assert view["transfer"] == {"ticket": "12345678", "target": "+8657187654321", "outcome": "transferred",
                                "detail": None}
    actions = [action for action, *_ in trail(uow_factory, view["id"])]
    assert sorted(actions) == ["create", "end", "transfer"] and actions[0] == "create"


def test_later_reports_overwrite_only_what_they_carry(client):
    sid = new_sid()
    put(client, sid, GATEWAY_REPORT)
    put(client, sid, {"transfer": {"outcome": "failed", "detail": "坐席电话忙 / agent line busy"}})
    put(client, sid, {"caller_phone": "13800001111"})
    view = client.get(f"/api/calls/{sid}", headers=AUTH).json()
    assert view["transfer"] == {"ticket": "12345678", "target": "+8657187654321", "outcome": "failed",
                                "detail": "坐席电话忙 / agent line busy"}
    assert view["caller_phone"] == "138****1111" and view["started_at"] == "2026-03-02T09:15:00"
    # null means "not said": it does not erase what is stored
    put(client, sid, {"caller_phone": None, "started_at": None, "transfer": None})
    again = client.get(f"/api/calls/{sid}", headers=AUTH).json()
    assert again == view


def test_a_late_status_callback_does_not_move_the_status_back(client):
    sid = new_sid()
    put(client, sid, {"channel": "phone", "status": "completed"})
    assert put(client, sid, {"status": "ringing"}).json()["status"] == "completed"
    assert put(client, sid, {"status": "in-progress"}).json()["status"] == "completed"
    assert put(client, sid, {"status": "failed"}).json()["status"] == "failed"   # a final one may correct another


def test_the_same_report_twice_gives_the_same_row_and_no_new_events(client, uow_factory):
    sid = new_sid()
    body = {**GATEWAY_REPORT, **STATUS_CALLBACK}
    first = put(client, sid, body)
    events = trail(uow_factory, first.json()["id"])
    second = put(client, sid, body)
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()                 # updated_at included: nothing changed
    assert trail(uow_factory, first.json()["id"]) == events
    with uow_factory() as uow:
        assert uow.session.execute(text("SELECT count(*) FROM calls WHERE call_sid = :s"), {"s": sid}).scalar() == 1


def test_retry_with_an_idempotency_key_is_replayed(client):
    sid = new_sid()
    headers = {**AUTH, "Idempotency-Key": f"call-{sid}"}
    first, second = put(client, sid, GATEWAY_REPORT, headers), put(client, sid, GATEWAY_REPORT, headers)
    assert first.status_code == second.status_code == 200 and first.json() == second.json()
    assert second.headers.get("Idempotent-Replay") == "true"


def test_create_transfer_and_end_are_audited_without_personal_data(client, uow_factory):
    sid = new_sid()
    view = put(client, sid, {"channel": "phone", "caller_phone": "13912345678", "status": "ringing"}).json()
    put(client, sid, {"status": "in-progress"})
    put(client, sid, {"transfer": {"ticket": "23456789", "target": "+8657100000000"}})
    put(client, sid, {"transfer": {"outcome": "not_configured", "detail": "no transfer number set"}})
    put(client, sid, {"status": "completed", "duration_seconds": 95})
    put(client, sid, {"ended_at": "2026-03-02T09:20:12+08:00"})        # already ended: no second end
    assert trail(uow_factory, view["id"]) == [
        ("create", None, "ringing", {"channel": "phone"}),
        ("transfer", None, None, {"ticket": "23456789"}),
        ("transfer", None, "not_configured", {"ticket": "23456789"}),
        ("end", "in-progress", "completed", {"duration_seconds": 95}),
    ]
    with uow_factory() as uow:
        details = " ".join(str(e.details) for e in uow.audit.for_entity("calls", view["id"]))
    assert "1391234" not in details and "8657100000000" not in details


def test_concurrent_first_reports_make_one_call(client, uow_factory):
    sid = new_sid()
    bodies = [GATEWAY_REPORT, STATUS_CALLBACK] * 4
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda body: put(client, sid, body), bodies))
    assert {r.status_code for r in responses} == {200}, [r.text for r in responses]
    view = client.get(f"/api/calls/{sid}", headers=AUTH).json()
    assert view["status"] == "completed" and view["transfer"]["outcome"] == "transferred"
    assert [a for a, *_ in trail(uow_factory, view["id"])].count("create") == 1
    with uow_factory() as uow:
        assert uow.session.execute(text("SELECT count(*) FROM calls WHERE call_sid = :s"), {"s": sid}).scalar() == 1


BAD_REPORTS = [
    ("unknown status", {"channel": "phone", "status": "answered"}),
    ("unknown outcome", {"channel": "phone", "transfer": {"outcome": "maybe"}}),
    ("unknown channel", {"channel": "web"}),
    ("negative duration", {"channel": "phone", "duration_seconds": -1}),
    ("absurd duration", {"channel": "phone", "duration_seconds": 10**10}),
    ("ended before started", {"channel": "phone", "started_at": "2026-03-02T09:15:00+08:00",
                              "ended_at": "2026-03-02T09:14:59+08:00"}),
    ("no channel on first report", {"status": "ringing"}),
    ("bad ticket reference", {"channel": "phone", "transfer": {"ticket": "12ab"}}),
    ("not a phone number", {"channel": "phone", "caller_phone": "12-34;56"}),
    ("unknown field", {"channel": "phone", "recording_url": "https://example.com/r.wav"}),
    ("wrong type", {"channel": "phone", "started_at": "下午三点"}),
]


@pytest.mark.parametrize("label,body", BAD_REPORTS, ids=[label for label, _ in BAD_REPORTS])
def test_bad_reports_are_refused_with_422_and_write_nothing(client, uow_factory, label, body):
    before = (count(uow_factory, "calls"), count(uow_factory, "audit_events"))
    sid = new_sid()
    response = put(client, sid, body)
    assert response.status_code == 422, response.text
    payload = response.json()
    assert payload["error"] == "invalid" and payload["message_zh"] and payload["message_en"]
    assert (count(uow_factory, "calls"), count(uow_factory, "audit_events")) == before
    assert client.get(f"/api/calls/{sid}", headers=AUTH).status_code == 404


@pytest.mark.parametrize("sid", ["CA 1", "CA;1", "CA'--", "呼叫1", "a" * 65, "CA/1", "CA.1"])
def test_call_sid_outside_letters_digits_underscore_dash_is_422(client, uow_factory, sid):
    before = count(uow_factory, "calls")
    response = put(client, sid, {"channel": "phone"})
    assert response.status_code == 422, response.text
    assert response.json()["message_zh"] and response.json()["message_en"]
    assert count(uow_factory, "calls") == before
    assert client.get(f"/api/calls/{sid}", headers=AUTH).status_code == 422


def test_a_report_contradicting_the_stored_start_changes_nothing(client, uow_factory):
    sid = new_sid()
    view = put(client, sid, {"channel": "phone", "started_at": "2026-03-02T09:15:00+08:00", "status": "in-progress"})
    events = trail(uow_factory, view.json()["id"])
    response = put(client, sid, {"status": "completed", "ended_at": "2026-03-02T09:00:00+08:00"})
    assert response.status_code == 422 and response.json()["field"] == "ended_at"
    assert client.get(f"/api/calls/{sid}", headers=AUTH).json() == view.json()
    assert trail(uow_factory, view.json()["id"]) == events


@pytest.mark.parametrize("changes", [
    {"status": "answered"}, {"channel": "web"}, {"transfer_outcome": "ok"}, {"duration_seconds": -5},
    {"duration_seconds": True}, {"started_at": "2026-03-02"}, {"transfer_target": "  "},
    {"transfer_detail": "x" * 501}, {"caller_phone": "12"},
    {"started_at": datetime(2026, 3, 2, 10), "ended_at": datetime(2026, 3, 2, 9)},
])
def test_the_service_checks_reports_itself(uow_factory, changes):
    with pytest.raises(InvalidRequest) as error:
        calls.report_call(uow_factory(), new_sid(), CallReport(**{"channel": "phone", **changes}), actor="test")
    assert error.value.zh and error.value.en


def test_unknown_call_is_404(client, uow_factory):
    response = client.get(f"/api/calls/{new_sid()}", headers=AUTH)
    assert response.status_code == 404 and response.json()["message_zh"] and response.json()["message_en"]
    with pytest.raises(NotFound):
        calls.get_call(uow_factory(), new_sid())


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
def test_token_is_required(client, uow_factory, headers):
    sid = new_sid()
    before = count(uow_factory, "calls")
    response = put(client, sid, {"channel": "phone"}, headers=headers)
    assert response.status_code == 401 and response.json()["message_zh"]
    assert count(uow_factory, "calls") == before
    assert put(client, sid, {"channel": "phone"}).status_code == 200
    assert client.get(f"/api/calls/{sid}", headers=headers).status_code == 401


@pytest.mark.parametrize("given,stored", [
    ("13912345678", "13912345678"), ("+86 139 1234 5678", "13912345678"), ("008613912345678", "13912345678"),
    ("+86 571 8765 4321", "057187654321"), ("0571-87654321", "057187654321"),
    ("+1 (555) 123-4567", "+15551234567"),
])
def test_caller_numbers_are_stored_in_one_form(given, stored):
    assert calls.caller_number(given) == stored


@pytest.mark.parametrize("withheld", ["anonymous", "Restricted"])
def test_a_withheld_number_is_no_number_not_an_error(client, withheld):
    sid = new_sid()
    response = put(client, sid, {"channel": "phone", "caller_phone": withheld, "status": "ringing"})
    assert response.status_code == 200 and response.json()["caller_phone"] is None
    put(client, sid, {"caller_phone": "13912345678"})
    assert put(client, sid, {"caller_phone": withheld}).json()["caller_phone"] == "139****5678"


def _report(uow_factory, channel: str, started: datetime | None, outcome: str | None = None) -> None:
    calls.report_call(uow_factory(), new_sid(), CallReport(channel=channel, started_at=started,
                                                           transfer_outcome=outcome), actor="test")


def test_counts_per_channel_per_day_and_transfers_by_outcome(uow_factory):
    day1, day2 = datetime(2099, 3, 2, 9), datetime(2099, 3, 3, 16)
    _report(uow_factory, "phone", datetime(2099, 3, 1, 23, 59))                 # before `since`: not counted
    _report(uow_factory, "phone", day1, "transferred")
    _report(uow_factory, "phone", day1 + timedelta(hours=1), "not_configured")
    _report(uow_factory, "kiosk", day1 + timedelta(hours=2))
    _report(uow_factory, "phone", day2, "transferred")
    _report(uow_factory, "kiosk", day2, "failed")
    _report(uow_factory, "kiosk", day2.replace(hour=23, minute=59))
    assert calls.call_counts(uow_factory(), datetime(2099, 3, 2)) == {
        "since": "2099-03-02T00:00:00", "total": 6, "by_channel": {"phone": 3, "kiosk": 3},
        "by_day": [{"day": "2099-03-02", "phone": 2, "kiosk": 1, "total": 3},
                   {"day": "2099-03-03", "phone": 1, "kiosk": 2, "total": 3}],
        "transfers": {"transferred": 2, "not_configured": 1, "failed": 1},
    }
    # a `since` with a time zone means the same moment in service-local time
    later = datetime(2099, 3, 3, 16, tzinfo=ZoneInfo(get_settings().timezone)).astimezone(timezone.utc)
    counts = calls.call_counts(uow_factory(), later)
    assert counts["since"] == "2099-03-03T16:00:00" and counts["by_channel"] == {"phone": 1, "kiosk": 2}


def test_a_call_never_reported_as_started_counts_on_the_day_it_was_reported(uow_factory):
    since = now() - timedelta(minutes=5)
    before = calls.call_counts(uow_factory(), since)
    _report(uow_factory, "kiosk", None)
    after = calls.call_counts(uow_factory(), since)
    assert after["by_channel"]["kiosk"] == before["by_channel"]["kiosk"] + 1
    assert after["total"] == before["total"] + 1


def test_retention_removes_the_caller_number_of_old_calls(client, uow_factory):
    from proxy_service.services import retention

    old, fresh = new_sid(), new_sid()
    for sid in (old, fresh):
        assert put(client, sid, {"channel": "phone", "caller_phone": "13912345678"}).status_code == 200
    with uow_factory() as uow:
        uow.session.execute(text("UPDATE calls SET created_at = :old WHERE call_sid = :s"),
                            {"old": now() - timedelta(days=400), "s": old})
        uow.commit()
    assert retention.purge_expired(uow_factory())["calls"] >= 1
    assert client.get(f"/api/calls/{old}", headers=AUTH).json()["caller_phone"] is None
    assert client.get(f"/api/calls/{fresh}", headers=AUTH).json()["caller_phone"] == "139****5678"


def test_twilio_initiated_status_is_accepted(client):
    assert put(client, new_sid(), {"channel": "phone", "status": "initiated"}).status_code == 200
