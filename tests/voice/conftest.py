"""The voice gateway running against the live assistant and API, and a way to call it."""
from __future__ import annotations

import asyncio

import pytest

from tests.conftest import TEST_VAR, TOKEN
from tools.services import running_gateway
from voice.call_simulator import CallerTurn, Simulator, tracker_turns

TWILIO_TOKEN = "test-twilio-auth-token"
SPEED = 3.0    # the line runs 3x faster than real time; turn-taking counts frames, not seconds


@pytest.fixture(scope="session")
def gateway(rasa, api_url):
    with running_gateway(TEST_VAR / "voice", rasa.url, api_url, TOKEN, TWILIO_TOKEN) as url:
        yield url


def place_call(url: str, rasa_url: str, turns: list[tuple[str, str]], **options) -> dict:
    """A call through the simulator; returns its report (turns, audio heard, hang-up)."""
    simulator = Simulator(url, auth_token=TWILIO_TOKEN, speed=options.pop("speed", SPEED), **options)
    outcome = asyncio.run(simulator.run([CallerTurn(kind, value) for kind, value in turns]))
    return {"call_sid": outcome["call_sid"], "hung_up_by_bot": outcome["hung_up_by_bot"],
            "turns": tracker_turns(rasa_url, outcome["call_sid"], outcome["results"]),
            "heard": bytes(simulator.line.heard), "clears": simulator.line.clears}
