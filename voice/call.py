"""One call, from `start` to `stop`: listen, understand, answer, and never leave the
caller alone in silence.

The call is driven by neutral `CallEvent`s from its line's adapter (voice/telephony) and
answers through the line's commands, so it knows no carrier. Its parts, one job each:
CallerAudio (audio in: turns, and whether a turn goes on from the last), Keypad (keys),
Speaker (the bot's voice, marks, barge-in); this module is the call flow between them.

- caller speech over the bot (barge-in) or a key press stops the rest of the reply;
- a turn ends after the detector's end-of-turn silence, which depends on what was heard
  so far (see turns.py); the transcript goes to Rasa;
- a caller who goes on talking soon after such a turn ended, before they have heard the
  reply, was only pausing: the reply is dropped (or cut short), Rasa forgets the first
  part (a rewind) and the two parts go to it as one turn;
- silence after a question goes to Rasa as /silence (reprompt, offer a person, ticket)
  on lines where silence means something (not a kiosk, where people walk away);
- when Rasa does not answer, the caller hears an apology and may ask for a callback,
  which the gateway files itself.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from contract import GREET, SILENCE, TRANSCRIPT_MAX_TURNS, fit_transcript
from voice import records, settings, shedding
from voice.asr import Recognizer
from voice.caller_audio import CallerAudio, Heard, SpokenTurn
from voice.dialogue import BotTurn, RasaBridge
from voice.keypad import Keypad
from voice.listening import Listener
from voice.metrics import CALLS, HANDOFFS, TURN_FAILURES, UNANSWERED
from voice.settings import MAX_QUEUED_TURNS
from voice.speaker import Speaker, running
from voice.telephony import AUDIO, KEY, PERSON, PLAYED, START, STOP, CallEvent, Line
from voice.tts import SpeechChain
from voice.turns import TurnDetector

log = logging.getLogger(__name__)

# a yes to "需要工作人员给您回电话吗？" — 没问题 and 对，没错 are yeses; 不用、没事、算了 are not
CALLBACK_YES = re.compile(r"^(?!.*(不要|不用|不需要|不必|不了|不是|不行|不好|别|没有|没事|算了)).*"
                          r"(好|要|行|可以|是|对|嗯|麻烦|没问题)")
CALLBACK_FILED = "好的，已经给您登记了回电。工作人员会尽快给您打过来。感谢您的来电，再见。"
CALLBACK_FAILED = "抱歉，现在没能登记上。请您稍后再打，或者拨打12345热线。再见。"
TRANSFER_FAILED = "抱歉，现在没能接通工作人员。您的事已经登记好了，工作人员会尽快给您回电话。再见。"
CALLBACK_DECLINED = "好的。您稍后再打过来也可以。再见。"


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
    def __init__(self, line: Line, *, recognizer: Recognizer, speech: SpeechChain, bridge: RasaBridge,
                 detector: TurnDetector | None = None, busy: bool = False,
                 admit: Callable[[str | None], str | None] | None = None):
        self.line, self.bridge = line, bridge
        self.channel = line.channel
        self.audio = CallerAudio(Listener(recognizer, narrowband=line.narrowband, detector=detector))
        self.keypad = Keypad(lambda text, said: self._enqueue(text, speaker="caller", said=said))
        self.speaker = Speaker(line, speech)
        self.call_id: str | None = None
        self.caller: str | None = None
        self.log = CallLog()
        self._turns: asyncio.Queue = asyncio.Queue(maxsize=MAX_QUEUED_TURNS)
        self._worker: asyncio.Task | None = None
        self._thinking = False
        self._after_speech: BotTurn | None = None     # what to do once the caller has heard the reply
        self._callback_offered = False
        self._turn_started: float | None = None   # when the caller's turn now being answered was taken
        self.ended = False
        self.busy = busy    # the gateway is at capacity: a callback, not a conversation
        self._admit = admit     # asked at the start: None takes the call, a reason turns it away
        self._tasks: set[asyncio.Task] = set()

    def _background(self, coroutine) -> None:
        """Run `coroutine` beside the call, holding a reference until it is done."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def id(self) -> str:
        return self.call_id or "unknown"

    # -- events from the line -----------------------------------------------------------

    async def handle(self, event: CallEvent) -> None:
        if self.ended:
            return
        if event.kind == START:
            if self.call_id is not None:
                log.warning("second start of one call ignored")
                return
            if not self.busy and self._admit is not None:    # asked before this call counts as taken
                refused = self._admit(event.call_id)
                if refused:
                    log.warning("call turned away: %s", refused)
                    self.busy = True
            self.call_id, self.caller = event.call_id or "unknown", event.caller or None
            # the greeting must not wait for the record (the API may be slow or down)
            CALLS.labels(self.channel, "busy" if self.busy else "yes").inc()
            self._background(records.report(self.id, channel=self.channel, caller_phone=self.caller, started=True,
                                            lease_seconds=settings.CALL_LEASE_SECONDS))
            if self.busy:
                self._background(self._busy_line())
            else:
                self._enqueue(GREET, speaker=None)
            return
        if self.call_id is None:
            log.warning("%s before start ignored", event.kind)
            return
        if event.kind == AUDIO:
            if self.busy:       # it only hears the message: nothing to recognise
                return
            for heard in self.audio.feed(event.pcm):
                self._on_heard(heard)
        elif event.kind in (KEY, PERSON):
            if self.speaker.talking:
                await self._stop_speaking()
            if event.kind == PERSON:
                self.keypad.ask_for_person()
            else:
                self.keypad.press(event.digit or "")
        elif event.kind == PLAYED:
            if self.speaker.played(event.mark or ""):
                await self._after_last_mark()
        elif event.kind == STOP:
            await self.end("caller hung up")

    def _on_heard(self, heard: Heard) -> None:
        if heard.kind == "speech_start" and self.speaker.talking:
            log.info("barge-in: the caller spoke over the bot")
            self._background(self._stop_speaking())
        elif heard.kind == "turn":
            self._enqueue(None, speaker="caller", utterance=heard.utterance, spoken=heard.spoken, joins=heard.joins)
        elif heard.kind == "no_input" and self._listening and self.line.prompts_on_silence:
            self._enqueue(SILENCE, speaker=None)

    @property
    def _listening(self) -> bool:
        """Waiting for the caller: not speaking, not waiting for Rasa, no turn underway."""
        return (not self.speaker.talking and not self._thinking and self._turns.empty()
                and not self.audio.in_utterance and not self.keypad.digits)

    # -- dialogue: one turn at a time, in order -----------------------------------------

    def _enqueue(self, text: str | None, *, speaker: str | None, said: str | None = None,
                 utterance=None, spoken: SpokenTurn | None = None, joins: SpokenTurn | None = None) -> None:
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
            self._turn_started = time.monotonic() if speaker == "caller" else None
            try:
                if utterance is not None:
                    await self.line.show("state", {"state": "thinking"})
                    text = await utterance.finish()   # service names already repaired
                    log.info("caller turn recognised (%d chars)", len(text))
                    if text:
                        await self.line.show("caption", {"speaker": "caller", "text": text})
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
                TURN_FAILURES.inc()
                log.exception("caller turn failed")
            finally:
                self._thinking = False

    async def _join(self, first: SpokenTurn, text: str) -> str:
        """The caller paused and went on: the two parts as one turn, the first forgotten by Rasa."""
        if first.in_rasa and not await self.bridge.rewind(self.id):
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
        turn = await self.bridge.send(self.id, text, caller=self.caller, channel=self.channel)
        if turn.failed:
            UNANSWERED.inc()
            self._callback_offered = True
        if spoken is not None:
            spoken.in_rasa = True
            spoken.final = bool(turn.handoff or turn.failed)   # a hand-off goes ahead whatever follows
            if spoken.went_on and not spoken.final:   # the caller is still talking: answer the whole turn
                return
        await self._bot_turn(turn)

    async def _bot_turn(self, turn: BotTurn) -> None:
        if self.ended:   # the caller hung up while this turn was being prepared
            return
        collect = turn.collect_digits
        self.audio.expect(turn.expect, int((collect or {}).get("max") or 0) or None)
        self.keypad.expect(collect)
        for text in turn.texts:
            self.log.add("bot", text)
            await self.line.show("caption", {"speaker": "bot", "text": text})
        if turn.show:
            await self.line.show("checklist", turn.show)
        if turn.handoff:
            await self.line.show("handoff", {"ticket": turn.handoff.get("ticket"), "text": "".join(turn.texts)})
        self._after_speech = turn if (turn.handoff or turn.hangup) else None
        await self.line.show("state", {"state": "speaking"})
        started, self._turn_started = self._turn_started, None
        if not await self.speaker.say(turn.texts, turn_started=started):
            await self._after_last_mark()

    async def _answer_callback_offer(self, text: str) -> None:
        self._callback_offered = False
        if not CALLBACK_YES.search(text):
            await self._bot_turn(BotTurn(texts=[CALLBACK_DECLINED], hangup=True))
            return
        ticket = await records.file_callback(self.id, caller_phone=self.caller, channel=self.channel,
                                             transcript=self.log.for_ticket())
        HANDOFFS.labels("callback", "timeout" if ticket else "not_filed").inc()
        await self._bot_turn(BotTurn(texts=[CALLBACK_FILED if ticket else CALLBACK_FAILED], hangup=True))

    async def _busy_line(self) -> None:
        words = await shedding.turn_away(self.id, caller=self.caller, channel=self.channel)
        await self._bot_turn(BotTurn(texts=[words], hangup=True))

    # -- after speaking -----------------------------------------------------------------

    async def _stop_speaking(self) -> None:
        await self.speaker.stop()
        if self._after_speech is not None:   # an announced handoff or goodbye still happens
            await self._after_last_mark()

    async def _after_last_mark(self) -> None:
        """The caller has heard the whole reply: act on it, then listen."""
        turn, self._after_speech = self._after_speech, None
        self.audio.reply_heard()
        await self.line.show("state", {"state": "listening"})
        if turn is None:
            return
        if turn.handoff and turn.handoff.get("transfer"):
            outcome = await self.line.transfer(self.id, turn.handoff)
            HANDOFFS.labels("transfer", str(outcome.get("outcome") or "unknown")).inc()
            await records.report(self.id, channel=self.channel, transfer=outcome)
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
        self.speaker.cancel()
        self.keypad.cancel()
        if running(self._worker) and self._worker is not asyncio.current_task():
            self._worker.cancel()
        self.audio.abandon()
        self.ended = True
        if self.call_id:
            await records.report(self.call_id, channel=self.channel, ended=True)
        await self.line.hang_up()
