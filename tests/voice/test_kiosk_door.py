"""The kiosk's door on the gateway: who may open it, its headers, and what its WebSocket
accepts — in-process, no speech (the whole kiosk runs in tests/voice/test_kiosk_page.py)."""
from __future__ import annotations

import json
import time

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from voice.telephony import MalformedMessage
from voice.telephony.kiosk import CSP, KioskLine, allowed, kiosk_router

HALL = ("127.0.0.1", 50000)


class RecordingCall:
    """Stands in for the call core: records the events of each kiosk session."""

    def __init__(self):
        self.sessions = []

    def open(self, line):
        call = self

        class Session:
            ended = False
            events: list = []

            async def handle(self, event):
                self.events.append(event)

            async def end(self, reason):
                self.ended = True

        session = Session()
        call.sessions.append(session)
        return session


@pytest.fixture
def core():
    return RecordingCall()


def client_for(core, address=HALL) -> TestClient:
    app = FastAPI()
    app.include_router(kiosk_router(core.open))
    return TestClient(app, client=address)


@pytest.mark.parametrize("address, networks, expected", [
    ("127.0.0.1", "127.0.0.0/8,::1", True),
    ("::1", "127.0.0.0/8,::1", True),
    ("10.20.0.7", "10.20.0.0/16", True),
    ("10.21.0.7", "10.20.0.0/16", False),
    ("203.0.113.9", "127.0.0.0/8,::1", False),
    ("testclient", "127.0.0.0/8", False),
    (None, "127.0.0.0/8", False),
])
def test_only_the_halls_networks_may_use_the_kiosk(address, networks, expected):
    assert allowed(address, networks) is expected


def test_the_page_is_served_to_a_kiosk_with_a_strict_policy(core):
    response = client_for(core).get("/kiosk")
    assert response.status_code == 200 and response.headers["content-security-policy"] == CSP
    assert "'unsafe-inline'" not in CSP and "__IDLE_SECONDS__" not in response.text
    assert 'data-idle-seconds="90"' in response.text
    script = client_for(core).get("/kiosk/static/kiosk.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert client_for(core).get("/kiosk/static/../app.py").status_code == 404
    assert client_for(core).get("/kiosk/static/secrets.env").status_code == 404


def test_anyone_else_gets_a_clear_refusal(core):
    outsider = client_for(core, ("203.0.113.9", 40000))
    refused = outsider.get("/kiosk")
    assert refused.status_code == 403 and "服务大厅" in refused.json()["message_zh"]
    assert outsider.get("/kiosk/static/kiosk.js").status_code == 403
    with pytest.raises(WebSocketDisconnect):
        with outsider.websocket_connect("/kiosk/stream", headers={"origin": "http://testserver"}) as ws:
            ws.receive_text()
    assert core.sessions == []


def test_the_stream_only_opens_from_the_pages_own_origin(core):
    with pytest.raises(WebSocketDisconnect):
        with client_for(core).websocket_connect("/kiosk/stream", headers={"origin": "http://evil.example"}) as ws:
            ws.receive_text()
    assert core.sessions == []


def test_the_stream_turns_messages_into_call_events_and_skips_garbage(core):
    with client_for(core).websocket_connect("/kiosk/stream", headers={"origin": "http://testserver"}) as ws:
        ws.send_text(json.dumps({"type": "start"}))
        ws.send_bytes(b"\x01\x00" * 640)
        ws.send_bytes(b"\x01" * 3)                      # odd length: not PCM16
        ws.send_text("{not json")
        ws.send_text(json.dumps({"type": "played", "mark": "reply1-1/1"}))
        ws.send_text(json.dumps({"type": "staff"}))
        ws.send_text(json.dumps({"type": "end"}))
        deadline = time.monotonic() + 5               # leaving the block may cut the server short: let it read all
        while time.monotonic() < deadline and not (core.sessions and core.sessions[0].events
                                                   and core.sessions[0].events[-1].kind == "stop"):
            time.sleep(0.01)
    [session] = core.sessions
    kinds = [event.kind for event in session.events]
    assert kinds == ["start", "audio", "played", "person", "stop"]
    assert session.events[0].call_id.startswith("kiosk-") and session.events[0].caller is None
    assert session.ended


@pytest.mark.parametrize("message", [
    {"bytes": b"\0" * 32002},                            # over a second of audio in one message
    {"bytes": b"\0" * 3},
    {"text": "x" * 2000},
    {"text": "[]"},
    {"text": json.dumps({"type": "played"})},             # no mark
    {"text": json.dumps({"type": "hello"})},
    {},
])
def test_malformed_kiosk_messages_are_refused_clearly(message):
    with pytest.raises(MalformedMessage):
        KioskLine(websocket=None).parse(message)
