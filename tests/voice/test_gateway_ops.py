"""The gateway's /metrics and /health: the token, the figures a call leaves, each dependency
reported, and 503 only when the gateway itself cannot take calls."""
from __future__ import annotations

import socket

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from voice import health, settings
from voice.app import create_app


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.fixture
def client():
    return TestClient(create_app())          # no lifespan: nothing loaded, no AudioSocket server


def test_metrics_need_the_service_token_and_carry_the_gateways_figures(client):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    client.post("/twilio/voice", data={"CallSid": "CA1"})                     # unsigned: 403
    response = client.get("/metrics", headers={"Authorization": f"Bearer {settings.SERVICE_TOKEN}"})
    assert response.status_code == 200
    found = {sample.name: sample for family in text_string_to_metric_families(response.text)
             for sample in family.samples}
    assert found["helpline_voice_calls_in_progress"].value == 0
    for name in ("turn_latency_seconds", "recognition_real_time_factor"):
        assert f"# TYPE helpline_voice_{name} histogram" in response.text
    for name in ("handoffs", "calls", "turn_failures"):
        assert f"# TYPE helpline_voice_{name}_total counter" in response.text
    assert any(sample.name == "helpline_voice_requests_total" and sample.labels["route"] == "/twilio/voice"
               and sample.labels["status"] == "403"
               for family in text_string_to_metric_families(response.text) for sample in family.samples)


def test_health_reports_each_dependency_and_stays_up_without_rasa(client, monkeypatch):
    monkeypatch.setattr(health, "RASA_URL", closed_port_url())
    monkeypatch.setattr(settings, "PROXY_SERVICE_URL", closed_port_url())
    monkeypatch.setattr(settings, "ACTION_SERVER_URL", closed_port_url() + "/webhook")
    monkeypatch.setattr("voice.asr.loaded", lambda: True)
    response = client.get("/health")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "degraded"
    assert body["checks"]["speech_models"]["ok"] is True
    assert body["checks"]["rasa"] == {"ok": False, "error": "ConnectError"}
    assert body["checks"]["actions"] == {"ok": False, "error": "ConnectError"}
    assert body["checks"]["proxy_service"]["ok"] is False


def test_health_is_503_while_the_speech_models_are_not_loaded(client, monkeypatch):
    monkeypatch.setattr("voice.asr.loaded", lambda: False)
    response = client.get("/health")
    assert response.status_code == 503 and response.json()["status"] == "down"


def test_writes_to_a_dead_proxy_service_fail_softly(monkeypatch, caplog):
    import asyncio

    from voice import records

    monkeypatch.setattr(settings, "PROXY_SERVICE_URL", closed_port_url())

    async def scenario():
        return (await records.report("CA1", channel="phone", started=True),
                await records.keep_leases(["CA1"], [], 60),
                await records.file_callback("CA1", caller_phone="13800138000", channel="phone", transcript=[]))

    assert asyncio.run(scenario()) == (False, False, None)
    assert "call leases not written: ConnectError" in caplog.text
