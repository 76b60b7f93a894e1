"""Twilio: the voice webhook's TwiML, request signatures, and Media Streams messages.

Everything Twilio-specific lives here (official `twilio` library for TwiML and signature
checks). Media Streams protocol: JSON text frames `connected`, `start`, `media` (base64
μ-law, 20 ms), `dtmf`, `mark`, `stop` in; `media`, `mark`, `clear` out.
"""
from __future__ import annotations

import base64
import binascii
import json

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


def connect_stream_twiml(stream_url: str, *, caller: str | None, call_sid: str | None) -> str:
    """<Connect><Stream> with the caller's number and the CallSid as custom parameters."""
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=stream_url)
    if caller:
        stream.parameter(name="caller", value=caller)
    if call_sid:
        stream.parameter(name="callSid", value=call_sid)
    response.append(connect)
    return str(response)


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
