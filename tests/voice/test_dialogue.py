"""The gateway ↔ Rasa bridge against the real assistant, and when Rasa does not answer."""
from __future__ import annotations

import asyncio
import socket
import uuid

import httpx

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


async def _flaky_rasa(first_answer: str, turns: list[str]):
    """A Rasa behind a balancer whose first try fails (`first_answer`: "502" or "drop")."""
    from aiohttp import web

    async def webhook(request):
        turns.append((await request.json())["message"])
        if len(turns) == 1:
            if first_answer == "drop":
                request.transport.close()          # the instance died mid-turn: no answer at all
                return web.Response()
            return web.Response(status=502, text="Bad Gateway")
        return web.json_response([{"recipient_id": "CA1", "text": "好的，社保卡。"}])

    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]


def test_a_turn_the_balancer_or_a_dying_rasa_dropped_is_sent_once_more():
    async def scenario(first_answer):
        turns: list[str] = []
        runner, port = await _flaky_rasa(first_answer, turns)
        try:
            turn = await RasaBridge(f"http://127.0.0.1:{port}", timeout=3).send("CA1", "社保卡", caller=None)
        finally:
            await runner.cleanup()
        return turn, turns

    for first_answer in ("502", "drop"):
        turn, turns = asyncio.run(scenario(first_answer))
        assert turns == ["社保卡", "社保卡"] and not turn.failed and turn.texts == ["好的，社保卡。"], first_answer


def test_control_messages_are_read_from_custom_json():
    turn = bot_turn([{"text": "再见"}, {"custom": {"hangup": True}}, {"custom": "not a dict"},
                     {"custom": {"collect_digits": {"max": 8, "finish_on": "#"}}}])
    assert turn.texts == ["再见"] and turn.hangup and turn.collect_digits == {"max": 8, "finish_on": "#"}


def test_a_rewind_makes_rasa_forget_the_last_turn_and_its_reply(rasa):
    """What the gateway does when a caller only paused: the joined turn replaces the first part."""
    bridge, call = RasaBridge(rasa.url), f"CA{uuid.uuid4().hex}"
    first = asyncio.run(bridge.send(call, "我的社保卡丢了怎么补办", caller=CALLER))
    assert not first.failed and asyncio.run(bridge.rewind(call))
    tracker = httpx.get(f"{rasa.url}/conversations/{call}/tracker", params=rasa.api, timeout=10).json()
    assert tracker["latest_message"].get("text") != "我的社保卡丢了怎么补办"
    assert tracker["slots"].get("service") is None, "the first part's slots must be undone too"
    joined = asyncio.run(bridge.send(call, "我的社保卡丢了怎么补办，要带哪些材料", caller=CALLER))
    assert "身份证" in " ".join(joined.texts) and "没听明白" not in " ".join(joined.texts), joined


def test_a_rewind_rasa_cannot_take_is_reported_not_raised():
    assert asyncio.run(RasaBridge("http://127.0.0.1:9", timeout=1).rewind("CA1")) is False
