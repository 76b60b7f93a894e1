"""The bot's voice on a line: sentence by sentence, each followed by a mark.

The next sentence is synthesised while the current one plays. While marks are outstanding
the caller is still hearing the reply; when the mark of the reply's last sentence comes
back, they have heard all of it. A barge-in stops the reply at once, on our side and on
the line.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

from voice import admission
from voice.metrics import TURN_LATENCY
from voice.telephony import Line
from voice.tts import SpeechChain, split_sentences

log = logging.getLogger(__name__)


def running(task: asyncio.Task | None) -> bool:
    return task is not None and not task.done()


class Speaker:
    def __init__(self, line: Line, speech: SpeechChain):
        self.line, self.speech = line, speech
        self._pending: deque[str] = deque()
        self._task: asyncio.Task | None = None
        self._reply = 0

    @property
    def talking(self) -> bool:
        """Sending a reply, or the caller has not yet heard all that was sent."""
        return bool(self._pending) or running(self._task)

    async def say(self, texts: list[str], *, turn_started: float | None = None) -> bool:
        """Speak the texts; returns once every sound is on the line (not yet heard) or a
        barge-in cut the reply short. False when nothing went on the line (nothing to say,
        or no sentence could be synthesised): no mark will come back for this reply.
        turn_started (time.monotonic()): the caller's turn this answers, for the turn latency."""
        sentences = [s for text in texts for s in split_sentences(text)]
        if not sentences:
            return False
        self._task = asyncio.get_running_loop().create_task(self._speak(sentences, turn_started))
        try:
            return await self._task > 0
        except asyncio.CancelledError:
            if asyncio.current_task().cancelling():   # the call itself is ending
                raise
            return True

    async def _speak(self, sentences: list[str], turn_started: float | None = None) -> int:
        """How many sentences went on the line (each with its mark)."""
        loop = asyncio.get_running_loop()
        self._reply += 1
        upcoming = loop.create_task(self.speech.speak(sentences[0]))
        index = 0
        try:
            for index in range(len(sentences)):
                speech = await upcoming
                if index + 1 < len(sentences):   # synthesise the next sentence while this one plays
                    upcoming = loop.create_task(self.speech.speak(sentences[index + 1]))
                await self.line.play(speech.pcm, speech.rate)
                if index == 0 and turn_started is not None:
                    latency = time.monotonic() - turn_started
                    TURN_LATENCY.labels(self.line.channel).observe(latency)
                    admission.TURNS.add(latency)
                name = f"reply{self._reply}-{index + 1}/{len(sentences)}"   # "n/n": the reply is complete
                self._pending.append(name)
                await self.line.mark(name)
        except asyncio.CancelledError:
            upcoming.cancel()
            raise
        except Exception:   # noqa: BLE001 - a synthesis failure must not end the call
            log.exception("speaking failed")
            upcoming.cancel()
            return index
        return len(sentences)

    async def stop(self) -> None:
        """Barge-in: drop the rest of the reply."""
        if running(self._task):
            self._task.cancel()
        if self._pending:
            self._pending.clear()
            await self.line.clear()

    def played(self, name: str) -> bool | None:
        """The line played up to mark `name`: True once the whole reply is heard, False
        while more is to come, None for a mark that is not ours (or already cleared)."""
        if name not in self._pending:
            log.info("mark %r not ours or already cleared", name[:32])
            return None
        while self._pending.popleft() != name:
            pass
        return not self.talking

    def cancel(self) -> None:
        """The call ends: stop synthesising (the line is going away)."""
        if running(self._task) and self._task is not asyncio.current_task():
            self._task.cancel()
