"""Twilio: the voice webhook's TwiML, request signatures, and Media Streams messages.

Everything Twilio-specific lives here (official `twilio` library for TwiML and signature
checks). Media Streams protocol: JSON text frames `connected`, `start`, `media` (base64
μ-law, 20 ms), `dtmf`, `mark`, `stop` in; `media`, `mark`, `clear` out.

Twilio signs the stream's handshake over the fixed stream URL only, and the `start` message
not at all. So what we believe about a stream — which call it is, who is calling — comes
from the signed voice webhook: the TwiML hands it to the stream as custom parameters with an
expiry and an HMAC (a "stream ticket"), Twilio echoes them in `start`, and a `start` without
a valid, unexpired, unused ticket closes the stream.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Callable

from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Connect, VoiceResponse

from voice.telephony import CallEvent, MalformedMessage

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


class StreamTickets:
    """Issues the signed parameters of each call's stream and redeems each one once.

    Used tickets are remembered by this gateway process until they expire (a cluster of
    gateways would share that set, e.g. in Redis)."""

    def __init__(self, auth_token: str, lifetime_seconds: float, clock: Callable[[], float] = time.time):
        self._key = hmac.new(auth_token.encode(), b"stream-ticket", hashlib.sha256).digest()
        self._lifetime, self._clock = lifetime_seconds, clock
        self._used: dict[str, int] = {}

    def _mac(self, call_sid: str, caller: str, expires: str) -> str:
        return hmac.new(self._key, f"{call_sid}|{caller}|{expires}".encode(), hashlib.sha256).hexdigest()

    def issue(self, call_sid: str, caller: str | None) -> dict[str, str]:
        expires = str(int(self._clock() + self._lifetime))
        caller = caller or ""
        return {"callSid": call_sid, "caller": caller, "expires": expires,
                "ticket": self._mac(call_sid, caller, expires)}

    def redeem(self, start: CallEvent) -> str | None:
        """None if the `start` carries a good ticket for its own call (now used up); else why not."""
        given = start.parameters
        call_sid, caller, expires = given.get("callSid", ""), given.get("caller", ""), given.get("expires", "")
        if not (call_sid and expires.isdigit() and given.get("ticket")):
            return "no stream ticket"
        if not hmac.compare_digest(given["ticket"], self._mac(call_sid, caller, expires)):
            return "stream ticket does not match its parameters"
        if start.call_id != call_sid:
            return "stream ticket is for another call"
        now = self._clock()
        if int(expires) < now:
            return "stream ticket expired"
        self._used = {sid: until for sid, until in self._used.items() if until >= now}
        if call_sid in self._used:
            return "stream ticket already used"
        self._used[call_sid] = int(expires)
        return None


class TwilioMediaStreams:
    """The `Telephony` adapter for one Twilio Media Streams WebSocket."""

    def __init__(self) -> None:
        self.stream_sid: str | None = None

    def parse(self, raw: str | bytes) -> CallEvent:
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
                return CallEvent("start", call_id=start["callSid"],
                                 parameters={str(k): str(v) for k, v in (start.get("customParameters") or {}).items()})
            if kind == "media":
                audio = base64.b64decode(message["media"]["payload"], validate=True)
                return CallEvent("media", audio=audio)
            if kind == "dtmf":
                digit = str(message["dtmf"]["digit"])
                if digit not in DTMF_DIGITS:
                    raise MalformedMessage(f"unknown DTMF digit {digit!r}")
                return CallEvent("dtmf", digit=digit)
            if kind == "mark":
                return CallEvent("mark", mark=str(message["mark"]["name"]))
        except (KeyError, TypeError, binascii.Error) as error:
            raise MalformedMessage(f"{kind} message without its fields") from error
        return CallEvent(kind)

    def _outbound(self, event: str, **body) -> str:
        if self.stream_sid is None:
            raise RuntimeError("no stream yet: the `start` message has not arrived")
        return json.dumps({"event": event, "streamSid": self.stream_sid, **body})

    def media(self, frame: bytes) -> str:
        return self._outbound("media", media={"payload": base64.b64encode(frame).decode()})

    def mark(self, name: str) -> str:
        return self._outbound("mark", mark={"name": name})

    def clear(self) -> str:
        return self._outbound("clear")
