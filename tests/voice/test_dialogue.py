"""The gateway ↔ Rasa bridge against the real assistant, and when Rasa does not answer."""
from __future__ import annotations

import asyncio
import socket
import uuid

from voice.dialogue import APOLOGY, RasaBridge, bot_turn

CALLER = "+8613812345678"


def test_a_turn_through_the_real_assistant(rasa):
    turn = asyncio.run(RasaBridge(rasa.url).send(f"CA{uuid.uuid4().hex}", "你好", caller=CALLER))
    assert not turn.failed and "转人工" in turn.texts[0]


def test_handoff_control_comes_back_with_the_ticket(rasa):
    turn = asyncio.run(RasaBridge(rasa.url).send(f"CA{uuid.uuid4().hex}", "转人工", caller=CALLER))
    assert turn.handoff and turn.handoff["ticket"] and isinstance(turn.handoff["transfer"], bool)


def test_rasa_silent_means_an_apology_not_silence():
    with socket.socket() as listener:          # accepts the connection, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        turn = asyncio.run(RasaBridge(f"http://127.0.0.1:{port}", timeout=1).send("CA1", "你好", caller=None))
    assert turn.failed and turn.texts == [APOLOGY]


def test_rasa_down_means_an_apology_too():
    turn = asyncio.run(RasaBridge("http://127.0.0.1:9", timeout=1).send("CA1", "你好", caller=None))
    assert turn.failed and turn.texts == [APOLOGY]


def test_control_messages_are_read_from_custom_json():
    turn = bot_turn([{"text": "再见"}, {"custom": {"hangup": True}}, {"custom": "not a dict"},
                     {"custom": {"collect_digits": {"max": 8, "finish_on": "#"}}}])
    assert turn.texts == ["再见"] and turn.hangup and turn.collect_digits == {"max": 8, "finish_on": "#"}
