"""The one call core every door shares — Twilio streams, the PBX's AudioSocket, the kiosk:
the recogniser, the voice, the dialogue, and the count of calls in progress."""
from __future__ import annotations

from voice import settings
from voice.asr import get_recognizer
from voice.call import CallSession
from voice.dialogue import RasaBridge
from voice.telephony import Line
from voice.tts import SpeechChain


class CallCore:
    def __init__(self, speech: SpeechChain, bridge: RasaBridge, max_calls: int | None = None):
        self.speech, self.bridge = speech, bridge
        self.max_calls = settings.MAX_CALLS if max_calls is None else max_calls
        self._calls: set[CallSession] = set()

    @property
    def in_progress(self) -> int:
        self._calls = {call for call in self._calls if not call.ended}
        return len(self._calls)

    def open(self, line: Line) -> CallSession:
        """A call on `line`; beyond max_calls it only hears "busy" (and gets a callback)."""
        busy = self.in_progress >= self.max_calls
        session = CallSession(line, recognizer=get_recognizer(), speech=self.speech, bridge=self.bridge, busy=busy)
        self._calls.add(session)
        return session
