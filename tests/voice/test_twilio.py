"""Twilio entry points: signed webhook → TwiML; Media Streams messages, good and bad."""
from __future__ import annotations

import base64
import json

import pytest
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from voice import settings
from voice.app import create_app
from voice.telephony import MalformedMessage
from voice.telephony.twilio import TwilioMediaStreams

TOKEN = "twilio-test-auth-token"
PUBLIC = "https://helpline.example.org"
FORM = {"CallSid": "CA" + "a" * 32, "From": "+8613812345678", "To": "+8612345"}


@pytest.fixture
def client(monkeypatch):
    monkeypatch.setattr(settings, "TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setattr(settings, "PUBLIC_URL", PUBLIC)
    return TestClient(create_app())


def signed(params: dict, url: str = f"{PUBLIC}/twilio/voice", token: str = TOKEN) -> dict:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, params)}


def test_signed_call_gets_a_stream_with_caller_and_call_sid(client):
    response = client.post("/twilio/voice", data=FORM, headers=signed(FORM))
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/xml")
    twiml = response.text
    assert '<Stream url="wss://helpline.example.org/twilio/stream">' in twiml
    assert '<Parameter name="caller" value="+8613812345678"' in twiml
    assert f'<Parameter name="callSid" value="{FORM["CallSid"]}"' in twiml


@pytest.mark.parametrize("headers", [
    {},                                                                   # unsigned
    {"X-Twilio-Signature": "Zm9yZ2Vk"},                                   # forged
    signed(FORM, token="someone-elses-token"),                            # wrong key
    signed(FORM, url="http://10.0.0.5:8080/twilio/voice"),                # signed for another URL
    signed({**FORM, "From": "+8613900000000"}),                           # body changed after signing
])
def test_unsigned_or_forged_calls_get_403(client, headers):
    response = client.post("/twilio/voice", data=FORM, headers=headers)
    assert response.status_code == 403 and "<Response>" not in response.text


def test_oversized_webhook_body_is_refused_before_its_signature_is_checked(client):
    big = {**FORM, "Junk": "x" * (settings.MAX_FORM_BYTES + 1)}
    assert client.post("/twilio/voice", data=big, headers=signed(big)).status_code == 413
    undeclared = client.post("/twilio/voice", content=iter([b"x" * 40000] * 3),
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert undeclared.status_code == 413


def start_message() -> str:
    return json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": "MZ1", "start": {
        "streamSid": "MZ1", "callSid": "CA1", "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                                             "channels": 1},
        "customParameters": {"caller": "+8613812345678"}}})


def test_media_streams_messages_in_and_out():
    stream = TwilioMediaStreams()
    started = stream.parse(start_message())
    assert (started.kind, started.call_id, started.parameters["caller"]) == ("start", "CA1", "+8613812345678")
    frame = bytes(range(160))
    media = stream.parse(json.dumps({"event": "media", "media": {"payload": base64.b64encode(frame).decode()}}))
    assert media.audio == frame
    assert stream.parse('{"event": "dtmf", "dtmf": {"digit": "0"}}').digit == "0"
    assert stream.parse('{"event": "mark", "mark": {"name": "reply-3"}}').mark == "reply-3"
    assert stream.parse('{"event": "stop", "stop": {"callSid": "CA1"}}').kind == "stop"
    out = json.loads(stream.media(frame))
    assert out == {"event": "media", "streamSid": "MZ1", "media": {"payload": base64.b64encode(frame).decode()}}
    assert json.loads(stream.clear()) == {"event": "clear", "streamSid": "MZ1"}
    assert json.loads(stream.mark("reply-4"))["mark"] == {"name": "reply-4"}


@pytest.mark.parametrize("raw", [
    "{not json",
    b"\xff\xfe",
    "[]",
    '{"event": "hello"}',
    '{"event": "media"}',
    '{"event": "media", "media": {"payload": "***not base64***"}}',
    '{"event": "dtmf", "dtmf": {"digit": "A"}}',
    '{"event": "start", "start": {}}',
    json.dumps({"event": "media", "media": {"payload": "A" * 70000}}),
])
def test_malformed_messages_are_refused_with_a_clear_error(raw):
    with pytest.raises(MalformedMessage):
        TwilioMediaStreams().parse(raw)


def test_no_audio_is_sent_before_the_stream_started():
    with pytest.raises(RuntimeError):
        TwilioMediaStreams().media(b"\xff" * 160)


# -- fuzzing: whatever arrives on the socket, the adapter answers with an event or MalformedMessage

from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st  # noqa: E402

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12)
events = st.sampled_from(["connected", "start", "media", "dtmf", "mark", "stop", "clear", "", "MEDIA"])
messages = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300),
    json_values.map(json.dumps),
    st.builds(lambda event, body: json.dumps({"event": event, **(body if isinstance(body, dict) else {"x": body})}),
              events, json_values),
    st.builds(lambda event, key, body: json.dumps({"event": event, key: body}),
              events, st.sampled_from(["start", "media", "dtmf", "mark", "stop"]), json_values),
)


@hypothesis_settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(messages, min_size=1, max_size=8))
def test_any_message_sequence_gives_events_or_a_clear_refusal(sequence):
    adapter = TwilioMediaStreams()
    for raw in sequence:
        try:
            event = adapter.parse(raw)
        except MalformedMessage:
            continue
        assert event.kind in {"connected", "start", "media", "dtmf", "mark", "stop"}
        if event.kind == "media":
            assert isinstance(event.audio, bytes)
        if event.kind == "dtmf":
            assert event.digit in set("0123456789*#")
