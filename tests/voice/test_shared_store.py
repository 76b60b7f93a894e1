"""The gateways' shared store (voice/shared.py): one contract in a process and in Redis, and
what two gateways of a cluster see through it (a stream ticket good once on either, a
dialplan announcement made to one read by the other)."""
from __future__ import annotations

import asyncio
import os
import uuid

import pytest

from voice.shared import MemoryStore, RedisStore
from voice.telephony.audiosocket import PbxCalls
from voice.telephony.twilio import StreamTickets

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def run(coroutine):
    return asyncio.run(coroutine)


def redis_store() -> RedisStore:
    store = RedisStore(REDIS_URL, prefix=f"test:{uuid.uuid4().hex[:8]}:")
    if not run(store.ping()):
        pytest.fail(f"Redis is needed for this test and is not reachable at {REDIS_URL}. "
                    "Start it (tools/ensure-redis.sh) or set TEST_REDIS_URL.", pytrace=False)
    return store


@pytest.fixture(params=["memory", "redis"])
def new_store(request):
    """A factory of stores that share one backing state (two gateways of one cluster)."""
    if request.param == "memory":
        store = MemoryStore()
        return lambda: store
    first = redis_store()
    return lambda: RedisStore(REDIS_URL, prefix=first._prefix)


def test_put_take_and_claim(new_store):
    store = new_store()

    async def scenario():
        await store.put("a", "value", 30)
        assert await store.take("a") == "value"
        assert await store.take("a") is None                 # taken once
        assert await store.take("never put") is None
        assert await store.claim("mark", 30) is True
        assert await store.claim("mark", 30) is False
        await store.put("short", "gone soon", 0.05)
        assert await store.claim("short-mark", 0.05) is True
        await asyncio.sleep(0.2)
        assert await store.take("short") is None             # expired
        assert await store.claim("short-mark", 30) is True   # the mark expired too

    run(scenario())


def test_only_one_of_many_concurrent_claims_wins(new_store):
    stores = [new_store() for _ in range(10)]

    async def scenario():
        return await asyncio.gather(*(store.claim("ticket", 30) for store in stores))

    assert sorted(run(scenario())) == [False] * 9 + [True]


def test_a_stream_ticket_from_one_gateway_is_good_once_on_another(new_store):
    issuing, answering, replayed = (StreamTickets("auth-token", 60, new_store()) for _ in range(3))
    call_sid = "CA" + uuid.uuid4().hex
    ticket = issuing.issue(call_sid, "+8613800138000")

    async def scenario():
        return await answering.redeem(call_sid, ticket), await replayed.redeem(call_sid, ticket)

    assert run(scenario()) == (None, "stream ticket already used")


def test_the_dialplan_may_reach_a_different_gateway_each_time(new_store):
    announced_to, connected_to, asked = (PbxCalls(new_store(), lifetime=30) for _ in range(3))
    call_uuid = str(uuid.uuid4())

    async def scenario():
        await announced_to.announce(call_uuid, "13800138000")
        caller = await connected_to.caller_of(call_uuid.upper())
        await connected_to.transfer(call_uuid, {"ticket": "12345678", "queue": "social_security"})
        return caller, await asked.next_step(call_uuid), await asked.next_step(call_uuid)

    assert run(scenario()) == ("13800138000", {"action": "transfer", "ticket": "12345678", "queue": "social_security"},
                               {"action": "hangup"})


def test_a_stream_ticket_is_let_through_when_redis_is_down(caplog):
    tickets = StreamTickets("auth-token", 60, RedisStore("redis://127.0.0.1:1/0", timeout=0.2))
    call_sid = "CA" + uuid.uuid4().hex
    good = tickets.issue(call_sid, None)
    forged = {**good, "ticket": "0" * 64}
    assert run(tickets.redeem(call_sid, good)) is None
    assert "not checked for reuse" in caplog.text
    assert run(tickets.redeem(call_sid, forged)) == "stream ticket does not match its parameters"
