"""The JSON API on real databases: token, idempotency, and bad input refused with 4xx."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from tests.proxy.builders import AUTH, TOKEN, bookable_day, random_phone


def booking_body(day_index: int = 0, **changes) -> dict:
    body = {
        "service_code": "disability_subsidies", "mode": "assisted", "place_code": "nanhu_hall",
        "day": bookable_day(day_index).isoformat(), "half_day": "am",
        "resident": {"name": "周阿姨", "phone": random_phone()},
        "consent": {"given": True, "wording_version": "2026-11"},
    }
    body.update(changes)
    return body


def count(uow_factory, table: str) -> int:
    with uow_factory() as uow:
        return uow.session.execute(text(f"SELECT count(*) FROM {table}")).scalar()


def test_the_api_description_is_for_service_callers_only(client):
    assert client.get("/openapi.json").status_code == 401 and client.get("/docs").status_code == 401
    assert client.get("/redoc").status_code == 404
    spec = client.get("/openapi.json", headers=AUTH).json()
    assert "/api/bookings" in spec["paths"] and "/api/tickets" in spec["paths"]
    assert not any(path.startswith(("/login", "/queues")) for path in spec["paths"]), "console pages are not API"
    assert client.get("/docs", headers=AUTH).status_code == 200


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN + "x"}])
def test_missing_or_wrong_token_is_refused(client, uow_factory, headers):
    before = count(uow_factory, "bookings")
    response = client.post("/api/bookings", json=booking_body(), headers=headers)
    assert response.status_code == 401 and response.json()["message_zh"]
    assert count(uow_factory, "bookings") == before


def test_retry_with_the_same_key_returns_the_first_booking(client, uow_factory):
    body = booking_body(1)
    headers = {**AUTH, "Idempotency-Key": "rasa-retry-1"}
    first = client.post("/api/bookings", json=body, headers=headers)
    second = client.post("/api/bookings", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers.get("Idempotent-Replay") == "true"
    with uow_factory() as uow:
        n = uow.session.execute(text("SELECT count(*) FROM bookings WHERE reference = :r"),
                                {"r": first.json()["reference"]}).scalar()
        assert n == 1


def test_same_key_with_a_different_body_is_a_conflict(client):
    headers = {**AUTH, "Idempotency-Key": "reused-key"}
    assert client.post("/api/bookings", json=booking_body(2), headers=headers).status_code == 201
    response = client.post("/api/bookings", json=booking_body(2, half_day="pm"), headers=headers)
    assert response.status_code == 409 and "Idempotency-Key" in response.json()["message_en"]


def test_concurrent_duplicates_create_one_ticket(client, uow_factory):
    body = {"conversation_id": "CA-dup-1", "reason": "request_human", "caller_phone": random_phone(),
            "transcript": [{"speaker": "caller", "text": "转人工"}]}
    headers = {**AUTH, "Idempotency-Key": "ticket-dup-1"}
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: client.post("/api/tickets", json=body, headers=headers), range(8)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["reference"] for r in responses}) == 1
    with uow_factory() as uow:
        n = uow.session.execute(text("SELECT count(*) FROM handoff_tickets WHERE conversation_id = 'CA-dup-1'")).scalar()
        assert n == 1


BAD_BOOKINGS = [
    ("missing field", lambda b: b.pop("resident")),
    ("wrong type", lambda b: b.update(day="下周三")),
    ("wrong type nested", lambda b: b["resident"].update(phone=["1"])),
    ("unknown field", lambda b: b.update(is_admin=True)),
    ("unknown place", lambda b: b.update(place_code="nowhere")),
    ("unknown errand", lambda b: b.update(service_code="'; DROP TABLE bookings; --")),
    ("weekend or past", lambda b: b.update(day="2001-01-01")),
    ("bad phone", lambda b: b["resident"].update(phone="12345678")),
    ("no consent", lambda b: b["consent"].update(given=False)),
]


@pytest.mark.parametrize("label,spoil", BAD_BOOKINGS, ids=[label for label, _ in BAD_BOOKINGS])
def test_bad_booking_input_gets_a_clear_4xx_and_changes_nothing(client, uow_factory, label, spoil):
    body = booking_body(3)
    spoil(body)
    before = count(uow_factory, "bookings")
    response = client.post("/api/bookings", json=body, headers=AUTH)
    assert 400 <= response.status_code < 500, response.text
    payload = response.json()
    assert payload["message_zh"] and payload["message_en"]
    assert count(uow_factory, "bookings") == before


def test_sql_shaped_name_is_just_text(client, uow_factory):
    body = booking_body(3)
    body["resident"]["name"] = "x' OR '1'='1"
    response = client.post("/api/bookings", json=body, headers=AUTH)
    assert response.status_code == 201
    assert count(uow_factory, "residents") >= 1


def test_malformed_json_and_huge_body_are_refused(client, uow_factory):
    before = count(uow_factory, "bookings")
    bad = client.post("/api/bookings", content=b"{not json", headers={**AUTH, "Content-Type": "application/json"})
    assert bad.status_code == 422
    huge = client.post("/api/bookings", content=b"x" * (65 * 1024), headers={**AUTH, "Content-Type": "application/json"})
    assert huge.status_code == 413 and huge.json()["error"] == "too_large"
    assert count(uow_factory, "bookings") == before


@pytest.mark.parametrize("path", ["/api/tickets/999999", "/api/applications/999999", "/api/queues/nope/tickets"])
def test_unknown_ids_are_404(client, path):
    response = client.get(path, headers=AUTH)
    assert response.status_code == 404 and response.json()["message_zh"]


@pytest.mark.parametrize("path,body", [("/api/bookings/12345678/lookup", {"phone_last4": "0000"}),
                                       ("/api/status", {"reference": "00000000", "phone_last4": "1234"})])
def test_unknown_references_are_404(client, path, body):
    response = client.post(path, json=body, headers=AUTH)
    assert response.status_code == 404 and response.json()["message_zh"]


def test_ticket_flow_through_the_api(client):
    created = client.post("/api/tickets", headers=AUTH, json={
        "conversation_id": "CA-flow-1", "reason": "complaint", "caller_phone": "13912345678", "caller_age": 85,
        "transcript": [{"speaker": "caller", "text": "我要投诉"}], "filled_slots": {"service": None}})
    assert created.status_code == 201
    ticket = created.json()
    assert ticket["queue"] == "complaints" and ticket["priority"] == 1
    assert ticket["caller_phone"] == "139****5678"
    listed = client.get("/api/queues/complaints/tickets", headers=AUTH).json()
    assert ticket["reference"] in [t["reference"] for t in listed]
    claim = client.post(f"/api/tickets/{ticket['id']}/actions", headers=AUTH, json={"action": "claim", "actor": "staff-1"})
    assert claim.status_code == 200 and claim.json()["status"] == "claimed"
    again = client.post(f"/api/tickets/{ticket['id']}/actions", headers=AUTH, json={"action": "claim", "actor": "staff-2"})
    assert again.status_code == 409
    # Only who claimed it puts it back; the audit trail marks names given through the API.
    taken = client.post(f"/api/tickets/{ticket['id']}/actions", headers=AUTH, json={"action": "release", "actor": "staff-2"})
    assert taken.status_code == 403 and claim.json()["assignee"] == "api:staff-1"
    done = client.post(f"/api/tickets/{ticket['id']}/actions", headers=AUTH, json={"action": "resolve", "actor": "staff-1"})
    assert done.json()["status"] == "resolved"
    queues = {q["code"]: q for q in client.get("/api/queues", headers=AUTH).json()}
    assert "complaints" in queues and "general" in queues
