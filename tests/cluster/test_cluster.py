"""The cluster (`make run-cluster`, tools/cluster.py) started for real, beside anything else
on this machine (its ports shifted by CLUSTER_PORT_OFFSET, its own databases and Redis
database): HAProxy, supervisord, 2× Rasa with the tracker in PostgreSQL and locks in Redis,
2× actions, 2× API, 2× voice gateways, one worker.

- a booking form half filled on one Rasa instance is finished on the other;
- a Rasa instance killed mid-conversation loses nothing: the conversation goes on through
  the balancer, the booking lands, and the caller still reaches a person (a turn that raced
  the kill is sent once more by the gateway's client, as on a call);
- a Twilio call's webhook and stream may reach different gateways;
- a gateway killed mid-call leaves a callback ticket for that caller.
"""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from contract import secrets
from tools.cluster import INSTANCES, ROOT, running_cluster

OFFSET = int(os.environ.get("TEST_CLUSTER_PORT_OFFSET", "20000"))
CALLER = "+8613812345678"
pytestmark = pytest.mark.timeout(900)


class Cluster:
    def __init__(self, env: dict[str, str]):
        self.env = env

    def port(self, name: str) -> int:
        return int(self.env[name])

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port(name)}"

    def pid(self, program: str) -> int:
        """The pid supervisord has for e.g. rasa:rasa1."""
        out = subprocess.run(["supervisorctl", "-c", str(ROOT / "cluster" / "supervisord.conf"), "pid", program],
                             env=self.env, capture_output=True, text=True, timeout=20).stdout.strip()
        assert out.isdigit() and int(out) > 0, f"supervisord has no pid for {program}: {out!r}"
        return int(out)

    def kill(self, program: str) -> None:
        os.kill(self.pid(program), signal.SIGKILL)

    def rows(self, sql: str, **params) -> list:
        engine = create_engine(self.env["DATABASE_URL"], future=True)
        try:
            with engine.connect() as connection:
                return connection.execute(text(sql), params).all()
        finally:
            engine.dispose()

    def log(self, name: str) -> str:
        path = Path(self.env["CLUSTER_DIR"]) / "logs" / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else "(no log)"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    suffix = uuid.uuid4().hex[:8]
    settings = {"CLUSTER_PORT_OFFSET": str(OFFSET), "CLUSTER_DIR": str(tmp_path_factory.mktemp("cluster")),
                "CLUSTER_DATABASE": f"helpline_cluster_{suffix}", "CLUSTER_TRACKER_DATABASE": f"helpline_rasa_{suffix}",
                "CLUSTER_REDIS_URL": "redis://127.0.0.1:6379/13",
                # a lost call is noticed within seconds, not a minute
                "VOICE_CALL_LEASE_SECONDS": "4", "VOICE_LEASE_INTERVAL_SECONDS": "1", "OUTBOX_INTERVAL_SECONDS": "1"}
    try:
        with running_cluster(settings) as env:
            yield Cluster(env)
    except RuntimeError as error:
        pytest.fail(f"the cluster did not start: {error}\n(set TEST_CLUSTER_PORT_OFFSET to move it)", pytrace=False)


class Conversation:
    """Turns sent the way the voice gateway sends them (voice.dialogue.RasaBridge)."""

    def __init__(self, cluster: Cluster):
        self.cluster, self.sender, self.heard = cluster, f"CA{uuid.uuid4().hex}", []

    def say(self, words: str, port: int | None = None) -> str:
        from voice.dialogue import RasaBridge

        port = port or self.cluster.port("RASA_PUBLIC_PORT")
        turn = asyncio.run(RasaBridge(f"http://127.0.0.1:{port}", timeout=20).send(
            self.sender, words, caller=CALLER, channel="phone"))
        reply = " ".join(turn.texts)
        self.heard.append((port, words, reply))
        assert not turn.failed, f"{port} did not answer {words!r}:\n{self}"
        return reply

    def __str__(self) -> str:
        return "\n".join(f"[{port}] caller: {words}\n   bot: {reply}" for port, words, reply in self.heard)


def _booking_of(cluster: Cluster, reference_digits: str) -> list:
    return cluster.rows("SELECT b.status, b.mode FROM bookings b WHERE b.reference = :r", r=reference_digits)


def _reference(reply: str) -> str:
    """The booking reference the bot read out ("预约号是五三九幺，四九九幺，…")."""
    from actions.speech import spoken_digits

    spoken = reply.split("预约号是", 1)[1].split("，我再说一遍", 1)[0]
    digit_of = {spoken_digits(str(d)): str(d) for d in range(10)}
    return "".join(digit_of[ch] for ch in spoken if ch in digit_of)


def test_a_booking_half_filled_on_one_rasa_is_finished_on_the_other(cluster):
    one, other = cluster.port("RASA1_PORT"), cluster.port("RASA2_PORT")
    call = Conversation(cluster)
    assert "您要哪个" in call.say("我想给我妈预约一个高龄津贴的代办", one), call
    assert "名字" in call.say("第一个", other), call
    assert "尾号五六七八" in call.say("王秀英", one), call
    assert "同意" in call.say("好的", other), call
    assert "王秀英" in call.say("同意", one), call
    done = call.say("对的", other)
    assert done.startswith("预约好了"), call
    assert _booking_of(cluster, _reference(done)) == [("confirmed", "proxy")], call


def test_a_rasa_killed_mid_conversation_loses_nothing_and_the_caller_reaches_a_person(cluster):
    call = Conversation(cluster)
    assert "您要哪个" in call.say("我想给我妈预约一个高龄津贴的代办"), call
    assert "名字" in call.say("第一个"), call
    cluster.kill("rasa:rasa1")
    assert "尾号五六七八" in call.say("王秀英"), call          # the form goes on where it was
    assert "同意" in call.say("好的"), call
    assert "王秀英" in call.say("同意"), call
    done = call.say("对的")
    assert done.startswith("预约好了"), call
    assert _booking_of(cluster, _reference(done)) == [("confirmed", "proxy")], call
    call.say("转人工")
    tickets = cluster.rows("SELECT reason, status FROM handoff_tickets WHERE conversation_id = :c", c=call.sender)
    assert tickets == [("request_human", "open")], call


def test_a_calls_webhook_and_stream_may_reach_different_gateways(cluster):
    """Twilio's voice webhook answered by one gateway, its stream taken by the other: the
    ticket is good there, once (a replay to the first gateway is refused)."""
    from voice.call_simulator import Simulator, stream_parameters

    secrets.load()
    token = os.environ[secrets.TWILIO_AUTH_TOKEN]
    public = f"ws://localhost:{cluster.port('VOICE_PUBLIC_PORT')}/twilio/stream"
    first, second = (f"ws://127.0.0.1:{cluster.port(f'VOICE{n}_PORT')}/twilio/stream" for n in (1, 2))
    call_sid = f"CA{uuid.uuid4().hex}"
    parameters = asyncio.run(stream_parameters(first, public, token, "+8613912341111", call_sid))

    def stream_to(url: str) -> Simulator:
        simulator = Simulator(url, auth_token=token, sign_url=public, call_sid=call_sid, max_seconds=30)

        async def answer():          # the webhook was already answered, by the first gateway
            return parameters

        simulator.answer = answer
        asyncio.run(simulator.run([]))
        return simulator

    assert stream_to(second).line.reply_started is not None, "the second gateway refused the first one's ticket"
    replay = stream_to(first)
    assert replay.line.closed and replay.line.reply_started is None, "a used ticket opened a second stream"


def test_a_gateway_killed_mid_call_leaves_a_callback_ticket(cluster):
    from voice.call_simulator import CallerTurn, Simulator

    secrets.load()
    stream = f"ws://localhost:{cluster.port('VOICE_PUBLIC_PORT')}/twilio/stream"
    simulator = Simulator(stream, auth_token=os.environ[secrets.TWILIO_AUTH_TOKEN], caller="+8613912340000",
                          max_seconds=60)
    gateways = {f"voice:voice{n}": cluster.port(f"VOICE{n}_PORT") for n in range(1, INSTANCES + 1)}

    def holding() -> list[str]:
        return [name for name, port in gateways.items()
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json().get("calls")]

    async def scenario() -> str:
        call = asyncio.create_task(simulator.run([CallerTurn("silence", "30")]))
        deadline = time.monotonic() + 60
        while simulator.line.reply_started is None and time.monotonic() < deadline and not call.done():
            await asyncio.sleep(0.05)
        assert simulator.line.reply_started is not None, "the greeting never came"
        [holder] = await asyncio.to_thread(holding)
        cluster.kill(holder)
        await asyncio.wait_for(call, 30)          # the caller's line goes dead
        return holder

    holder = asyncio.run(scenario())
    assert simulator.line.closed
    deadline = time.monotonic() + 30
    tickets = []
    while not tickets and time.monotonic() < deadline:
        tickets = cluster.rows("SELECT t.reason, t.channel, t.caller_last4 FROM handoff_tickets t "
                               "WHERE t.conversation_id = :c", c=simulator.call_sid)
        time.sleep(0.5)
    assert tickets == [("dropped", "phone", "0000")], f"{holder} killed; worker log:\n{cluster.log('worker')}"
    [(status,)] = cluster.rows("SELECT status FROM calls WHERE call_sid = :c", c=simulator.call_sid)
    assert status == "failed"
