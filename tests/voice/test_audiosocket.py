"""The Asterisk AudioSocket adapter over real TCP sockets, with a fake call and a fake PBX.

No Rasa, no recognizer: the fake session records what the line tells it and greets with one
second of tone and a mark. The line is paced at 2 ms a frame so the file runs in seconds.
"""
from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import time
import uuid
from types import SimpleNamespace

import numpy as np
import pytest

from voice.telephony import AUDIO, KEY, MAX_MALFORMED, PLAYED, START, STOP, CallEvent, MalformedMessage
from voice.audio import PhoneUpsampler
from voice.telephony.audiosocket import (DTMF, ERROR, FRAME_BYTES, HANGUP, SLIN, UUID, PbxCalls,
                                         PbxGone, encode, read_frame, start_server)

FRAME_S = 0.002
CALLER = "+8613800138000"


def tone(seconds: float, rate: int = 8000, hz: float = 440) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * hz * t) * 8000).astype(np.int16).tobytes()


TONE = tone(1.0)     # 16000 bytes: 50 frames of 320


def run(coroutine, timeout: float = 10):
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


async def until(condition, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.001)


class FakeSession:
    """A call that records its events; on START it plays `greeting` and marks it."""

    def __init__(self, line, *, greeting: bytes | None = TONE, rate: int = 8000, hang_up_on: str | None = None,
                 on_key=None):
        self.line, self.greeting, self.rate = line, greeting, rate
        self.hang_up_on, self.on_key = hang_up_on, on_key
        self.events: list[CallEvent] = []
        self.reasons: list[str] = []
        self.ended = False
        self.started_at: float | None = None
        self.played_at: dict[str, float] = {}

    def kinds(self) -> list[str]:
        return [event.kind for event in self.events]

    def audio(self) -> list[bytes]:
        return [event.pcm for event in self.events if event.kind == AUDIO]

    async def handle(self, event: CallEvent) -> None:
        self.events.append(event)
        if event.kind == START:
            self.started_at = time.monotonic()
            if self.greeting:
                await self.line.play(self.greeting, self.rate)
                await self.line.mark("greeting")
        elif event.kind == PLAYED:
            self.played_at[event.mark] = time.monotonic()
            if event.mark == self.hang_up_on:
                await self.end("bot said goodbye")
        elif event.kind == KEY and self.on_key is not None:
            await self.on_key(self, event.digit)
        elif event.kind == STOP:
            await self.end("caller hung up")

    async def end(self, reason: str) -> None:
        self.reasons.append(reason)
        if not self.ended:
            self.ended = True
            await self.line.hang_up()


@contextlib.asynccontextmanager
async def gateway(*, start_timeout: float = 0.5, idle_seconds: float = 2.0, frame_seconds: float = FRAME_S,
                  calls: PbxCalls | None = None, **session_options):
    sessions: list[FakeSession] = []
    calls = calls or PbxCalls()

    def new_session(line):
        sessions.append(FakeSession(line, **session_options))
        return sessions[-1]

    server = await start_server("127.0.0.1", 0, new_session=new_session, calls=calls, start_timeout=start_timeout,
                                idle_seconds=idle_seconds, frame_seconds=frame_seconds)
    try:
        yield SimpleNamespace(port=server.sockets[0].getsockname()[1], sessions=sessions, calls=calls)
    finally:
        server.close()
        await server.wait_closed()


class FakePbx:
    """Asterisk's side of one AudioSocket connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, call_uuid: uuid.UUID):
        self.reader, self.writer, self.uuid = reader, writer, call_uuid

    @classmethod
    async def connect(cls, port: int, call_uuid: uuid.UUID | None = None, *, send_uuid: bool = True) -> FakePbx:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        pbx = cls(reader, writer, call_uuid or uuid.uuid4())
        if send_uuid:
            await pbx.send(UUID, pbx.uuid.bytes)
        return pbx

    async def send(self, kind: int, payload: bytes = b"") -> None:
        await self.raw(encode(kind, payload))

    async def raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def speak(self, pcm: bytes) -> None:
        for start in range(0, len(pcm), FRAME_BYTES):
            await self.send(SLIN, pcm[start:start + FRAME_BYTES])

    async def frame(self) -> tuple[int, bytes]:
        return await asyncio.wait_for(read_frame(self.reader, max_payload=2 ** 16), 2)

    async def until_closed(self, timeout: float = 2.0) -> bytes:
        """Everything the gateway sends until it closes the connection."""
        received = bytearray()
        with contextlib.suppress(ConnectionResetError):
            while chunk := await asyncio.wait_for(self.reader.read(65536), timeout):
                received += chunk
        return bytes(received)

    def close(self) -> None:
        self.writer.close()

    def reset(self) -> None:
        """Vanish with a TCP reset, as a crashed PBX or a dropped network does."""
        self.writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.close()


def frames_of(pcm: bytes) -> list[bytes]:
    return [pcm[i:i + FRAME_BYTES].ljust(FRAME_BYTES, b"\0") for i in range(0, len(pcm), FRAME_BYTES)]


# -- framing ---------------------------------------------------------------------------

def test_frames_are_encoded_as_the_protocol_says():
    assert encode(HANGUP) == b"\x00\x00\x00"
    assert encode(DTMF, b"5") == b"\x03\x00\x015"
    assert encode(ERROR, b"\x01") == b"\xff\x00\x01\x01"
    assert encode(SLIN, b"\x00" * 320)[:3] == b"\x10\x01\x40"
    call_uuid = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert encode(UUID, call_uuid.bytes) == b"\x01\x00\x10" + bytes.fromhex("12345678123456781234567812345678")


def test_a_frame_fed_one_byte_at_a_time_is_read_whole():
    call_uuid = uuid.uuid4()
    audio = bytes(range(256)) + bytes(64)
    data = encode(UUID, call_uuid.bytes) + encode(SLIN, audio) + encode(DTMF, b"#") + encode(HANGUP)

    async def scenario():
        reader = asyncio.StreamReader()

        async def trickle():
            for byte in data:
                reader.feed_data(bytes([byte]))
                await asyncio.sleep(0)
            reader.feed_eof()

        feeder = asyncio.create_task(trickle())
        frames = [await read_frame(reader, max_payload=4096) for _ in range(4)]
        with pytest.raises(PbxGone):
            await read_frame(reader, max_payload=4096)
        await feeder
        return frames

    assert run(scenario()) == [(UUID, call_uuid.bytes), (SLIN, audio), (DTMF, b"#"), (HANGUP, b"")]


def test_an_oversized_frame_is_dropped_and_the_stream_stays_in_step():
    async def scenario():
        reader = asyncio.StreamReader()
        reader.feed_data(encode(SLIN, b"\x01" * 5000) + encode(DTMF, b"1") + encode(SLIN, b"\x02" * 100)[:50])
        reader.feed_eof()
        with pytest.raises(MalformedMessage):
            await read_frame(reader, max_payload=4096)
        following = await read_frame(reader, max_payload=4096)
        with pytest.raises(PbxGone):       # cut off in its payload
            await read_frame(reader, max_payload=4096)
        return following

    assert run(scenario()) == (DTMF, b"1")


# -- what we send ----------------------------------------------------------------------

def test_what_the_pbx_receives_is_byte_exact_paced_frames_then_hang_up():
    greeting = TONE + TONE[:100]          # 50 whole frames and a short one, padded with silence

    async def scenario():
        async with gateway(greeting=greeting, hang_up_on="greeting") as gw:
            pbx = await FakePbx.connect(gw.port)
            received = await pbx.until_closed()
            return received, gw.sessions

    received, sessions = run(scenario())
    expected = b"".join(encode(SLIN, frame) for frame in frames_of(greeting)) + b"\x00\x00\x00"
    assert len(frames_of(greeting)) == 51 and frames_of(greeting)[-1].endswith(b"\0" * 220)
    assert received == expected
    assert sessions[0].ended and sessions[0].reasons[0] == "bot said goodbye"


def test_speech_at_16khz_is_sent_at_8khz():
    async def scenario():
        async with gateway(greeting=tone(1.0, rate=16000), rate=16000, hang_up_on="greeting") as gw:
            pbx = await FakePbx.connect(gw.port)
            frames = []
            while (frame := await pbx.frame())[0] == SLIN:
                frames.append(frame[1])
            return frames, frame

    frames, last = run(scenario())
    assert last == (HANGUP, b"")
    assert len(frames) == 50 and all(len(frame) == FRAME_BYTES for frame in frames)
    spectrum = np.abs(np.fft.rfft(np.frombuffer(b"".join(frames), dtype=np.int16)))
    assert abs(np.argmax(spectrum) * 8000 / (len(frames) * 160) - 440) < 5


def test_played_comes_back_only_once_the_audio_before_it_has_been_paced_out():
    frame_seconds = 0.004

    async def scenario():
        async with gateway(frame_seconds=frame_seconds) as gw:
            pbx = await FakePbx.connect(gw.port)
            arrivals = []
            for _ in range(50):
                kind, _payload = await pbx.frame()
                assert kind == SLIN
                arrivals.append(time.monotonic())
            session = gw.sessions[0]
            await until(lambda: "greeting" in session.played_at)
            await pbx.send(HANGUP)
            await until(lambda: session.ended)
            return session, arrivals

    session, arrivals = run(scenario())
    assert session.played_at["greeting"] - session.started_at >= 50 * frame_seconds * 0.95
    assert session.played_at["greeting"] >= arrivals[-1] - frame_seconds   # not before the last frame
    assert arrivals[-1] - arrivals[0] >= 49 * frame_seconds * 0.9           # paced, not a burst
    assert [event.mark for event in session.events if event.kind == PLAYED] == ["greeting"]


def test_clear_drops_queued_audio_and_its_mark():
    async def barge_in(session, digit):
        await session.line.clear()
        await session.line.play(tone(0.1), 8000)
        await session.line.mark("after")

    async def scenario():
        async with gateway(frame_seconds=0.005, on_key=barge_in) as gw:
            pbx = await FakePbx.connect(gw.port)
            for _ in range(5):
                assert (await pbx.frame())[0] == SLIN
            await pbx.send(DTMF, b"5")
            session = gw.sessions[0]
            await until(lambda: "after" in session.played_at)
            await asyncio.sleep(50 * 0.005)        # as long as the whole greeting would have lasted
            await pbx.send(HANGUP)
            received = await pbx.until_closed()
            return session, received

    session, received = run(scenario())
    assert "greeting" not in session.played_at
    audio_frames = received.count(b"\x10\x01\x40")    # at most, ignoring any inside payloads
    assert audio_frames < 45                           # 5 heard + up to a few in flight + 5 after
    assert received.endswith(b"\x00\x00\x00")


# -- what the call receives --------------------------------------------------------------

def test_start_carries_the_uuid_and_the_announced_caller_only_once():
    call_uuid = uuid.uuid4()

    async def scenario():
        calls = PbxCalls()
        await calls.announce(str(call_uuid).upper(), CALLER)     # the dialplan may spell it in capitals
        async with gateway(calls=calls, greeting=None) as gw:
            for _ in range(2):
                pbx = await FakePbx.connect(gw.port, call_uuid)
                await until(lambda: len(gw.sessions) and START in gw.sessions[-1].kinds())
                await pbx.send(HANGUP)
                await pbx.until_closed()
            return gw.sessions

    first, second = run(scenario())
    assert first.events[0] == CallEvent(START, call_id=str(call_uuid), caller=CALLER)
    assert second.events[0] == CallEvent(START, call_id=str(call_uuid), caller=None)
    assert first.kinds() == [START, STOP] and first.ended


def test_caller_audio_reaches_the_call_as_16khz_pcm():
    async def scenario():
        async with gateway(greeting=None) as gw:
            pbx = await FakePbx.connect(gw.port)
            await pbx.speak(TONE)                  # 1 s at 8 kHz
            await pbx.send(HANGUP)
            await pbx.until_closed()
            return gw.sessions[0]

    session = run(scenario())
    pcm = b"".join(session.audio())
    assert all(chunk and len(chunk) % 2 == 0 for chunk in session.audio())
    assert 29000 <= len(pcm) <= 32000              # 1 s at 16 kHz, less what the resampler still holds
    spectrum = np.abs(np.fft.rfft(np.frombuffer(pcm, dtype=np.int16)))
    assert abs(np.argmax(spectrum) * 16000 / (len(pcm) // 2) - 440) < 5
    assert session.kinds()[-1] == STOP and session.ended


def test_frames_split_across_many_tcp_writes_arrive_whole():
    call_uuid = uuid.uuid4()
    data = encode(UUID, call_uuid.bytes) + b"".join(encode(SLIN, f) for f in frames_of(TONE[:4000]))
    data += encode(DTMF, b"3") + encode(HANGUP)

    async def scenario():
        async with gateway(greeting=None) as gw:
            pbx = await FakePbx.connect(gw.port, send_uuid=False)
            pbx.writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for index in range(len(data)):
                await pbx.raw(data[index:index + 1])
                if index % 7 == 0:
                    await asyncio.sleep(0.0002)    # let the gateway read what has arrived
            await pbx.until_closed()
            return gw.sessions[0]

    session = run(scenario())
    assert session.events[0].call_id == str(call_uuid)
    assert session.kinds()[0] == START and session.kinds()[-2:] == [KEY, STOP]
    assert set(session.kinds()[1:-2]) == {AUDIO} and session.events[-2].digit == "3"
    # every sample in its place: what the same frames give when they arrive whole
    whole = PhoneUpsampler()
    expected = b"".join(whole(frame) for frame in frames_of(TONE[:4000]))
    assert len(expected) > 3000 and b"".join(session.audio()) == expected


def test_dtmf_digits_reach_the_call_and_others_are_ignored():
    async def scenario():
        async with gateway(greeting=None) as gw:
            pbx = await FakePbx.connect(gw.port)
            for payload in (b"0", b"A", b"#", b"x", b"12", b"*", b"9"):
                await pbx.send(DTMF, payload)
            session = await _first_session(gw)
            await until(lambda: [e.digit for e in session.events if e.kind == KEY][-1:] == ["9"])
            ended_early = session.ended
            await pbx.send(HANGUP)
            await pbx.until_closed()
            return session, ended_early

    session, ended_early = run(scenario())
    assert [event.digit for event in session.events if event.kind == KEY] == ["0", "#", "*", "9"]
    assert not ended_early


async def _first_session(gw) -> FakeSession:
    await until(lambda: gw.sessions)
    return gw.sessions[0]


def test_unknown_frame_kinds_are_skipped_and_the_call_goes_on():
    async def scenario():
        async with gateway(greeting=None) as gw:
            pbx = await FakePbx.connect(gw.port)
            await pbx.send(0x42, b"what is this")
            await pbx.send(0x02)
            await pbx.send(UUID, uuid.uuid4().bytes)       # a second UUID in mid-call
            await pbx.send(DTMF, b"1")
            session = await _first_session(gw)
            await until(lambda: KEY in session.kinds())
            alive = not session.ended
            await pbx.send(HANGUP)
            await pbx.until_closed()
            return session, alive

    session, alive = run(scenario())
    assert alive and session.kinds() == [START, KEY, STOP]


def test_an_oversized_frame_is_skipped_and_the_call_goes_on():
    async def scenario():
        async with gateway(greeting=None) as gw:
            pbx = await FakePbx.connect(gw.port)
            await pbx.send(SLIN, b"\x10" * 20000)
            await pbx.send(DTMF, b"2")
            await pbx.speak(TONE[:3200])
            await pbx.send(HANGUP)
            await pbx.until_closed()
            return gw.sessions[0]

    session = run(scenario())
    assert session.kinds()[:2] == [START, KEY] and session.kinds()[-1] == STOP
    assert 0 < len(b"".join(session.audio())) <= 6400       # only the ten good frames' worth


def test_odd_length_audio_is_skipped():
    async def scenario():
        async with gateway(greeting=None) as gw:
            pbx = await FakePbx.connect(gw.port)
            await pbx.send(SLIN, b"\x01" * 321)
            await pbx.send(DTMF, b"4")
            await pbx.speak(TONE[:3200])
            session = await _first_session(gw)
            await until(lambda: AUDIO in session.kinds())
            await pbx.send(HANGUP)
            await pbx.until_closed()
            return session

    session = run(scenario())
    assert session.kinds()[:3] == [START, KEY, AUDIO]


def test_audio_before_the_uuid_closes_the_connection():
    async def scenario():
        async with gateway() as gw:
            outcomes = []
            for first in (encode(SLIN, TONE[:320]), encode(UUID, b"\x01" * 15), encode(HANGUP)):
                pbx = await FakePbx.connect(gw.port, send_uuid=False)
                await pbx.raw(first)
                outcomes.append(await pbx.until_closed())
            return outcomes, gw.sessions

    outcomes, sessions = run(scenario())
    assert outcomes == [b"", b"", b""] and sessions == []


def test_no_uuid_within_the_start_timeout_closes_the_connection():
    async def scenario():
        async with gateway(start_timeout=0.1) as gw:
            pbx = await FakePbx.connect(gw.port, send_uuid=False)
            began = time.monotonic()
            received = await pbx.until_closed()
            return received, time.monotonic() - began, gw.sessions

    received, waited, sessions = run(scenario())
    assert received == b"" and sessions == []
    assert 0.05 <= waited < 1.0


@pytest.mark.parametrize("seed", range(4))
def test_garbage_does_not_harm_the_server_and_the_next_call_works(seed):
    garbage = random.Random(seed).randbytes(4000)

    async def scenario():
        async with gateway(start_timeout=0.1, idle_seconds=0.3, greeting=None) as gw:
            for data in (garbage, encode(UUID, uuid.uuid4().bytes) + garbage):
                pbx = await FakePbx.connect(gw.port, send_uuid=False)
                with contextlib.suppress(ConnectionError):
                    await pbx.raw(data)
                    pbx.writer.write_eof()
                await pbx.until_closed()
            await until(lambda: all(session.ended for session in gw.sessions))
            before = len(gw.sessions)
            pbx = await FakePbx.connect(gw.port)
            await pbx.speak(TONE[:3200])
            await pbx.send(DTMF, b"8")
            await pbx.send(HANGUP)
            await pbx.until_closed()
            return gw.sessions[before:], before

    (good,), before = run(scenario())
    assert before >= 1                           # the UUID-then-garbage connection became a call
    assert good.kinds()[0] == START and good.kinds()[-2:] == [KEY, STOP]
    assert len(b"".join(good.audio())) > 3000     # of 6400 (the resampler holds some back)


@pytest.mark.parametrize("vanish", ["close", "reset"])
def test_a_pbx_that_vanishes_mid_call_ends_the_call(vanish):
    async def scenario():
        async with gateway() as gw:                 # the greeting is being paced out meanwhile
            pbx = await FakePbx.connect(gw.port)
            await pbx.speak(TONE[:640])
            assert (await pbx.frame())[0] == SLIN
            getattr(pbx, vanish)()
            session = await _first_session(gw)
            await until(lambda: session.ended and len(session.reasons) >= 2)
            await session.line.play(TONE, 8000)     # a dead socket never raises into the call
            await session.line.mark("late")
            await session.line.hang_up()
            return session

    session = run(scenario())
    assert session.kinds()[-1] == STOP
    assert session.reasons[-1] == "the PBX closed the connection"
    assert "late" not in session.played_at


def test_a_silent_pbx_is_gone_after_the_idle_timeout():
    async def scenario():
        async with gateway(idle_seconds=0.15, greeting=None) as gw:
            pbx = await FakePbx.connect(gw.port)
            began = time.monotonic()
            received = await pbx.until_closed()
            return received, time.monotonic() - began, gw.sessions[0]

    received, waited, session = run(scenario())
    assert received == b"\x00\x00\x00"
    assert 0.1 <= waited < 1.5
    assert session.ended and session.reasons == ["nothing from the PBX for 0.15 s"]
    assert STOP not in session.kinds()


def test_an_error_frame_ends_the_call():
    async def scenario():
        async with gateway(greeting=None) as gw:
            pbx = await FakePbx.connect(gw.port)
            await pbx.send(ERROR, b"\x01")
            received = await pbx.until_closed()
            return received, gw.sessions[0]

    received, session = run(scenario())
    assert received == b"\x00\x00\x00"
    assert session.kinds() == [START, STOP]
    assert session.reasons[-1] == "the PBX reported an error"


def test_too_many_malformed_frames_end_the_call():
    async def scenario():
        async with gateway(greeting=None) as gw:
            pbx = await FakePbx.connect(gw.port)
            await pbx.raw(encode(0x42) * (MAX_MALFORMED + 1))
            await pbx.until_closed()
            return gw.sessions[0]

    session = run(scenario())
    assert session.reasons == [f"more than {MAX_MALFORMED} malformed frames"]


def test_an_event_the_call_fails_on_is_not_the_end_of_it():
    async def keys(session, digit):
        if digit == "9":
            raise RuntimeError("a bug in the call")

    async def scenario():
        async with gateway(greeting=None, on_key=keys) as gw:
            pbx = await FakePbx.connect(gw.port)
            await pbx.send(DTMF, b"9")
            await pbx.send(DTMF, b"1")
            session = await _first_session(gw)
            await until(lambda: [e.digit for e in session.events if e.kind == KEY] == ["9", "1"])
            alive = not session.ended
            await pbx.send(HANGUP)
            await pbx.until_closed()
            return alive

    assert run(scenario())


# -- transfers and what the dialplan is told -----------------------------------------------

def test_a_transfer_ends_the_call_and_the_dialplan_is_told_once():
    handoff = {"ticket": "HL-2025-0001", "queue": "社保", "transfer": True}
    outcomes = []

    async def to_staff(session, digit):
        outcomes.append(await session.line.transfer(session.events[0].call_id, handoff))
        await session.end("transferred to staff")

    async def scenario():
        async with gateway(greeting=None, on_key=to_staff) as gw:
            pbx = await FakePbx.connect(gw.port)
            assert await gw.calls.next_step(str(pbx.uuid)) == {"action": "hangup"}
            await pbx.send(DTMF, b"0")
            received = await pbx.until_closed()
            return received, gw.calls, str(pbx.uuid)

    received, calls, call_uuid = run(scenario())
    assert outcomes == [{"outcome": "transferred", "via": "pbx", "ticket": "HL-2025-0001"}]
    assert received == b"\x00\x00\x00"
    assert run(calls.next_step(call_uuid)) == {"action": "transfer", "ticket": "HL-2025-0001", "queue": "社保"}
    assert run(calls.next_step(call_uuid)) == {"action": "hangup"}


def test_announcements_and_transfers_expire_and_are_bounded():
    now = [1000.0]
    calls = PbxCalls(lifetime=60, max_entries=3, clock=lambda: now[0])
    first, second = str(uuid.uuid4()), str(uuid.uuid4())

    async def scenario():
        await calls.announce(first, CALLER)
        await calls.transfer(second, {"ticket": "T-1", "queue": "q"})
        now[0] += 61
        assert await calls.caller_of(first) is None
        assert await calls.next_step(second) == {"action": "hangup"}

        await calls.announce(first, CALLER)
        now[0] += 59
        assert await calls.caller_of(first) == CALLER
        assert await calls.caller_of(first) is None                    # used once

        many = [str(uuid.uuid4()) for _ in range(8)]
        for call_uuid in many:
            await calls.announce(call_uuid, CALLER)
        assert [await calls.caller_of(call_uuid) for call_uuid in many] == [None] * 2 + [CALLER] * 6

        assert await calls.next_step("not a uuid") == {"action": "hangup"}
        with pytest.raises(ValueError):
            await calls.announce("not a uuid", CALLER)

    run(scenario())


class DeadStore:
    """A shared store whose Redis is gone."""

    async def put(self, key, value, ttl):
        raise ConnectionError("redis down")

    take = claim = put


def test_a_dead_shared_store_costs_the_caller_number_and_the_transfer_not_the_call():
    calls = PbxCalls(DeadStore())
    call_uuid = str(uuid.uuid4())

    async def scenario():
        await calls.announce(call_uuid, CALLER)
        assert await calls.caller_of(call_uuid) is None
        await calls.transfer(call_uuid, {"ticket": "12345678", "queue": "q"})
        assert await calls.next_step(call_uuid) == {"action": "hangup"}

    run(scenario())


# -- the dialplan's HTTP calls around AudioSocket() ----------------------------------------

def test_the_dialplan_announces_the_caller_and_learns_the_next_step(monkeypatch):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from voice import settings
    from voice.telephony.audiosocket_routes import pbx_router

    monkeypatch.setattr(settings, "PBX_TOKEN", "a-pbx-token-for-this-test")
    calls = PbxCalls()
    app = FastAPI()
    app.include_router(pbx_router(calls))
    client = TestClient(app)
    good = {"Authorization": "Bearer a-pbx-token-for-this-test"}
    call = "0F8FAD5B-D9CB-469F-A165-70867728950E"          # Asterisk may give capitals
    # CURL() with a header set sends no Content-Type: the form is read from the body anyway
    announced = client.post("/asterisk/calls", content=f"uuid={call}&caller=%2B86%20138-0013-8000", headers=good)
    assert announced.status_code == 200 and announced.text == "ok"
    assert run(calls.caller_of(call.lower())) == "8613800138000"
    assert client.post("/asterisk/calls", data={"uuid": call}, headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert client.post("/asterisk/calls", data={"uuid": "12345"}, headers=good).status_code == 400
    assert client.get(f"/asterisk/calls/{call}/next", headers=good).text == "hangup"
    run(calls.transfer(call.lower(), {"ticket": "57670814", "queue": "social_security"}))
    assert client.get(f"/asterisk/calls/{call}/next").status_code == 403
    assert client.get(f"/asterisk/calls/{call}/next", headers=good).text == "transfer,57670814,social_security"
    assert client.get(f"/asterisk/calls/{call}/next", headers=good).text == "hangup"     # once
