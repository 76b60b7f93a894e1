"""Twilio: the voice webhook's TwiML, request signatures, Media Streams, and transfers.

Everything Twilio-specific lives here and in twilio_routes.py (official `twilio` library
for TwiML, signatures and the REST API). Media Streams protocol: JSON text frames
`connected`, `start`, `media` (base64 μ-law 8 kHz, 20 ms), `dtmf`, `mark`, `stop` in;
`media`, `mark`, `clear` out. The line decodes and upsamples the caller's audio to the
recogniser's 16 kHz PCM, and turns the bot's PCM into μ-law frames.

Twilio signs the stream's handshake over the fixed stream URL only, and the `start` message
not at all. So what we believe about a stream — which call it is, who is calling — comes
from the signed voice webhook: the TwiML hands it to the stream as custom parameters with an
expiry and an HMAC (a "stream ticket"), Twilio echoes them in `start`, and a `start` without
a valid, unexpired, unused ticket closes the stream.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import time
from typing import Awaitable, Callable

from twilio.base.exceptions import TwilioException
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.voice_response import Connect, VoiceResponse

from voice import settings
from voice.audio import PhoneUpsampler, mulaw_to_pcm16, speech_to_phone
from voice.shared import MemoryStore, SharedStore
from voice.telephony import AUDIO, KEY, PLAYED, START, STOP, CallEvent, MalformedMessage

log = logging.getLogger(__name__)
TRANSFER_TIMEOUT_S = 10

MAX_MESSAGE_BYTES = 64 * 1024   # a 20 ms media frame is ~300 bytes of JSON
KINDS = {"connected", "start", "media", "dtmf", "mark", "stop"}
DTMF_DIGITS = set("0123456789*#")


def signature_is_valid(auth_token: str, url: str, params: dict[str, str], signature: str | None) -> bool:
    """X-Twilio-Signature over the public URL and the POST parameters."""
    if not auth_token or not signature:
        return False
    return RequestValidator(auth_token).validate(url, params, signature)


def connect_stream_twiml(stream_url: str, parameters: dict[str, str]) -> str:
    """<Connect><Stream> with `parameters` as the stream's custom parameters."""
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=stream_url)
    for name, value in parameters.items():
        stream.parameter(name=name, value=value)
    response.append(connect)
    return str(response)


def goodbye_twiml(words: str, recording_url: str | None) -> str:
    """Play our recording of `words` and hang up; without a recording Twilio says them itself."""
    response = VoiceResponse()
    if recording_url:
        response.play(recording_url)
    else:
        response.say(words, language="cmn-CN")
    response.hangup()
    return str(response)


class StreamTickets:
    """Issues the signed parameters of each call's stream and redeems each one once.

    Used tickets are marked in the gateways' shared store (voice/shared.py), so a ticket
    issued by one gateway of a cluster is good once on any of them. If that store cannot
    be reached, a ticket whose signature and lifetime are good is let through (logged):
    a caller is never turned away for the sake of a replay check."""

    def __init__(self, auth_token: str, lifetime_seconds: float, store: SharedStore | None = None,
                 clock: Callable[[], float] = time.time):
        self._key = hmac.new(auth_token.encode(), b"stream-ticket", hashlib.sha256).digest()
        self._lifetime, self._clock = lifetime_seconds, clock
        self._store = store or MemoryStore()

    def _mac(self, call_sid: str, caller: str, expires: str) -> str:
        return hmac.new(self._key, f"{call_sid}|{caller}|{expires}".encode(), hashlib.sha256).hexdigest()

    def issue(self, call_sid: str, caller: str | None) -> dict[str, str]:
        expires = str(int(self._clock() + self._lifetime))
        caller = caller or ""
        return {"callSid": call_sid, "caller": caller, "expires": expires,
                "ticket": self._mac(call_sid, caller, expires)}

    async def redeem(self, stream_call_sid: str | None, given: dict[str, str]) -> str | None:
        """None if a stream's `start` (its CallSid and custom parameters) carries a good
        ticket for its own call (now used up); else why not."""
        call_sid, caller, expires = given.get("callSid", ""), given.get("caller", ""), given.get("expires", "")
        if not (call_sid and expires.isdigit() and given.get("ticket")):
            return "no stream ticket"
        if not hmac.compare_digest(given["ticket"], self._mac(call_sid, caller, expires)):
            return "stream ticket does not match its parameters"
        if stream_call_sid != call_sid:
            return "stream ticket is for another call"
        left = int(expires) - self._clock()
        if left < 0:
            return "stream ticket expired"
        try:
            first = await self._store.claim(f"stream-ticket:{call_sid}", left + 1)
        except Exception as error:  # noqa: BLE001 - the shared store is down: see the docstring
            log.warning("stream ticket not checked for reuse (%s)", type(error).__name__)
            return None
        return None if first else "stream ticket already used"


class TwilioMediaStream:
    """One Twilio Media Streams WebSocket as a `Line`: parses what Twilio sends into
    `CallEvent`s and sends the call's commands as Media Streams messages."""

    channel, narrowband, prompts_on_silence = "phone", True, True

    def __init__(self, send: Callable[[str], Awaitable[None]], close: Callable[[], Awaitable[None]]):
        self._send, self._close = send, close
        self.stream_sid: str | None = None
        self.parameters: dict[str, str] = {}     # the start's custom parameters (the stream ticket)
        self._upsample = PhoneUpsampler()
        self.closed = False

    def parse(self, raw: str | bytes) -> CallEvent | None:
        """A Media Streams message as a call event (None for `connected`); MalformedMessage
        for anything else."""
        if len(raw) > MAX_MESSAGE_BYTES:
            raise MalformedMessage(f"message of {len(raw)} bytes is over {MAX_MESSAGE_BYTES}")
        try:
            message = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as error:
            raise MalformedMessage("not JSON") from error
        if not isinstance(message, dict) or message.get("event") not in KINDS:
            raise MalformedMessage(f"unknown event {message.get('event') if isinstance(message, dict) else None!r}")
        kind = message["event"]
        try:
            if kind == "start":
                start = message["start"]
                self.stream_sid = message.get("streamSid") or start["streamSid"]
                self.parameters = {str(k): str(v) for k, v in (start.get("customParameters") or {}).items()}
                return CallEvent(START, call_id=start["callSid"], caller=self.parameters.get("caller") or None)
            if kind == "media":
                return CallEvent(AUDIO, pcm=self._upsample(mulaw_to_pcm16(
                    base64.b64decode(message["media"]["payload"], validate=True))))
            if kind == "dtmf":
                digit = str(message["dtmf"]["digit"])
                if digit not in DTMF_DIGITS:
                    raise MalformedMessage(f"unknown DTMF digit {digit!r}")
                return CallEvent(KEY, digit=digit)
            if kind == "mark":
                return CallEvent(PLAYED, mark=str(message["mark"]["name"]))
        except (KeyError, TypeError, binascii.Error) as error:
            raise MalformedMessage(f"{kind} message without its fields") from error
        return CallEvent(STOP) if kind == "stop" else None

    def _outbound(self, event: str, **body) -> str:
        if self.stream_sid is None:
            raise RuntimeError("no stream yet: the `start` message has not arrived")
        return json.dumps({"event": event, "streamSid": self.stream_sid, **body})

    async def _put(self, message: str) -> None:
        if not self.closed:
            await self._send(message)

    async def play(self, pcm: bytes, rate: int) -> None:
        for frame in speech_to_phone(pcm, rate):
            await self._put(self._outbound("media", media={"payload": base64.b64encode(frame).decode()}))

    async def mark(self, name: str) -> None:
        await self._put(self._outbound("mark", mark={"name": name}))

    async def clear(self) -> None:
        await self._put(self._outbound("clear"))

    async def show(self, kind: str, content: dict) -> None:
        """A phone has no screen."""

    async def transfer(self, call_id: str, handoff: dict) -> dict:
        return await transfer_call(call_id, handoff)

    async def hang_up(self) -> None:
        if not self.closed:
            self.closed = True
            await self._close()


def transfer_twiml(target: str, ticket: str | None) -> str:
    """TwiML that dials the staff target; the ticket reference rides along for the agent."""
    response = VoiceResponse()
    dial = response.dial(timeout=30)
    if target.startswith("sip:"):
        dial.sip(target + (f"?X-Ticket={ticket}" if ticket else ""))
    else:
        dial.number(target)
    return str(response)


def twilio_client() -> Client | None:
    if not (settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN):
        return None
    client = Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN)
    if settings.TWILIO_API_BASE_URL:
        client.api.base_url = settings.TWILIO_API_BASE_URL.rstrip("/")
    return client


async def transfer_call(call_sid: str, handoff: dict) -> dict:
    """Move a live call to staff with Twilio's REST API; the record of what happened.

    The handoff ticket already exists when this runs. Without credentials or a staff target
    the request is still recorded (outcome `not_configured`) so staff see it and ring back."""
    ticket = handoff.get("ticket")
    target = settings.STAFF_TRANSFER_TARGET
    record = {"ticket": ticket, "target": target or None}
    client = twilio_client()
    if client is None or not target:
        log.warning("transfer for ticket %s recorded, not placed: Twilio credentials or staff target missing", ticket)
        return {**record, "outcome": "not_configured", "detail": "TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN/STAFF_TRANSFER_TARGET"}
    try:
        await asyncio.wait_for(asyncio.to_thread(client.calls(call_sid).update, twiml=transfer_twiml(target, ticket)),
                               timeout=TRANSFER_TIMEOUT_S)
    except (TwilioException, OSError, asyncio.TimeoutError) as error:
        log.error("transfer of a call failed: %s", type(error).__name__)
        return {**record, "outcome": "failed", "detail": type(error).__name__}
    return {**record, "outcome": "transferred"}
