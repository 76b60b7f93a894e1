"""The cluster (`make run-cluster`, tools/cluster.py) started for real, beside anything else
on this machine (its ports shifted by CLUSTER_PORT_OFFSET, its own databases and Redis
database): HAProxy, supervisord, 2× Rasa with the tracker in PostgreSQL and locks in Redis,
2× actions, 2× API, 2× voice gateways, one worker.

- a booking form half filled on one Rasa instance is finished on the other;
- a Rasa instance killed mid-conversation loses nothing: the conversation goes on through
  the balancer, the booking lands, and the caller still reaches a person;
- a Twilio call's webhook and stream may reach different gateways;
- a gateway killed mid-call leaves a callback ticket for that caller.
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from contract import secrets
from tools.cluster import INSTANCES, PUBLIC, ROOT, cluster_environment

OFFSET = int(os.environ.get("TEST_CLUSTER_PORT_OFFSET", "20000"))
START_TIMEOUT_S = 300
CALLER = "+8613812345678"
pytestmark = pytest.mark.timeout(900)


class Cluster:
    def __init__(self, env: dict[str, str], process: subprocess.Popen):
        self.env, self.process = env, process

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


def _free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def _instance_health_urls(env: dict[str, str]) -> list[str]:
    urls = [f"http://127.0.0.1:{env[f'RASA{n}_PORT']}/" for n in range(1, INSTANCES + 1)]
    for kind in ("ACTIONS", "API", "VOICE"):
        urls += [f"http://127.0.0.1:{env[f'{kind}{n}_PORT']}/health" for n in range(1, INSTANCES + 1)]
    return urls + [f"http://127.0.0.1:{env['API_PUBLIC_PORT']}/health",
                   f"http://127.0.0.1:{env['RASA_PUBLIC_PORT']}/"]


def _drop_databases(env: dict[str, str]) -> None:
    admin = create_engine(env["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT",
                          future=True)
    with admin.connect() as connection:
        for name in (env["DATABASE_URL"].rsplit("/", 1)[1], env["TRACKER_DB_NAME"]):
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    suffix = uuid.uuid4().hex[:8]
    given = {**os.environ, "CLUSTER_PORT_OFFSET": str(OFFSET), "CLUSTER_DIR": str(tmp_path_factory.mktemp("cluster")),
             "CLUSTER_DATABASE": f"helpline_cluster_{suffix}", "CLUSTER_TRACKER_DATABASE": f"helpline_rasa_{suffix}",
             "CLUSTER_REDIS_URL": "redis://127.0.0.1:6379/13",
             # a lost call is noticed within seconds, not a minute
             "VOICE_CALL_LEASE_SECONDS": "4", "VOICE_LEASE_INTERVAL_SECONDS": "1", "OUTBOX_INTERVAL_SECONDS": "1"}
    for name in ("DATABASE_URL", "PROXY_SERVICE_URL", "RASA_URL", "VOICE_PUBLIC_URL", "VOICE_REDIS_URL",
                 "ACTION_SERVER_URL"):
        given.pop(name, None)     # the cluster's own, never the test session's
    env = cluster_environment(given)
    busy = [env[name] for name in PUBLIC if not _free(int(env[name]))]
    if busy:
        pytest.fail(f"ports {', '.join(busy)} are taken: another test cluster still running? "
                    "(set TEST_CLUSTER_PORT_OFFSET to move this one)", pytrace=False)
    process = subprocess.Popen([sys.executable, "-m", "tools.cluster"], cwd=ROOT, env=given,
                               stdout=open(Path(env["CLUSTER_DIR"]) / "launcher.log", "w"), stderr=subprocess.STDOUT)
    running = Cluster(env, process)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        waiting = _instance_health_urls(env)
        while waiting and time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail("the cluster stopped while starting:\n"
                            + (Path(env["CLUSTER_DIR"]) / "launcher.log").read_text()[-3000:], pytrace=False)
            still = []
            for url in waiting:
                try:
                    if httpx.get(url, timeout=2).status_code != 200:
                        still.append(url)
                except httpx.HTTPError:
                    still.append(url)
            waiting = still
            if waiting:
                time.sleep(1)
        if waiting:
            pytest.fail(f"not up after {START_TIMEOUT_S} s: {waiting}\n{running.log('rasa1')}", pytrace=False)
        time.sleep(3)          # the balancer's own checks (rise 2 at 1 s) see every instance up
        yield running
    finally:
        process.send_signal(signal.SIGTERM)       # supervisord stops every program, then itself
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
        _drop_databases(env)


class Conversation:
    def __init__(self, cluster: Cluster):
        self.cluster, self.sender, self.heard = cluster, f"CA{uuid.uuid4().hex}", []

    def say(self, words: str, port: int | None = None) -> str:
        port = port or self.cluster.port("RASA_PUBLIC_PORT")
        response = httpx.post(f"http://127.0.0.1:{port}/webhooks/rest/webhook", timeout=30,
                              json={"sender": self.sender, "message": words,
                                    "metadata": {"caller": CALLER, "channel": "phone"}})
        assert response.status_code == 200, f"{port}: HTTP {response.status_code} {response.text[:200]}"
        reply = " ".join(message.get("text", "") for message in response.json())
        self.heard.append((port, words, reply))
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
