"""Guessing a booking by its phone tail: counted per reference and per requester, locked at
the limit (even for the right digits), audited, and lifted when the window has passed."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from proxy_service.services.common import now
from tests.proxy.builders import AUTH
from tests.proxy.test_api import booking_body


def booked(client) -> tuple[str, str]:
    body = booking_body(3)
    response = client.post("/api/bookings", json=body, headers=AUTH)
    assert response.status_code == 201, response.text
    return response.json()["reference"], body["resident"]["phone"][-4:]


def wrong(tail: str) -> str:
    return f"{(int(tail) + 1) % 10000:04d}"


def look_up(client, reference: str, tail: str, conversation: str) -> int:
    return client.post("/api/status", json={"reference": reference, "phone_last4": tail,
                                            "conversation_id": conversation}, headers=AUTH).status_code


def test_five_wrong_tails_lock_the_reference_for_everyone_and_are_audited(client, uow_factory):
    reference, tail = booked(client)
    statuses = [look_up(client, reference, wrong(tail), f"guesser-{n}") for n in range(5)]
    assert statuses == [404, 404, 404, 404, 429], "one guess per conversation does not get round the limit"
    assert look_up(client, reference, tail, "the-resident") == 429, "locked even for the right digits"
    locked = client.post("/api/status", json={"reference": reference, "phone_last4": tail}, headers=AUTH).json()
    assert "转人工" in locked["message_zh"]
    assert client.post(f"/api/bookings/{reference}/cancel", json={"phone_last4": tail},
                       headers=AUTH).status_code == 429, "cancel is behind the same lock"
    with uow_factory() as uow:
        actions = uow.session.execute(text(
            "SELECT action FROM audit_events WHERE entity_type = 'bookings' AND entity_id = "
            "(SELECT id FROM bookings WHERE reference = :r)"), {"r": reference}).scalars().all()
        assert actions.count("lookup_locked") == 1
        # The window passes.
        uow.session.execute(text("UPDATE login_throttle SET locked_until = :t, window_started_at = :t "
                                 "WHERE key = :k"), {"t": now() - timedelta(hours=1), "k": f"lookup-ref:{reference}"})
        uow.commit()
    assert look_up(client, reference, tail, "the-resident") == 200


def test_one_conversation_trying_many_references_is_stopped(client):
    reference, tail = booked(client)
    statuses = [look_up(client, f"{n:08d}", "0000", "one-guesser") for n in range(10_000_000, 10_000_008)]
    assert statuses[:7] == [404] * 7 and statuses[7] == 429
    assert look_up(client, reference, tail, "one-guesser") == 429
    assert look_up(client, reference, tail, "someone-else") == 200


def test_a_right_answer_clears_the_reference_count_and_a_status_look_up_counts_once(client, uow_factory):
    reference, tail = booked(client)
    for _ in range(4):
        assert look_up(client, reference, wrong(tail), "forgetful") == 404
    assert look_up(client, reference, tail, "forgetful") == 200
    with uow_factory() as uow:
        assert uow.login_throttle.get(f"lookup-ref:{reference}") is None
        assert uow.login_throttle.get("lookup-from:conversation:forgetful").failures == 4, \
            "a booking reference is looked for once, not once per kind"
