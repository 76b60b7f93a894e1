"""Moving a live call to staff: the official Twilio client builds the real REST request;
Twilio's cloud is out of reach here, so a local HTTP server stands in for it."""
from __future__ import annotations

import asyncio
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from voice import settings
from voice.telephony.twilio import transfer_call

ACCOUNT = "AC" + "1" * 32
CALL = "CA" + "2" * 32


class FakeTwilio(BaseHTTPRequestHandler):
    requests: list = []
    status = 200

    def do_POST(self):   # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        FakeTwilio.requests.append((self.path, parse_qs(body), self.headers.get("Authorization")))
        self.send_response(FakeTwilio.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"sid": "%s", "status": "in-progress"}' % CALL.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def twilio_api(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeTwilio)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    FakeTwilio.requests, FakeTwilio.status = [], 200
    monkeypatch.setattr(settings, "TWILIO_ACCOUNT_SID", ACCOUNT)
    monkeypatch.setattr(settings, "TWILIO_AUTH_TOKEN", "secret")
    monkeypatch.setattr(settings, "TWILIO_API_BASE_URL", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setattr(settings, "STAFF_TRANSFER_TARGET", "+8657112345678")
    yield FakeTwilio
    server.shutdown()


def test_transfer_updates_the_live_call_with_a_dial_to_staff(twilio_api):
    outcome = asyncio.run(transfer_call(CALL, {"ticket": "12345678"}))
    assert outcome == {"ticket": "12345678", "target": "+8657112345678", "outcome": "transferred"}
    [(path, form, authorization)] = twilio_api.requests
    assert path == f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{CALL}.json"
    assert form["Twiml"] == ['<?xml version="1.0" encoding="UTF-8"?><Response><Dial timeout="30">'
                             '<Number>+8657112345678</Number></Dial></Response>']
    assert authorization.startswith("Basic ")


def test_twilio_refusing_the_transfer_is_recorded_as_failed(twilio_api):
    twilio_api.status = 404
    outcome = asyncio.run(transfer_call(CALL, {"ticket": "12345678"}))
    assert outcome["outcome"] == "failed" and outcome["ticket"] == "12345678"


def test_without_credentials_the_request_is_recorded_not_lost(monkeypatch):
    monkeypatch.setattr(settings, "TWILIO_ACCOUNT_SID", "")
    outcome = asyncio.run(transfer_call(CALL, {"ticket": "12345678"}))
    assert outcome["outcome"] == "not_configured" and outcome["ticket"] == "12345678"
