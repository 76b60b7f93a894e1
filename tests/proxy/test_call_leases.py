"""Leases on calls (SQLite and PostgreSQL): a call whose gateway stopped vouching for it is
ended and its caller called back, once per caller and day; a call that ended well, or whose
gateway is alive, is left alone; bad lease rounds are refused."""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from proxy_service.services import calls, tickets
from tests.proxy.builders import AUTH, random_phone, ticket_request


def new_sid() -> str:
    return "CA" + uuid.uuid4().hex


def start(client, sid: str, phone: str | None, *, channel: str = "phone", lease: int = 60) -> None:
    body = {"channel": channel, "started_at": "2026-03-02T09:15:00+08:00", "status": "in-progress",
            "lease_seconds": lease}
    if phone:
        body["caller_phone"] = phone
    response = client.put(f"/api/calls/{sid}", json=body, headers=AUTH)
    assert response.status_code == 200, response.text


def leases(client, **body):
    return client.post("/api/calls/leases", json=body, headers=AUTH)


def expire(uow_factory, *sids: str) -> None:
    """As if the gateway had stopped renewing two minutes ago."""
    with uow_factory() as uow:
        for sid in sids:
            uow.session.execute(text("UPDATE calls SET lease_until = :past WHERE call_sid = :sid"),
                                {"past": "2000-01-01 00:00:00", "sid": sid})
        uow.commit()


def row(uow_factory, sid: str):
    with uow_factory() as uow:
        return uow.session.execute(text("SELECT status, ended_at, lease_until FROM calls WHERE call_sid = :s"),
                                   {"s": sid}).one()


def tickets_of(uow_factory, conversation: str) -> list[tuple]:
    with uow_factory() as uow:
        return uow.session.execute(text("SELECT reference, reason, status FROM handoff_tickets "
                                        "WHERE conversation_id = :c"), {"c": conversation}).all()


def test_a_call_lost_with_its_gateway_is_ended_and_its_caller_called_back(client, uow_factory):
    sid, phone = new_sid(), random_phone()
    start(client, sid, phone)
    assert calls.sweep_lost_calls(uow_factory()) == {"lost_calls": 0, "callbacks": 0}    # the lease still runs
    expire(uow_factory, sid)
    assert calls.sweep_lost_calls(uow_factory()) == {"lost_calls": 1, "callbacks": 1}
    status, ended_at, lease_until = row(uow_factory, sid)
    assert status == "failed" and ended_at is not None and lease_until is None
    [(reference, reason, state)] = tickets_of(uow_factory, sid)
    assert reason == "dropped" and state == "open"
    with uow_factory() as uow:
        ticket_id = uow.tickets.by_reference(reference).id
    view = tickets.get_ticket(uow_factory(), ticket_id)
    assert view["caller_phone"] == phone[:3] + "****" + phone[-4:] and view["channel"] == "phone"
    assert calls.sweep_lost_calls(uow_factory()) == {"lost_calls": 0, "callbacks": 0}    # swept once
    # a late renewal from a gateway that comes back does not revive the swept call
    assert leases(client, renew=[sid], seconds=60).json() == {"renewed": 0, "released": 0}
    assert row(uow_factory, sid)[2] is None


def test_a_released_or_renewed_call_is_not_swept(client, uow_factory):
    ended_well, alive = new_sid(), new_sid()
    start(client, ended_well, random_phone(), lease=1)
    start(client, alive, random_phone(), lease=1)
    response = leases(client, renew=[alive, new_sid()], release=[ended_well], seconds=120)
    assert response.status_code == 200 and response.json() == {"renewed": 1, "released": 1}
    assert row(uow_factory, ended_well)[2] is None and row(uow_factory, alive)[2] is not None
    assert calls.sweep_lost_calls(uow_factory()) == {"lost_calls": 0, "callbacks": 0}
    assert tickets_of(uow_factory, ended_well) == [] and tickets_of(uow_factory, alive) == []


def test_a_lost_kiosk_session_or_withheld_number_ends_without_a_callback(client, uow_factory):
    kiosk, withheld = new_sid(), new_sid()
    start(client, kiosk, None, channel="kiosk")
    start(client, withheld, "anonymous")
    expire(uow_factory, kiosk, withheld)
    assert calls.sweep_lost_calls(uow_factory()) == {"lost_calls": 2, "callbacks": 0}
    assert row(uow_factory, kiosk)[0] == "failed" and row(uow_factory, withheld)[0] == "failed"


def test_one_system_callback_per_caller_and_day_however_often_they_try(client, uow_factory):
    phone = random_phone()
    first, second = new_sid(), new_sid()
    start(client, first, phone)
    expire(uow_factory, first)
    calls.sweep_lost_calls(uow_factory())
    start(client, second, phone)
    expire(uow_factory, second)
    assert calls.sweep_lost_calls(uow_factory()) == {"lost_calls": 1, "callbacks": 1}
    assert len(tickets_of(uow_factory, first)) == 1 and tickets_of(uow_factory, second) == []
    # a caller who asks for a person in a new conversation still gets their own ticket
    asked = tickets.create_ticket(uow_factory(), ticket_request(caller_phone=phone), actor="assistant")
    assert asked["reason"] == "request_human" and asked["conversation_id"] != first


def test_two_workers_sweeping_at_once_file_one_callback(client, uow_factory):
    sids = [new_sid() for _ in range(6)]
    for sid in sids:
        start(client, sid, random_phone())
    expire(uow_factory, *sids)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: calls.sweep_lost_calls(uow_factory()), range(2)))
    assert sum(result["lost_calls"] for result in results) == 6
    assert all(len(tickets_of(uow_factory, sid)) == 1 for sid in sids)


@pytest.mark.parametrize("body", [
    {"renew": ["CA1"]},                                   # no seconds
    {"renew": ["CA1"], "seconds": 0},
    {"renew": ["CA1"], "seconds": 601},
    {"renew": ["bad/sid"], "seconds": 30},
    {"renew": "CA1", "seconds": 30},
    {"renew": ["CA1"] * 1001, "seconds": 30},
    {"renew": [], "seconds": 30, "extra": 1},
])
def test_bad_lease_rounds_are_refused(client, body):
    assert leases(client, **body).status_code == 422


def test_lease_rounds_need_the_token(client):
    assert client.post("/api/calls/leases", json={"renew": [], "seconds": 30}).status_code == 401


def test_a_bad_lease_on_a_report_is_refused(client):
    response = client.put(f"/api/calls/{new_sid()}", json={"channel": "phone", "lease_seconds": 601}, headers=AUTH)
    assert response.status_code == 422
