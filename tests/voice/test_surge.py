"""A burst of callers against the real stack, the gateway limited to two calls: the two in
conversation go on and are answered; everyone else, while they talk, is turned away at the
webhook with our recording after a callback ticket was filed in the real API — one per number
however often it called — and the gateway is well after it. (How fast the calls in
conversation are answered under a surge is measured in bench/surge.py, not asserted here.)"""
from __future__ import annotations

import asyncio

import httpx
import pytest

from proxy_service.crypto import lookup_hash
from tests.conftest import TEST_VAR, TOKEN
from tests.test_booking_conversation import rows
from tests.voice.conftest import SPEED, TWILIO_TOKEN, caller_recording
from tools.services import running_gateway
from voice.call_simulator import CallerTurn, Simulator, TurnedAway, stream_parameters

pytestmark = pytest.mark.rasa_server
TALKING = ["+8613700001001", "+8613700001002"]
BURST = [f"+86137000020{n:02d}" for n in range(8)]
AGAIN = BURST[:2]                       # two of them try again at once


def test_a_burst_beyond_the_limit_is_turned_away_kindly_and_nothing_is_lost(rasa, api_url, api_database_url):
    with running_gateway(TEST_VAR / "voice-surge", rasa.url, api_url, TOKEN, TWILIO_TOKEN,
                         actions_url=rasa.actions_url, extra_env={"VOICE_MAX_CALLS": "2"}) as url:
        base = url.replace("ws://", "http://").removesuffix("/twilio/stream")
        question = [CallerTurn("wav", caller_recording("我的社保卡丢了怎么补办"))]

        async def scenario():
            talking = [asyncio.create_task(Simulator(url, auth_token=TWILIO_TOKEN, caller=number, speed=SPEED,
                                                     max_seconds=240).run(question)) for number in TALKING]
            async with httpx.AsyncClient() as client:
                for _ in range(600):                                  # both in conversation
                    if (await client.get(f"{base}/health")).json()["calls"] == 2:
                        break
                    await asyncio.sleep(0.05)
            burst = await asyncio.gather(*(stream_parameters(url, url, TWILIO_TOKEN, number, f"CA-burst-{i}")
                                           for i, number in enumerate(BURST + AGAIN)))
            return burst, await asyncio.gather(*talking)

        burst, talked = asyncio.run(scenario())
        health = httpx.get(f"{base}/health").json()

    assert all(isinstance(answer, TurnedAway) for answer in burst), burst
    assert {answer.play_url.rsplit("/", 1)[1] for answer in burst} == {"busy-callback.wav"}
    assert all(answer.recording_seconds > 3 for answer in burst)     # our recording, fetched as Twilio does
    for outcome in talked:                                            # the two went on and were answered
        assert "turned_away" not in outcome and len(outcome["results"]) == 2
        assert outcome["results"][1].latency_ms() is not None
    tickets = dict(rows(api_database_url, "SELECT caller_phone_hash, count(*) FROM handoff_tickets "
                                          "WHERE reason = 'busy' GROUP BY caller_phone_hash"))
    assert [tickets.get(lookup_hash(number)) for number in BURST] == [1] * len(BURST)
    assert not any(lookup_hash(number) in tickets for number in TALKING)
    assert health["status"] == "ok" and health["calls"] == 0
