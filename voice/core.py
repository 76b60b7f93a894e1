"""The one call core every door shares — Twilio streams, the PBX's AudioSocket, the kiosk:
the recogniser, the voice, the dialogue, the calls in progress and which new ones it takes."""
from __future__ import annotations

from voice import settings
from voice.admission import Admission
from voice.asr import get_recognizer
from voice.call import CallSession
from voice.dialogue import RasaBridge
from voice.telephony import Line
from voice.tts import SpeechChain


MAX_UNRELEASED = 10_000


class CallCore:
    def __init__(self, speech: SpeechChain, bridge: RasaBridge, max_calls: int | None = None):
        self.speech, self.bridge = speech, bridge
        self.admission = Admission(lambda: self.in_conversation,
                                   max_calls=settings.MAX_CALLS if max_calls is None else max_calls)
        self._calls: set[CallSession] = set()
        self._ended: list[str] = []      # ids of calls that ended here, not yet reported released

    def _prune(self) -> None:
        for call in [call for call in self._calls if call.ended]:
            self._calls.discard(call)
            if call.call_id and len(self._ended) < MAX_UNRELEASED:
                self._ended.append(call.call_id)

    @property
    def in_progress(self) -> int:
        """Every call on the line here, those only hearing "busy" too."""
        self._prune()
        return len(self._calls)

    @property
    def in_conversation(self) -> int:
        """Calls taken: started, not turned away, not ended."""
        return sum(1 for call in self._calls if call.call_id and not call.busy and not call.ended)

    def lease_round(self) -> tuple[list[str], list[str]]:
        """(calls this gateway holds, calls that ended here since the last round) for the
        leases the proxy service keeps on them (voice/leases.py)."""
        self._prune()
        held = [call.call_id for call in self._calls if call.call_id]
        ended, self._ended = self._ended, []
        return held, ended

    def not_released(self, call_ids: list[str]) -> None:
        """The round did not reach the proxy service: release these next time."""
        self._ended = [*call_ids, *self._ended][:MAX_UNRELEASED]

    def open(self, line: Line) -> CallSession:
        """A call on `line`; when it starts, the admission decides whether it is taken or only
        hears "busy" (and gets a callback)."""
        session = CallSession(line, recognizer=get_recognizer(), speech=self.speech, bridge=self.bridge,
                              admit=self.admission.admit)
        self._calls.add(session)
        return session
