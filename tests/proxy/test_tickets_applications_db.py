"""Tickets, applications, the SMS outbox and retention on SQLite and PostgreSQL."""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import text

from proxy_service.crypto import decrypt, lookup_hash
from proxy_service.services import (
    applications,
    calendar,
    retention,
    tickets,
)
from proxy_service.services.common import now
from proxy_service.services.errors import Conflict, InvalidRequest
from tests.proxy.builders import application_request, random_phone, ticket_request


def test_ticket_keeps_the_whole_conversation_and_is_routed_by_topic(uow_factory):
    request = ticket_request(topic="ask_medical_insurance")
    view = tickets.create_ticket(uow_factory(), request, actor="assistant")
    assert view["queue"] == "medical" and view["status"] == "open"
    assert view["transcript"] == request.transcript and view["filled_slots"] == request.filled_slots
    assert view["in_business_hours"] == calendar.in_business_hours(now())
    assert (view["callback_from"] is None) == view["in_business_hours"]
    stored = tickets.get_ticket(uow_factory(), view["id"])
    assert stored["transcript"] == request.transcript


@pytest.mark.parametrize("changes,queue,priority", [
    ({"reason": "complaint"}, "complaints", 2),
    ({"topic": "disability_certificate"}, "civil_affairs", 2),      # a service code routes by its intent
    ({"caller_age": 82}, "social_security", 1),
    ({"caller_disabled": True}, "social_security", 1),
    ({"failed_turns": 2}, "social_security", 1),
    ({"reason": "distress"}, "social_security", 0),
    ({"topic": None}, "general", 2),
])
def test_routing_and_priority(uow_factory, changes, queue, priority):
    view = tickets.create_ticket(uow_factory(), ticket_request(**changes), actor="assistant")
    assert (view["queue"], view["priority"]) == (queue, priority)


def test_queue_lists_priority_first_then_oldest(uow_factory):
    normal = tickets.create_ticket(uow_factory(), ticket_request(topic="ask_id_card"), actor="a")
    urgent = tickets.create_ticket(uow_factory(), ticket_request(topic="ask_id_card", reason="distress"), actor="a")
    later = tickets.create_ticket(uow_factory(), ticket_request(topic="ask_id_card"), actor="a")
    order = [t["reference"] for t in tickets.list_queue(uow_factory(), "police_registry")]
    assert order.index(urgent["reference"]) < order.index(normal["reference"]) < order.index(later["reference"])


def test_ticket_transitions_are_checked_and_audited(uow_factory):
    view = tickets.create_ticket(uow_factory(), ticket_request(), actor="assistant")
    with pytest.raises(Conflict):
        tickets.change_ticket(uow_factory(), view["id"], "release", actor="staff")
    tickets.change_ticket(uow_factory(), view["id"], "claim", actor="staff-a")
    callback = datetime.combine(date.today() + timedelta(days=1), datetime.min.time()).replace(hour=10)
    scheduled = tickets.change_ticket(uow_factory(), view["id"], "schedule_callback", actor="staff-a",
                                      callback_from=callback)
    assert scheduled["status"] == "callback_scheduled" and scheduled["callback_until"]
    tickets.change_ticket(uow_factory(), view["id"], "resolve", actor="staff-a")
    with uow_factory() as uow:
        trail = [(e.action, e.from_state, e.to_state, e.actor) for e in uow.audit.for_entity("handoff_tickets", view["id"])]
    assert trail == [("create", None, "open", "assistant"), ("claim", "open", "claimed", "staff-a"),
                     ("schedule_callback", "claimed", "callback_scheduled", "staff-a"),
                     ("resolve", "callback_scheduled", "resolved", "staff-a")]


def test_application_lifecycle_notifies_the_resident(uow_factory):
    view = applications.file_application(uow_factory(), application_request(), actor="worker-1")
    assert view["status"] == "submitted"
    assert view["missing_materials"] == ["老人社保卡", "代办的带代办人身份证"]
    asked = applications.change_application(uow_factory(), view["id"], "request_materials", actor="staff",
                                            note="请补老人社保卡")
    assert asked["status"] == "missing_materials" and asked["status_note"] == "请补老人社保卡"
    applications.change_application(uow_factory(), view["id"], "accept", actor="staff")
    done = applications.change_application(uow_factory(), view["id"], "complete", actor="staff")
    assert done["status"] == "completed"
    with uow_factory() as uow:
        bodies = [decrypt(note.body_enc) for note in uow.outbox.for_entity("proxy_applications", view["id"])]
    assert len(bodies) == 3 and "还缺材料" in bodies[0] and "请补老人社保卡" in bodies[0]


@pytest.mark.parametrize("changes", [
    {"service_code": "hukou_transfer"},                                    # no proxy for this errand
    {"valid_until": date.today() - timedelta(days=1), "valid_from": date.today() - timedelta(days=5)},
    {"valid_until": date.today() + timedelta(days=400)},
    {"consent_given": False},
    {"provided_materials": ("不存在的材料",)},
    {"agent_name": "  "},
])
def test_invalid_application_is_refused(uow_factory, changes):
    with pytest.raises(InvalidRequest):
        applications.file_application(uow_factory(), application_request(**changes), actor="worker-1")


def test_reject_needs_a_reason(uow_factory):
    view = applications.file_application(uow_factory(), application_request(), actor="worker-1")
    with pytest.raises(InvalidRequest):
        applications.change_application(uow_factory(), view["id"], "reject", actor="staff")
    rejected = applications.change_application(uow_factory(), view["id"], "reject", actor="staff", note="委托书没有签字")
    assert rejected["status"] == "rejected"


def test_retention_removes_transcripts_and_numbers_of_old_closed_cases(uow_factory):
    view = tickets.create_ticket(uow_factory(), ticket_request(), actor="a")
    tickets.add_note(uow_factory(), view["id"], "回电给王阿姨，她女儿的号码是13900001111", actor="staff")
    tickets.change_ticket(uow_factory(), view["id"], "resolve", actor="staff")
    fresh = tickets.create_ticket(uow_factory(), ticket_request(), actor="a")
    tickets.add_note(uow_factory(), fresh["id"], "已回电", actor="staff")
    tickets.change_ticket(uow_factory(), fresh["id"], "resolve", actor="staff")
    with uow_factory() as uow:
        uow.session.execute(text("UPDATE handoff_tickets SET closed_at = :old WHERE id = :id"),
                            {"old": now() - timedelta(days=400), "id": view["id"]})
        uow.commit()
    counts = retention.purge_expired(uow_factory())
    assert counts["tickets"] >= 1
    purged, kept = tickets.get_ticket(uow_factory(), view["id"]), tickets.get_ticket(uow_factory(), fresh["id"])
    assert purged["transcript"] == [] and purged["caller_phone"] is None and purged["filled_slots"] == {}
    assert kept["transcript"] and kept["caller_phone"]
    assert tickets.list_notes(uow_factory(), view["id"]) == [] and tickets.list_notes(uow_factory(), fresh["id"])
    with uow_factory() as uow:
        assert [e.action for e in uow.audit.for_entity("handoff_tickets", view["id"])][-1] == "purge_personal_data"


def test_one_conversation_files_one_ticket_however_often_it_asks(uow_factory):
    first = tickets.create_ticket(uow_factory(), ticket_request(), actor="assistant")
    conversation = first["conversation_id"]
    longer = [*ticket_request().transcript, {"speaker": "caller", "text": "我说了要人工"}]
    again = tickets.create_ticket(uow_factory(), ticket_request(conversation_id=conversation, transcript=longer,
                                                                reason="distress"), actor="assistant")
    assert again["reference"] == first["reference"] and again["transcript"] == longer
    assert again["priority"] == tickets.URGENT                      # the more urgent reason wins
    with uow_factory() as uow:
        count = uow.session.execute(text("SELECT count(*) FROM handoff_tickets WHERE conversation_id = :c"),
                                    {"c": conversation}).scalar()
        actions = [e.action for e in uow.audit.for_entity("handoff_tickets", first["id"])]
    assert count == 1 and actions == ["create", "asked_again"]
    tickets.change_ticket(uow_factory(), first["id"], "resolve", actor="staff")
    later = tickets.create_ticket(uow_factory(), ticket_request(conversation_id=conversation), actor="assistant")
    assert later["reference"] != first["reference"]                 # once resolved, a new request is new


def test_callers_turned_away_at_once_get_one_callback_each_however_often_they_try(uow_factory):
    numbers = [random_phone() for _ in range(3)]

    def turned_away(attempt: int) -> dict:
        return tickets.create_ticket(uow_factory(), ticket_request(
            conversation_id=f"CA-busy-{uuid.uuid4().hex}", reason="busy", caller_phone=numbers[attempt % 3],
            transcript=[], filled_slots={}), actor="voice")

    with ThreadPoolExecutor(max_workers=12) as pool:
        filed = list(pool.map(turned_away, range(24)))       # each number eight times, all at once
    assert len({view["reference"] for view in filed}) == 3
    with uow_factory() as uow:
        counts = [uow.session.execute(text("SELECT count(*) FROM handoff_tickets WHERE caller_phone_hash = :h"),
                                      {"h": lookup_hash(number)}).scalar() for number in numbers]
    assert counts == [1, 1, 1]
