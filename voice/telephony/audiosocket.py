"""Asterisk AudioSocket: the mainland PBX path.

The dialplan hands a call to us with `AudioSocket(<uuid>,<host>:<port>)`: Asterisk opens a
TCP connection to this server and speaks a tiny framed protocol. Every frame is one kind
byte, a 2-byte big-endian payload length, then the payload:

    0x00  hang up (no payload)             0x10  audio: slin16 LE, 8 kHz mono (20 ms = 320 bytes)
    0x01  the call's UUID (16 bytes)       0xff  error (optional code byte: 0x01 caller hung
    0x03  one DTMF digit (1 ASCII byte)          up, 0x02 frame forwarding, 0x04 memory)

Asterisk sends the UUID first, then audio all the time (silence too) and digits. What we
send back is written straight to the channel, so our audio is paced in real time here.

What AudioSocket does not carry — the caller's number, and where a call we hand to staff
goes next — the dialplan exchanges with the gateway around AudioSocket() (`PbxCalls`):
it announces the caller before connecting and asks for the next step after it returns.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid as uuids
from collections import deque
from typing import Awaitable, Callable, Protocol

from voice import settings
from voice.audio import PHONE_RATE, PhoneUpsampler, resample
from voice.shared import MemoryStore, SharedStore
from voice.telephony import AUDIO, KEY, PLAYED, START, STOP, CallEvent, Intake, MalformedMessage

log = logging.getLogger(__name__)

HANGUP, UUID, DTMF, SLIN, ERROR = 0x00, 0x01, 0x03, 0x10, 0xFF
FRAME_BYTES = 320                 # 20 ms of 8 kHz slin16
MAX_PAYLOAD = 8000                # 0.5 s of audio; Asterisk sends 20 ms frames
START_TIMEOUT_S = 5.0             # the UUID frame must come this soon after connecting
SEND_TIMEOUT_S = 2.0              # a PBX that stops reading this long is gone
LATE_FRAMES = 5                   # the pacer this far behind (the loop stalled) starts afresh
DIGITS, IGNORED_DIGITS = set("0123456789*#"), set("ABCD")
ERRORS = {0x01: "the caller hung up", 0x02: "frame forwarding error", 0x04: "memory error"}


class PbxGone(Exception):
    """The PBX closed or reset the connection (or a frame was cut off by it)."""


def encode(kind: int, payload: bytes = b"") -> bytes:
    return bytes([kind]) + len(payload).to_bytes(2, "big") + payload


async def read_frame(reader: asyncio.StreamReader, *, max_payload: int) -> tuple[int, bytes]:
    """The next frame as (kind, payload), however TCP split it. A payload over
    `max_payload` is read and dropped (the length keeps the stream in step) and raises
    MalformedMessage; a connection that ends raises PbxGone."""
    try:
        header = await reader.readexactly(3)
        kind, length = header[0], int.from_bytes(header[1:], "big")
        payload = await reader.readexactly(length)
    except (asyncio.IncompleteReadError, OSError) as error:
        raise PbxGone(type(error).__name__) from error
    if length > max_payload:
        raise MalformedMessage(f"frame of kind 0x{kind:02x} with {length} bytes is over {max_payload}")
    return kind, payload


class PbxCalls:
    """What the dialplan tells us about a call before AudioSocket() and asks after it.

    Both are keyed by the call's UUID, kept `lifetime` seconds and used once, in the
    gateways' shared store (voice/shared.py): the announcement, the AudioSocket connection
    and the question afterwards may each reach another gateway of a cluster. The store of
    one process holds at most `max_entries`, so a dialplan that announces calls which never
    connect cannot grow it without bound. If the store cannot be reached, the call goes on
    without the caller's number, and afterwards the dialplan hangs up (the hand-off ticket
    was written all the same, so staff call back)."""

    def __init__(self, store: SharedStore | None = None, *, lifetime: float | None = None,
                 max_entries: int = 1024, clock: Callable[[], float] = time.monotonic):
        self._lifetime = settings.PBX_ANNOUNCE_SECONDS if lifetime is None else lifetime
        self._store = store or MemoryStore(max_entries=2 * max_entries, clock=clock)

    @staticmethod
    def _key(call_uuid: str) -> str:
        """The canonical form (the dialplan may spell it in capitals); ValueError if no UUID."""
        return str(uuids.UUID(call_uuid))

    async def _put(self, kind: str, call_uuid: str, value: dict) -> None:
        key = f"pbx-{kind}:{self._key(call_uuid)}"
        try:
            await self._store.put(key, json.dumps(value), self._lifetime)
        except Exception as error:  # noqa: BLE001 - see the class docstring
            log.error("PBX %s of %s not kept (%s)", kind, call_uuid, type(error).__name__)

    async def _take(self, kind: str, call_uuid: str) -> dict | None:
        key = f"pbx-{kind}:{self._key(call_uuid)}"
        try:
            value = await self._store.take(key)
        except Exception as error:  # noqa: BLE001 - see the class docstring
            log.error("PBX %s of %s not read (%s)", kind, call_uuid, type(error).__name__)
            return None
        return None if value is None else json.loads(value)

    async def announce(self, call_uuid: str, caller: str | None) -> None:
        await self._put("caller", call_uuid, {"caller": caller or None})

    async def caller_of(self, call_uuid: str) -> str | None:
        announced = await self._take("caller", call_uuid)
        return None if announced is None else announced.get("caller")

    async def transfer(self, call_uuid: str, handoff: dict) -> None:
        await self._put("transfer", call_uuid, {"ticket": handoff.get("ticket"), "queue": handoff.get("queue")})

    async def next_step(self, call_uuid: str) -> dict:
        """What the dialplan does after AudioSocket() returns: staff once after a transfer."""
        try:
            moved = await self._take("transfer", call_uuid)
        except ValueError:
            moved = None
        return {"action": "hangup"} if moved is None else {"action": "transfer", **moved}


class AudioSocketLine:
    """The `Line` of one AudioSocket connection.

    Speech is queued as 20 ms frames and paced out by one task on a monotonic schedule
    (Asterisk plays whatever it receives at once, so bursts would be lost or garbled).
    A mark is passed when the audio before it has had its time on the line; its PLAYED
    event is delivered by a second task, so the call may take its time over it — or hang
    up from it — without stalling or cancelling the pacer."""

    channel, narrowband, prompts_on_silence = "phone", True, True

    def __init__(self, writer: asyncio.StreamWriter, calls: PbxCalls, call_uuid: str, *,
                 frame_seconds: float = 0.02):
        self.call_id, self.frame_seconds = call_uuid, frame_seconds
        self.on_event: Callable[[CallEvent], Awaitable[None]] | None = None
        self._writer, self._calls = writer, calls
        self._queue: deque[bytes | str] = deque()      # frames, and marks (str) between them
        self._wake = asyncio.Event()
        self._played: asyncio.Queue[str | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []
        self._gone = False       # the socket failed: nothing more is written
        self._closed = False     # hung up

    async def play(self, pcm: bytes, rate: int) -> None:
        if self._closed or self._gone or not pcm:     # gone: nobody would hear it
            return
        slin = resample(pcm[:len(pcm) // 2 * 2], rate, PHONE_RATE)
        for start in range(0, len(slin), FRAME_BYTES):
            self._queue.append(slin[start:start + FRAME_BYTES].ljust(FRAME_BYTES, b"\0"))
        self._kick()

    async def mark(self, name: str) -> None:
        if not (self._closed or self._gone):
            self._queue.append(name)
            self._kick()

    async def clear(self) -> None:
        self._queue.clear()

    async def show(self, kind: str, content: dict) -> None:
        """A phone has no screen."""

    async def transfer(self, call_id: str, handoff: dict) -> dict:
        """AudioSocket cannot move a call: we note where it goes, the call ends, and the
        dialplan, when AudioSocket() returns, asks us (PbxCalls.next_step) and dials staff."""
        await self._calls.transfer(self.call_id, handoff)
        return {"outcome": "transferred", "via": "pbx", "ticket": handoff.get("ticket")}

    async def hang_up(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.clear()
        self._played.put_nowait(None)
        pacer = self._tasks[0] if self._tasks else None
        if pacer is not None and pacer is not asyncio.current_task():
            pacer.cancel()
            await asyncio.wait([pacer])     # never raises its cancellation into us
        await self._send(encode(HANGUP))
        self._gone = True
        self._writer.close()
        try:
            await asyncio.wait_for(self._writer.wait_closed(), SEND_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError):
            pass

    # -- the line's own tasks ------------------------------------------------------------

    def _kick(self) -> None:
        if not self._tasks:
            loop = asyncio.get_running_loop()
            self._tasks = [loop.create_task(self._pace()), loop.create_task(self._deliver())]
        self._wake.set()

    async def _send(self, data: bytes) -> bool:
        """Write to the PBX; False (and nothing more is written) once it is gone."""
        if self._gone or self._writer.is_closing():
            self._gone = True
            return False
        try:
            self._writer.write(data)
            await asyncio.wait_for(self._writer.drain(), SEND_TIMEOUT_S)
            return True
        except (OSError, asyncio.TimeoutError):
            self._gone = True
            return False

    async def _pace(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while not self._closed:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                due = max(due, loop.time())    # after a pause, start now: no catching up
                continue
            item = self._queue.popleft()
            if isinstance(item, str):          # the audio before it has had its time
                self._played.put_nowait(item)
                continue
            if not await self._send(encode(SLIN, item)):
                self._queue.clear()
                return
            now = loop.time()
            due = max(due + self.frame_seconds, now - LATE_FRAMES * self.frame_seconds)
            await asyncio.sleep(due - now)

    async def _deliver(self) -> None:
        while (name := await self._played.get()) is not None and not self._closed:
            if self.on_event is None:
                continue
            try:
                await self.on_event(CallEvent(PLAYED, mark=name))
            except Exception:
                log.exception("the call failed on a played mark")


class Session(Protocol):
    """What handle_connection needs of a call (voice/call.py's CallSession)."""

    ended: bool

    async def handle(self, event: CallEvent) -> None: ...

    async def end(self, reason: str) -> None: ...


async def _first_uuid(reader: asyncio.StreamReader) -> str:
    kind, payload = await read_frame(reader, max_payload=MAX_PAYLOAD)
    if kind != UUID or len(payload) != 16:
        raise MalformedMessage(f"frame of kind 0x{kind:02x} before the call's UUID")
    return str(uuids.UUID(bytes=payload))


def _event(kind: int, payload: bytes, resampler: PhoneUpsampler) -> CallEvent | None:
    """The call's event for a frame in mid-call (None: nothing for it); MalformedMessage
    for a frame we cannot use. Hang-up and error frames are the caller's business."""
    if kind == SLIN:
        if len(payload) % 2:
            raise MalformedMessage(f"audio frame of {len(payload)} bytes (odd)")
        pcm = resampler(payload)      # the resampler gives out ~100 ms at a time
        return CallEvent(AUDIO, pcm=pcm) if pcm else None
    if kind == DTMF:
        digit = payload.decode("ascii", "replace") if len(payload) == 1 else ""
        if digit not in DIGITS | IGNORED_DIGITS:
            raise MalformedMessage(f"DTMF frame of {len(payload)} bytes")
        return CallEvent(KEY, digit=digit) if digit in DIGITS else None
    raise MalformedMessage(f"frame of kind 0x{kind:02x} in mid-call")


async def _frames_to_session(reader: asyncio.StreamReader, session: Session, start: CallEvent,
                             idle_seconds: float) -> str:
    """The call's start, then caller audio and keys into it until it ends; why it ended."""
    resampler = PhoneUpsampler()
    intake = Intake(session, lambda frame: _event(*frame, resampler), "AudioSocket", unit="frames")
    await intake.deliver(start)
    while not session.ended:
        if intake.hopeless:
            return intake.why_hopeless
        try:
            async with asyncio.timeout(idle_seconds):
                kind, payload = await read_frame(reader, max_payload=MAX_PAYLOAD)
        except TimeoutError:
            return f"nothing from the PBX for {idle_seconds:g} s"
        except PbxGone:
            await intake.deliver(CallEvent(STOP))
            return "the PBX closed the connection"
        except MalformedMessage as error:
            intake.reject(error)
            continue
        if kind in (HANGUP, ERROR):
            if kind == ERROR:
                code = payload[0] if payload else None
                log.warning("AudioSocket error from the PBX: %s",
                            ERRORS.get(code, "no code" if code is None else f"code 0x{code:02x}"))
            await intake.deliver(CallEvent(STOP))
            return "the PBX hung up" if kind == HANGUP else "the PBX reported an error"
        event = intake.parse((kind, payload))
        if event is not None:
            await intake.deliver(event)
    return "the call ended"


async def handle_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                            new_session: Callable[[AudioSocketLine], Session], calls: PbxCalls,
                            start_timeout: float, idle_seconds: float, frame_seconds: float = 0.02) -> None:
    """One AudioSocket connection, from its UUID frame to the end of the call. Nothing the
    PBX sends, and nothing the call does, escapes from here: the server goes on."""
    try:
        async with asyncio.timeout(start_timeout):
            call_uuid = await _first_uuid(reader)
    except (TimeoutError, PbxGone, MalformedMessage) as error:
        log.warning("AudioSocket connection closed before its call began: %s", str(error) or type(error).__name__)
        writer.close()
        return
    line = AudioSocketLine(writer, calls, call_uuid, frame_seconds=frame_seconds)
    session: Session | None = None
    reason = "the gateway failed"
    try:
        session = new_session(line)
        line.on_event = session.handle
        log.info("AudioSocket call %s begins", call_uuid)
        start = CallEvent(START, call_id=call_uuid, caller=await calls.caller_of(call_uuid))
        reason = await _frames_to_session(reader, session, start, idle_seconds)
    except asyncio.CancelledError:
        reason = "the gateway is shutting down"
        raise
    except Exception:
        log.exception("AudioSocket call %s failed", call_uuid)
    finally:
        log.info("AudioSocket call %s ends: %s", call_uuid, reason)
        if session is not None:
            try:
                await session.end(reason)
            except Exception:
                log.exception("the call failed to end")
        await line.hang_up()


async def start_server(host: str, port: int, *, new_session: Callable[[AudioSocketLine], Session],
                       calls: PbxCalls, start_timeout: float = START_TIMEOUT_S,
                       idle_seconds: float | None = None, frame_seconds: float = 0.02) -> asyncio.Server:
    """The TCP server the dialplan's AudioSocket() connects to (port 0: any free port)."""
    idle = settings.AUDIOSOCKET_IDLE_SECONDS if idle_seconds is None else idle_seconds

    async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handle_connection(reader, writer, new_session=new_session, calls=calls,
                                start_timeout=start_timeout, idle_seconds=idle, frame_seconds=frame_seconds)

    return await asyncio.start_server(connected, host, port)
