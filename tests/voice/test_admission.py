"""Which calls the gateway takes (voice/admission.py), and how a caller turned away at Twilio's
webhook is treated: a callback filed first, our own recording of the message, then the line ends."""
from __future__ import annotations

from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient

from voice import settings
from voice.admission import FULL, SLOW, Admission, RecentTurns
from voice.app import create_app
from voice.shedding import BUSY
from voice.tts import SpeechChain
from tests.voice.test_twilio import FORM, PUBLIC, TOKEN, signed


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def admission(calls: list[int], clock: Clock, turns: RecentTurns | None = None, **limits) -> Admission:
    return Admission(lambda: calls[0], clock=clock, turns=turns if turns is not None else RecentTurns(60, clock),
                     **{"max_calls": 4, "min_calls": 2, "budget_seconds": 1.5, "promise_seconds": 10, **limits})


def test_calls_are_taken_up_to_the_limit_counting_the_ones_a_webhook_promised():
    clock, calls = Clock(), [2]
    gate = admission(calls, clock)
    assert gate.refusal() is None
    gate.promise("CA-1")
    gate.promise("CA-2")
    assert gate.refusal() == FULL                      # 2 talking + 2 whose streams are on their way
    assert gate.admit("CA-1") is None                  # a promised stream is taken, even now
    clock.now += 11                                    # CA-2's stream never came
    assert gate.refusal() is None
    assert gate.admit("CA-unknown") is None and gate.admit(None) is None
    calls[0] = 4
    assert gate.admit("CA-3") == FULL


def test_slow_answers_turn_new_callers_away_only_while_they_last_and_never_on_a_quiet_line():
    clock, calls = Clock(), [1]
    turns = RecentTurns(60, clock)
    gate = admission(calls, clock, turns)
    for _ in range(4):
        turns.add(3.0)
    assert gate.refusal() is None                      # four slow turns say nothing yet
    turns.add(3.0)
    assert gate.refusal() is None                      # one call in conversation: below the floor
    calls[0] = 2
    assert gate.refusal() == SLOW
    for _ in range(50):
        turns.add(0.8)
    assert gate.refusal() is None                      # more than nine in ten answered in time again
    clock.now += 61
    for _ in range(5):
        turns.add(2.0)
    assert gate.refusal() == SLOW                      # only the last minute counts
    clock.now += 61
    assert gate.refusal() is None


@pytest.fixture
def full_gateway(monkeypatch, records, tmp_path):
    """A gateway that takes no more calls (its limit is 0)."""
    monkeypatch.setattr(settings, "TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setattr(settings, "PUBLIC_URL", PUBLIC)
    app = create_app(speech=SpeechChain(cache_dir=tmp_path / "tts-cache"), audiosocket_port=0)
    app.state.core.admission.max_calls = 0
    return app


def test_a_caller_turned_away_at_the_webhook_hears_our_recording_after_the_callback_was_filed(full_gateway, records):
    with TestClient(full_gateway) as client:      # its start renders the recordings
        response = client.post("/twilio/voice", data=FORM, headers=signed(FORM))
        twiml = ElementTree.fromstring(response.text)
        assert response.status_code == 200 and twiml.find("./Connect") is None
        assert [child.tag for child in twiml] == ["Play", "Hangup"]
        assert twiml.find("Play").text == f"{PUBLIC}/prompts/busy-callback.wav"
        recording = client.get("/prompts/busy-callback.wav")
        assert recording.headers["content-type"] == "audio/wav" and recording.content[:4] == b"RIFF"
        assert len(recording.content) > 8000 * 2 * 3          # seconds of 8 kHz speech, not a stub
        assert client.get("/prompts/nothing.wav").status_code == 404
    [(call_id, fields)] = records.callbacks
    assert call_id == FORM["CallSid"] and fields["reason"] == "busy" and fields["caller_phone"] == FORM["From"]
    assert any(call == FORM["CallSid"] and report.get("ended") for call, report in records.reports)


def test_a_withheld_number_or_a_callback_not_filed_is_told_to_call_again(full_gateway, records):
    records.ticket = None                                   # the proxy service did not take it
    client = TestClient(full_gateway)                       # no recordings made: Twilio says it
    response = client.post("/twilio/voice", data=FORM, headers=signed(FORM))
    twiml = ElementTree.fromstring(response.text)
    assert [child.tag for child in twiml] == ["Say", "Hangup"] and twiml.find("Say").text == BUSY
    withheld = {**FORM, "From": ""}
    response = client.post("/twilio/voice", data=withheld, headers=signed(withheld))
    assert ElementTree.fromstring(response.text).find("Say").text == BUSY
    assert len(records.callbacks) == 1                      # nobody to call back the second time


def test_forged_webhooks_are_refused_before_anything_is_filed(full_gateway, records):
    response = TestClient(full_gateway).post("/twilio/voice", data=FORM, headers={"X-Twilio-Signature": "Zm9yZ2Vk"})
    assert response.status_code == 403 and records.callbacks == []

