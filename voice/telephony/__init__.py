"""What the gateway needs from a telephone network, whatever carries the call.

An adapter turns its network's wire messages into `CallEvent`s and the gateway's audio
and control back into wire messages. Twilio Media Streams is the first adapter; a domestic
PBX stream (Asterisk AudioSocket, FreeSWITCH) is another implementation of `Telephony`,
and recognition, dialogue and speech do not change.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


class MalformedMessage(ValueError):
    """A wire message that cannot be understood: logged and skipped, the call goes on."""


@dataclass(frozen=True)
class CallEvent:
    kind: str                      # connected | start | media | dtmf | mark | stop
    call_id: str | None = None
    audio: bytes = b""             # μ-law 8 kHz for `media`
    digit: str | None = None
    mark: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)


class Telephony(Protocol):
    def parse(self, raw: str | bytes) -> CallEvent: ...

    def media(self, frame: bytes) -> str | bytes: ...

    def mark(self, name: str) -> str | bytes: ...

    def clear(self) -> str | bytes: ...
