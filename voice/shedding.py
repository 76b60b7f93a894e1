"""What a caller the gateway turns away (voice/admission.py) hears and gets.

A phone caller whose number we have gets a callback ticket, filed before they are told so
(one per number and day: the proxy service finds today's), then one short message and the
line ends. A kiosk sends its visitor to the desk a few steps away. On Twilio this happens
in the voice webhook itself: its TwiML plays our own recording of the message and hangs up,
so a surge of callers never opens a media stream (`Prompts`, served at /prompts/<name>.wav).
"""
from __future__ import annotations

import io
import logging
import wave

from voice import records
from voice.audio import PHONE_RATE, resample
from voice.metrics import HANDOFFS
from voice.tts import SpeechChain, hear, joined

log = logging.getLogger(__name__)

BUSY_WITH_CALLBACK = "您好，现在来电的人比较多。已经给您登记了回电，工作人员会尽快给您打过来。再见。"
BUSY = "您好，现在来电的人比较多，请您过几分钟再打。再见。"
KIOSK_BUSY = "您好，现在用的人比较多。请到服务台找工作人员，他们会帮您办。"


async def turn_away(call_id: str, *, caller: str | None, channel: str) -> str:
    """File the caller's callback when there is a number to call; the words they hear."""
    if channel == "kiosk":
        return KIOSK_BUSY
    ticket = None
    if caller:
        ticket = await records.file_callback(call_id, caller_phone=caller, channel=channel, transcript=[],
                                             reason="busy")
    HANDOFFS.labels("callback", "busy" if ticket else "not_filed").inc()
    return BUSY_WITH_CALLBACK if ticket else BUSY


class Prompts:
    """The phone messages of turning away, as 8 kHz WAV files made once when the gateway starts."""

    NAMES = {BUSY_WITH_CALLBACK: "busy-callback", BUSY: "busy"}

    def __init__(self) -> None:
        self._audio: dict[str, bytes] = {}

    async def render(self, speech: SpeechChain) -> None:
        for text, name in self.NAMES.items():
            try:
                voice = joined(await hear(speech, text))
            except Exception as error:  # noqa: BLE001 - the webhook then lets Twilio say it
                log.error("prompt %s not rendered: %s", name, type(error).__name__)
                continue
            buffer = io.BytesIO()
            with wave.open(buffer, "wb") as wav:
                wav.setnchannels(1)
                wav.setsampwidth(2)
                wav.setframerate(PHONE_RATE)
                wav.writeframes(resample(voice.pcm, voice.rate, PHONE_RATE))
            self._audio[name] = buffer.getvalue()

    def name(self, text: str) -> str | None:
        """The file's name for this message, if it was made."""
        name = self.NAMES.get(text)
        return name if name in self._audio else None

    def audio(self, name: str) -> bytes | None:
        return self._audio.get(name)
