"""One call, from the first `start` to `stop`: listen, understand, answer, and never leave
the caller alone in silence.

The session is driven by `CallEvent`s from a telephony adapter and writes wire messages
back through it, so it knows nothing of Twilio. Turn-taking:

- the bot speaks (sentence by sentence, each followed by a mark); while marks are
  outstanding the caller's phone is still playing the bot's words;
- caller speech over the bot (barge-in) or a key press clears the rest at once;
- a turn ends after the detector's end-of-turn silence, which depends on what was heard
  so far (a pause after a whole question is short, after 那个 or half a number long; see
  turns.py); the transcript goes to Rasa;
- a caller who goes on talking soon after such a turn ended, before they have heard the
  reply, was only pausing: the reply is dropped (or cut short), Rasa forgets the first
  part (a rewind) and the two parts go to it as one turn;
- silence after a question goes to Rasa as /silence (reprompt, offer a person, ticket);
- 0 → a person, * → repeat, at any time; digits are collected when the bot asked for
  a number (# ends), spoken digits are accepted too;
- when Rasa does not answer, the caller hears an apology and may ask for a callback,
  which the gateway files itself.
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import numpy as np
import soxr

from contract import GREET, HUMAN, READABLE, REPEAT, SILENCE, TRANSCRIPT_MAX_TURNS, fit_transcript
from voice import records
from voice.asr import Recognizer
from voice.audio import ASR_RATE, PHONE_RATE, mulaw_to_pcm16, speech_to_phone
from voice.dialogue import BotTurn, RasaBridge
from voice.listening import Listener
from voice.recognition import Utterance
from voice.settings import MAX_QUEUED_TURNS, RESUME_WINDOW_S
from voice.telephony import CallEvent, Telephony
from voice.tts import SpeechChain, split_sentences
from voice.turns import TurnDetector

log = logging.getLogger(__name__)

DIGIT_TIMEOUT_S = float(os.environ.get("VOICE_DIGIT_TIMEOUT_SECONDS", "5"))
CALLBACK_YES = re.compile(r"^(?!.*(不|别|没)).*(好|要|行|可以|是|对|嗯|麻烦)")
CALLBACK_FILED = "好的，已经给您登记了回电。工作人员会尽快给您打过来。感谢您的来电，再见。"
CALLBACK_FAILED = "抱歉，现在没能登记上。请您稍后再打，或者拨打12345热线。再见。"
BUSY_WITH_CALLBACK = "您好，现在来电的人比较多。已经给您登记了回电，工作人员会尽快给您打过来。再见。"
TRANSFER_FAILED = "抱歉，现在没能接通工作人员。您的事已经登记好了，工作人员会尽快给您回电话。再见。"
BUSY = "您好，现在来电的人比较多，请您过几分钟再打。再见。"
CALLBACK_DECLINED = "好的。您稍后再打过来也可以。再见。"

Send = Callable[[str | bytes], Awaitable[None]]


@dataclass
class SpokenTurn:
    """A caller's spoken turn that answered no particular question, while its reply has
    not been heard in full: if the caller goes on talking, the next turn joins it."""

    ended_at_ms: float           # on the call's audio clock
    text: str | None = None      # once recognised
    in_rasa: bool = False        # Rasa took it: a rewind undoes it before the joined turn
    went_on: bool = False        # the caller started talking again: its reply is not spoken
    final: bool = False          # its reply hands the call over: nothing joins it any more

    def goes_on_at(self, now_ms: float) -> bool:
        """Is speech starting at `now_ms` the same turn going on?"""
        return not self.final and now_ms - self.ended_at_ms <= RESUME_WINDOW_S * 1000


@dataclass
class CallLog:
    """What the gateway itself heard and said: the transcript of a callback ticket when
    Rasa (which keeps the real transcript) cannot be reached."""

    turns: deque = field(default_factory=lambda: deque(maxlen=TRANSCRIPT_MAX_TURNS))
    said: int = 0            # turns in all, also those the bounded list no longer holds

    def add(self, speaker: str, text: str) -> None:
        self.turns.append({"speaker": speaker, "text": text, "at": time.strftime("%Y-%m-%dT%H:%M:%S")})
        self.said += 1

    def for_ticket(self) -> list[dict]:
        return fit_transcript(self.turns, said=self.said)


class CallSession:
    channel = "phone"
    narrowband = True      # telephone audio: below 4 kHz, upsampled to the recogniser's 16 kHz

    def __init__(self, adapter: Telephony, send: Send, *, recognizer: Recognizer, speech: SpeechChain,
                 bridge: RasaBridge, close: Callable[[], Awaitable[None]],
                 transfer: Callable[[str, dict], Awaitable[dict]] | None = None,
                 detector: TurnDetector | None = None, busy: bool = False):
        self.adapter, self._send, self.recognizer, self.speech = adapter, send, recognizer, speech
        self.bridge, self._close, self._transfer = bridge, close, transfer
        self.listener = Listener(recognizer, narrowband=self.narrowband, detector=detector)
        self.call_id: str | None = None
        self.caller: str | None = None
        self.log = CallLog()
        # float32: soxr's int16 stream is not repeatable from run to run
        self._resampler = soxr.ResampleStream(PHONE_RATE, ASR_RATE, 1, dtype="float32")
        self._pending_marks: deque[str] = deque()
        self._reply_seq = 0
        self._speaking: asyncio.Task | None = None
        self._turns: asyncio.Queue = asyncio.Queue(maxsize=MAX_QUEUED_TURNS)
        self._worker: asyncio.Task | None = None
        self._thinking = False
        self._collect: dict | None = None
        self._digits = ""
        self._digit_timer: asyncio.TimerHandle | None = None
        self._after_speech: BotTurn | None = None     # what to do once the last mark is echoed
        self._callback_offered = False
        self._open_turn: SpokenTurn | None = None    # the latest spoken turn whose reply is not yet heard
        self._joins: SpokenTurn | None = None        # the turn the utterance now being spoken goes on from
        self._audio_ms = 0.0    # caller audio received: the clock of pauses (the line sends silence too)
        self.ended = False
        self.busy = busy    # the gateway is at capacity: a callback, not a conversation
        self._tasks: set[asyncio.Task] = set()

    def _background(self, coroutine) -> None:
        """Run `coroutine` beside the call, holding a reference until it is done."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- wire ---------------------------------------------------------------------------

    async def send(self, message: str | bytes) -> None:
        if not self.ended:
            await self._send(message)

    async def handle(self, event: CallEvent) -> None:
        if event.kind == "connected":
            return
        if event.kind == "start":
            if self.call_id is not None:
                log.warning("second start message on one stream ignored")
                return
            self.call_id = event.parameters.get("callSid") or event.call_id or "unknown"
            self.caller = event.parameters.get("caller") or None
            # the greeting must not wait for the record (the API may be slow or down)
            self._background(records.report(self.call_id, channel=self.channel, caller_phone=self.caller, started=True))
            if self.busy:
                self._background(self._busy_line())
            else:
                self._enqueue(GREET, speaker=None)
            return
        if self.call_id is None:
            log.warning("%s message before start ignored", event.kind)
            return
        if event.kind == "media":
            self._on_audio(event.audio)
        elif event.kind == "dtmf":
            await self._on_digit(event.digit or "")
        elif event.kind == "mark":
            await self._on_mark(event.mark or "")
        elif event.kind == "stop":
            await self.end("caller hung up")

    # -- caller audio -------------------------------------------------------------------

    def _on_audio(self, mulaw: bytes) -> None:
        self._audio_ms += len(mulaw) * 1000 / PHONE_RATE
        samples = np.frombuffer(mulaw_to_pcm16(mulaw), dtype=np.int16).astype(np.float32) / 32768
        upsampled = self._resampler.resample_chunk(samples)
        pcm = (np.clip(upsampled, -1, 32767 / 32768) * 32768).astype(np.int16).tobytes()
        for kind, utterance in self.listener.feed(pcm):
            if kind == "speech_start":
                joins = self._open_turn if self._open_turn and self._open_turn.goes_on_at(self._audio_ms) else None
                if joins is not None:
                    log.info("the caller went on after a pause: one turn, not two")
                    joins.went_on = True
                self._joins = joins
                if self._pending_marks or self._busy(self._speaking):
                    log.info("barge-in: the caller spoke over the bot")
                    self._background(self._stop_speaking())
            elif kind == "turn":
                spoken = SpokenTurn(self._audio_ms) if self.listener.expect is None else None
                self._enqueue(None, speaker="caller", utterance=utterance, spoken=spoken, joins=self._joins)
                self._open_turn, self._joins = spoken, None
            elif kind == "no_input" and self._listening:
                self._enqueue(SILENCE, speaker=None)

    @property
    def _listening(self) -> bool:
        """Waiting for the caller: not speaking, not waiting for Rasa, no turn underway."""
        return (not self._pending_marks and not self._thinking and self._turns.empty()
                and not self._busy(self._speaking) and self.listener.utterance is None and not self._digits)

    @staticmethod
    def _busy(task: asyncio.Task | None) -> bool:
        return task is not None and not task.done()

    # -- keypad -------------------------------------------------------------------------

    async def _on_digit(self, digit: str) -> None:
        if self._pending_marks or self._busy(self._speaking):
            await self._stop_speaking()
        if self._collect is not None and digit.isdigit():
            self._digits += digit
            self._arm_digit_timer()
            if len(self._digits) >= int(self._collect.get("max") or 32):
                await self._submit_digits()
        elif digit == "#" and self._digits:
            await self._submit_digits()
        elif digit == "0":
            self._enqueue(HUMAN, speaker="caller", said=READABLE[HUMAN])
        elif digit == "*":
            self._digits = ""
            self._enqueue(REPEAT, speaker="caller", said=READABLE[REPEAT])

    def _arm_digit_timer(self) -> None:
        if self._digit_timer is not None:
            self._digit_timer.cancel()
        loop = asyncio.get_running_loop()
        self._digit_timer = loop.call_later(DIGIT_TIMEOUT_S, lambda: loop.create_task(self._submit_digits()))

    async def _submit_digits(self) -> None:
        """Keyed digits are a caller turn; a lone 0 is still the way to a person."""
        if self._digit_timer is not None:
            self._digit_timer.cancel()
            self._digit_timer = None
        digits, self._digits = self._digits, ""
        if digits == "0":
            self._enqueue(HUMAN, speaker="caller", said=READABLE[HUMAN])
        elif digits:
            self._enqueue(digits, speaker="caller")

    # -- dialogue: one turn at a time, in order -----------------------------------------

    def _enqueue(self, text: str | None, *, speaker: str | None, said: str | None = None,
                 utterance: Utterance | None = None, spoken: SpokenTurn | None = None,
                 joins: SpokenTurn | None = None) -> None:
        try:
            self._turns.put_nowait((text, speaker, said, utterance, spoken, joins))
        except asyncio.QueueFull:   # keys hammered while the dialogue is slow: nothing more piles up
            log.warning("caller turn dropped: %d already waiting", self._turns.qsize())
            if utterance is not None:
                utterance.abandon()
            return
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work())

    async def _work(self) -> None:
        while not self.ended:
            text, speaker, said, utterance, spoken, joins = await self._turns.get()
            self._thinking = True
            try:
                if utterance is not None:
                    text = await utterance.finish()   # service names already repaired
                    log.info("caller turn recognised (%d chars)", len(text))
                    if joins is not None and joins.text and not joins.final:
                        said = text if joins.in_rasa else None   # the first part is in the log already
                        text = await self._join(joins, text)
                    if not text:   # noise, or words the recogniser could not place: ask again
                        text, speaker = SILENCE, None
                if spoken is not None and speaker is None:   # nothing was recognised: nothing to join
                    spoken = None
                if spoken is not None:
                    spoken.text = text
                    if spoken.went_on:   # the caller is already going on: Rasa hears both parts at once
                        continue
                await self._rasa_turn(text, speaker=speaker, said=said, spoken=spoken)
            except Exception:   # noqa: BLE001 - one bad turn must not end the call
                log.exception("caller turn failed")
            finally:
                self._thinking = False

    async def _join(self, first: SpokenTurn, text: str) -> str:
        """The caller paused and went on: the two parts as one turn, the first forgotten by Rasa."""
        if first.in_rasa and not await self.bridge.rewind(self.call_id or "unknown"):
            log.warning("rasa kept the first part of a turn the caller went on from")
        return f"{first.text}，{text}" if text else first.text or ""

    async def _rasa_turn(self, text: str, *, speaker: str | None, said: str | None = None,
                         spoken: SpokenTurn | None = None) -> None:
        if speaker:
            self.log.add(speaker, said or text)
        if self._callback_offered and speaker == "caller":
            if spoken is not None:
                spoken.final = True
            await self._answer_callback_offer(text)
            return
        turn = await self.bridge.send(self.call_id or "unknown", text, caller=self.caller, channel=self.channel)
        if turn.failed:
            self._callback_offered = True
        if spoken is not None:
            spoken.in_rasa = True
            spoken.final = bool(turn.handoff or turn.failed)   # a hand-off goes ahead whatever follows
            if spoken.went_on and not spoken.final:   # the caller is still talking: answer the whole turn
                return
        await self._bot_turn(turn)

    async def _bot_turn(self, turn: BotTurn) -> None:
        self.listener.expect = turn.expect
        self._collect = turn.collect_digits
        self.listener.digits_wanted = int((turn.collect_digits or {}).get("max") or 0) or None
        self._digits = ""
        for text in turn.texts:
            self.log.add("bot", text)
        self._after_speech = turn if (turn.handoff or turn.hangup) else None
        await self.say(turn.texts)

    async def _answer_callback_offer(self, text: str) -> None:
        self._callback_offered = False
        if not CALLBACK_YES.search(text):
            await self._bot_turn(BotTurn(texts=[CALLBACK_DECLINED], hangup=True))
            return
        ticket = await records.file_callback(self.call_id or "unknown", caller_phone=self.caller,
                                             channel=self.channel, transcript=self.log.for_ticket())
        await self._bot_turn(BotTurn(texts=[CALLBACK_FILED if ticket else CALLBACK_FAILED], hangup=True))

    async def _busy_line(self) -> None:
        ticket = await records.file_callback(self.call_id or "unknown", caller_phone=self.caller,
                                             channel=self.channel, transcript=[])
        await self._bot_turn(BotTurn(texts=[BUSY_WITH_CALLBACK if ticket else BUSY], hangup=True))

    # -- speaking -----------------------------------------------------------------------

    async def say(self, texts: list[str]) -> None:
        """Speak the texts; returns once every frame is on the wire (not yet played), or
        when a barge-in cut the reply short."""
        self._speaking = asyncio.get_running_loop().create_task(self._speak(texts))
        try:
            await self._speaking
        except asyncio.CancelledError:
            if asyncio.current_task().cancelling():   # the call itself is ending
                raise

    async def _speak(self, texts: list[str]) -> None:
        sentences = [s for text in texts for s in split_sentences(text)]
        if not sentences:
            await self._after_last_mark()
            return
        loop = asyncio.get_running_loop()
        self._reply_seq += 1
        upcoming = loop.create_task(self.speech.speak(sentences[0]))
        try:
            for index in range(len(sentences)):
                speech = await upcoming
                if index + 1 < len(sentences):   # synthesise the next sentence while this one plays
                    upcoming = loop.create_task(self.speech.speak(sentences[index + 1]))
                for frame in speech_to_phone(speech.pcm, speech.rate):
                    await self.send(self.adapter.media(frame))
                name = f"reply{self._reply_seq}-{index + 1}/{len(sentences)}"   # "n/n": the reply is complete
                self._pending_marks.append(name)
                await self.send(self.adapter.mark(name))
        except asyncio.CancelledError:
            upcoming.cancel()
            raise
        except Exception:   # noqa: BLE001 - a synthesis failure must not end the call
            log.exception("speaking failed")
            upcoming.cancel()

    async def _stop_speaking(self) -> None:
        """Barge-in: drop the rest of the reply at once, on our side and on the line."""
        if self._busy(self._speaking):
            self._speaking.cancel()
        if self._pending_marks:
            await self.send(self.adapter.clear())
            self._pending_marks.clear()
        if self._after_speech is not None:   # an announced handoff or goodbye still happens
            await self._after_last_mark()

    async def _on_mark(self, name: str) -> None:
        if name in self._pending_marks:
            while self._pending_marks and self._pending_marks.popleft() != name:
                pass
        else:
            log.info("mark %r not ours or already cleared", name[:32])
            return
        if not self._pending_marks and not self._busy(self._speaking):
            await self._after_last_mark()

    async def _after_last_mark(self) -> None:
        """The caller has heard the whole reply: act on it, then listen."""
        turn, self._after_speech = self._after_speech, None
        self._open_turn = None   # the caller has heard the reply: what they say next is a new turn
        self.listener.reset()
        if turn is None:
            return
        if turn.handoff and turn.handoff.get("transfer") and self._transfer is not None:
            outcome = await self._transfer(self.call_id or "unknown", turn.handoff)
            await records.report(self.call_id or "unknown", channel=self.channel, transfer=outcome)
            if outcome.get("outcome") == "transferred":
                await self.end("transferred to staff")
                return
            # the ticket exists; the caller must not wait on a line nobody will pick up
            await self._bot_turn(BotTurn(texts=[TRANSFER_FAILED], hangup=True))
            return
        if turn.hangup:
            await self.end("bot said goodbye")

    async def end(self, reason: str) -> None:
        if self.ended:
            return
        log.info("call ends: %s", reason)
        for task in (self._speaking, self._worker):
            if self._busy(task) and task is not asyncio.current_task():
                task.cancel()
        self.listener.abandon()
        self.ended = True
        if self.call_id:
            await records.report(self.call_id, channel=self.channel, ended=True)
        await self._close()
