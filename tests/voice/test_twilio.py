"""Twilio entry points: signed webhook → TwiML; Media Streams messages, good and bad."""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from voice import settings
from voice.app import create_app
from voice.call import CallSession
from voice.telephony import CallEvent, MalformedMessage
from voice.telephony.twilio import TwilioMediaStream

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


def stream_ticket(client, form: dict = FORM) -> dict[str, str]:
    """The custom parameters the signed webhook's TwiML gives the call's stream."""
    response = client.post("/twilio/voice", data=form, headers=signed(form))
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/xml")
    stream = ElementTree.fromstring(response.text).find("./Connect/Stream")
    assert stream.get("url") == "wss://helpline.example.org/twilio/stream"
    return {p.get("name"): p.get("value") for p in stream.findall("Parameter")}


def test_signed_call_gets_a_stream_with_caller_and_call_sid_under_a_ticket(client):
    parameters = stream_ticket(client)
    assert parameters["caller"] == "+8613812345678" and parameters["callSid"] == FORM["CallSid"]
    assert parameters["expires"].isdigit() and len(parameters["ticket"]) == 64


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


def start_message(call_sid: str = "CA1", parameters: dict | None = None) -> str:
    return json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": "MZ1", "start": {
        "streamSid": "MZ1", "callSid": call_sid, "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                                                "channels": 1},
        "customParameters": {"caller": "+8613812345678"} if parameters is None else parameters}})


def stream_handshake() -> dict:
    return {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(
        "wss://helpline.example.org/twilio/stream", {})}


def closed_after(client, *messages: str) -> bool:
    """Open a signed stream, send `messages`; True if the gateway's next message closes it."""
    with client.websocket_connect("/twilio/stream", headers=stream_handshake()) as ws:
        for message in messages:
            ws.send_text(message)
        return ws.receive()["type"] == "websocket.close"


@pytest.mark.parametrize("tamper", ["caller", "other_call", "no_ticket"])
def test_a_start_that_is_not_what_the_webhook_signed_closes_the_stream(client, tamper, caplog):
    ticket = stream_ticket(client)
    call_sid, parameters = FORM["CallSid"], dict(ticket)
    if tamper == "caller":                        # a spoofed number: tickets, SMS, callbacks to a stranger
        parameters["caller"] = "+8613900000000"
    elif tamper == "other_call":                  # a live call's ticket reused for another CallSid
        call_sid = "CA" + "b" * 32
    elif tamper == "no_ticket":
        parameters = {"caller": ticket["caller"], "callSid": call_sid}
    with caplog.at_level(logging.WARNING, logger="voice.telephony.twilio_routes"):
        assert closed_after(client, '{"event": "connected"}', start_message(call_sid, parameters))
    assert "media stream closed" in caplog.text


def test_a_captured_ticket_opens_one_stream_only(client, caplog, monkeypatch):
    ticket = stream_ticket(client)
    redeemed = []
    real_handle = CallSession.handle

    async def note_start(session, event):          # stop the call at once: no Rasa, no speech needed
        if event.kind == "start":
            redeemed.append(event.call_id)
            await session.end("stopped by the test")
            return
        await real_handle(session, event)

    monkeypatch.setattr(CallSession, "handle", note_start)
    assert closed_after(client, start_message(FORM["CallSid"], ticket))
    assert redeemed == [FORM["CallSid"]]
    with caplog.at_level(logging.WARNING, logger="voice.telephony.twilio_routes"):
        assert closed_after(client, start_message(FORM["CallSid"], ticket))       # the replay
    assert redeemed == [FORM["CallSid"]] and "already used" in caplog.text


def test_an_expired_ticket_is_refused(monkeypatch, caplog):
    monkeypatch.setattr(settings, "TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setattr(settings, "PUBLIC_URL", PUBLIC)
    monkeypatch.setattr(settings, "STREAM_TICKET_SECONDS", -1)
    stale = TestClient(create_app())
    with caplog.at_level(logging.WARNING, logger="voice.telephony.twilio_routes"):
        assert closed_after(stale, start_message(FORM["CallSid"], stream_ticket(stale)))
    assert "expired" in caplog.text


def test_a_stream_that_never_starts_is_closed(client, monkeypatch, caplog):
    monkeypatch.setattr(settings, "STREAM_START_TIMEOUT", 0.3)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="voice.telephony.twilio_routes"):
        assert closed_after(client, '{"event": "connected"}')
    assert time.monotonic() - started < 5 and "no start" in caplog.text


def new_line() -> tuple[TwilioMediaStream, list[str]]:
    sent: list[str] = []

    async def send(message: str) -> None:
        sent.append(message)

    async def close() -> None:
        sent.append("closed")

    return TwilioMediaStream(send, close), sent


def test_media_streams_messages_in_and_out():
    """The adapter owns the codec: μ-law 8 kHz in → 16 kHz PCM16 events; PCM out → μ-law frames."""
    stream, sent = new_line()
    started = stream.parse(start_message())
    assert (started.kind, started.call_id, started.caller) == ("start", "CA1", "+8613812345678")
    assert stream.parameters["caller"] == "+8613812345678"
    assert stream.parse('{"event": "connected", "protocol": "Call"}') is None
    frame = bytes(range(160))
    media = stream.parse(json.dumps({"event": "media", "media": {"payload": base64.b64encode(frame).decode()}}))
    assert media.kind == "audio" and len(media.pcm) % 2 == 0
    more = [stream.parse(json.dumps({"event": "media", "media": {"payload": base64.b64encode(frame).decode()}}))
            for _ in range(49)]
    # 1 s of 8 kHz μ-law → 1 s of 16 kHz PCM16 but the resampling filter's delay (under 100 ms)
    assert 32000 - 3200 < len(media.pcm) + sum(len(m.pcm) for m in more) <= 32000
    assert stream.parse('{"event": "dtmf", "dtmf": {"digit": "0"}}').digit == "0"
    assert stream.parse('{"event": "mark", "mark": {"name": "reply-3"}}') == CallEvent("played", mark="reply-3")
    assert stream.parse('{"event": "stop", "stop": {"callSid": "CA1"}}').kind == "stop"

    async def commands() -> None:
        await stream.play(b"\x00\x00" * 1600, 16000)        # 100 ms of silence at 16 kHz
        await stream.clear()
        await stream.mark("reply-4")
        await stream.hang_up()
        await stream.mark("after the end")

    asyncio.run(commands())
    media_out = [json.loads(m) for m in sent[:-3]]
    assert len(media_out) == 5 and all(m["event"] == "media" and m["streamSid"] == "MZ1" for m in media_out)
    assert all(len(base64.b64decode(m["media"]["payload"])) == 160 for m in media_out)     # 20 ms μ-law frames
    assert json.loads(sent[-3]) == {"event": "clear", "streamSid": "MZ1"}
    assert json.loads(sent[-2])["mark"] == {"name": "reply-4"}
    assert sent[-1] == "closed"                                # nothing after hanging up


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
        new_line()[0].parse(raw)


def test_no_audio_is_sent_before_the_stream_started():
    with pytest.raises(RuntimeError):
        asyncio.run(new_line()[0].play(b"\x00" * 320, 8000))


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
    adapter = new_line()[0]
    for raw in sequence:
        try:
            event = adapter.parse(raw)
        except MalformedMessage:
            continue
        if event is None:       # `connected`
            continue
        assert event.kind in {"start", "audio", "key", "played", "stop"}
        if event.kind == "audio":
            assert isinstance(event.pcm, bytes) and len(event.pcm) % 2 == 0
        if event.kind == "key":
            assert event.digit in set("0123456789*#")


def test_a_caller_hammering_keys_while_the_dialogue_is_slow_queues_a_bounded_number_of_turns(monkeypatch):
    """0 pressed thirty times while Rasa has not answered the greeting: at most
    VOICE_MAX_QUEUED_TURNS wait, the rest are dropped (one hand-off per conversation is the
    API's part: tests/proxy/test_tickets_applications_db.py)."""

    class StalledDialogue:
        async def send(self, *_args, **_kwargs):
            await asyncio.sleep(3600)

    async def nowhere(*_args, **_kwargs):
        return True

    async def call() -> int:
        monkeypatch.setattr("voice.call.records.report", nowhere)
        line, _sent = new_line()
        session = CallSession(line, recognizer=object(), speech=object(), bridge=StalledDialogue())
        await session.handle(line.parse(start_message()))
        await asyncio.sleep(0.05)                      # the greeting is with the dialogue now
        for _ in range(30):
            await session.handle(line.parse('{"event": "dtmf", "dtmf": {"digit": "0"}}'))
        waiting = session._turns.qsize()
        await session.end("test over")
        return waiting

    assert asyncio.run(call()) == settings.MAX_QUEUED_TURNS
