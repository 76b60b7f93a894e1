"""The API's /metrics and /health on SQLite and PostgreSQL: the live figures (calls in progress,
queue depth and oldest ticket, callbacks owed, outbox) agree with the database and with the
dashboard's source; counters name route templates, never raw paths; a dead database is
reported, not hidden."""
from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from proxy_service.main import create_app
from proxy_service.services.live import live_figures
from proxy_service.settings import Settings
from tests.proxy.builders import AUTH, TOKEN, random_phone


def samples(client) -> dict[tuple, float]:
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def file_ticket(client, reason: str = "request_human", phone: str | None = None) -> dict:
    response = client.post("/api/tickets", headers=AUTH, json={
        "conversation_id": f"CA{uuid.uuid4().hex}", "reason": reason, "caller_phone": phone or random_phone(),
        "topic": "ask_social_security", "transcript": [{"speaker": "caller", "text": "转人工"}], "filled_slots": {}})
    assert response.status_code in (200, 201), response.text
    return response.json()


def test_metrics_need_the_service_token(client):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_live_figures_follow_the_database_and_match_the_dashboards_source(client, uow_factory):
    before = samples(client)
    ticket = file_ticket(client)
    file_ticket(client, reason="busy")
    sid = f"CA{uuid.uuid4().hex}"
    assert client.put(f"/api/calls/{sid}", headers=AUTH,
                      json={"channel": "kiosk", "lease_seconds": 60}).status_code == 200
    after = samples(client)
    queue = ticket["queue"]
    assert value(after, "helpline_api_queue_depth", queue=queue) == value(before, "helpline_api_queue_depth",
                                                                             queue=queue) + 2
    assert value(after, "helpline_api_callbacks_owed", reason="busy") == value(
        before, "helpline_api_callbacks_owed", reason="busy") + 1
    assert value(after, "helpline_api_calls_in_progress", channel="kiosk") == value(
        before, "helpline_api_calls_in_progress", channel="kiosk") + 1
    assert value(after, "helpline_api_handoff_tickets_total", reason="request_human", outcome="created") == value(
        before, "helpline_api_handoff_tickets_total", reason="request_human", outcome="created") + 1
    assert value(after, "helpline_api_database_up") == 1
    live = live_figures(uow_factory())
    [listed] = [q for q in live["queues"] if q["queue"] == queue]
    assert value(after, "helpline_api_queue_depth", queue=queue) == listed["waiting"]
    assert value(after, "helpline_api_outbox_backlog", status="pending") == live["outbox_backlog"]["pending"]
    assert listed["oldest_seconds"] is not None and listed["oldest_seconds"] >= 0
    assert client.post(f"/api/tickets/{ticket['id']}/actions", headers=AUTH,
                       json={"action": "claim", "actor": "staff-1"}).status_code == 200
    assert value(samples(client), "helpline_api_queue_depth", queue=queue) == listed["waiting"] - 1


def test_requests_are_counted_by_route_template_and_errors_apart(client):
    client.get("/api/tickets/987654321", headers=AUTH)              # 404
    found = samples(client)
    assert value(found, "helpline_api_requests_total", method="GET", route="/api/tickets/{ticket_id}",
                 status="404") >= 1
    assert not any("987654321" in str(key) for key in found)       # no raw path, no id
    assert value(found, "helpline_api_errors_total", route="/api/tickets/{ticket_id}") == 0


def test_health_reports_the_database(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["checks"]["database"]["ok"] is True


def test_a_dead_database_is_a_503_health_and_a_zero_in_the_metrics(tmp_path):
    class DeadDatabase:
        def __call__(self, *args, **kwargs):
            raise ConnectionError("database down")

    client = TestClient(create_app(Settings(service_token=TOKEN), DeadDatabase()), raise_server_exceptions=False)
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json() == {"status": "down", "checks": {"database": {"ok": False, "error": "ConnectionError"}}}
    assert value(samples(client), "helpline_api_database_up") == 0
