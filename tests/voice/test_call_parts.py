"""The call's parts, each with fakes: Speaker (the bot's voice and its marks), Keypad (keys),
CallerAudio (turns and whether one goes on from the last) and CallSession (the call flow
between them). No Rasa, no recogniser, no speech synthesis, no network: fast."""
from __future__ import annotations

import asyncio
from collections import deque
from types import SimpleNamespace

import pytest

from contract import GREET, HUMAN, READABLE, REPEAT, SILENCE
from voice import caller_audio
from voice.call import CALLBACK_DECLINED, CALLBACK_FAILED, CALLBACK_FILED, TRANSFER_FAILED, CallSession
from voice.caller_audio import CallerAudio, Heard, SpokenTurn
from voice.dialogue import BotTurn
from voice.keypad import Keypad
from voice.shedding import BUSY_WITH_CALLBACK, KIOSK_BUSY
from voice.speaker import Speaker
from voice.telephony import AUDIO, KEY, PERSON, PLAYED, START, STOP, CallEvent

CALL_ID, CALLER = "CA-test-1", "+8613812345678"
RATE = 8000


# -- shared fakes ------------------------------------------------------------------------

class FakeLine:
    """voice.telephony.Line, recording every command in order."""

    def __init__(self, channel: str = "phone", *, prompts_on_silence: bool = True, narrowband: bool = True,
                 outcome: dict | None = None):
        self.channel, self.prompts_on_silence, self.narrowband = channel, prompts_on_silence, narrowband
        self.outcome = outcome or {"outcome": "transferred"}
        self.calls: list[tuple] = []
        self.gate: asyncio.Event | None = None      # play() waits for it (audio still being sent) ...
        self.hold_after = 0                         # ... once this many plays went through

    async def play(self, pcm: bytes, rate: int) -> None:
        self.calls.append(("play", pcm, rate))
        if self.gate is not None and len(self.of("play")) > self.hold_after:
            await self.gate.wait()

    async def mark(self, name: str) -> None:
        self.calls.append(("mark", name))

    async def clear(self) -> None:
        self.calls.append(("clear",))

    async def show(self, kind: str, content: dict) -> None:
        self.calls.append(("show", kind, content))

    async def transfer(self, call_id: str, handoff: dict) -> dict:
        self.calls.append(("transfer", call_id, handoff))
        return dict(self.outcome)

    async def hang_up(self) -> None:
        self.calls.append(("hang_up",))

    def of(self, command: str) -> list[tuple]:
        return [call for call in self.calls if call[0] == command]

    @property
    def marks(self) -> list[str]:
        return [call[1] for call in self.of("mark")]

    @property
    def played(self) -> list[str]:
        """The sentences sent to the line (FakeSpeech's pcm is the sentence's UTF-8)."""
        return [call[1].decode() for call in self.of("play")]

    def shown(self, kind: str) -> list[dict]:
        return [call[2] for call in self.of("show") if call[1] == kind]

    def after_hang_up(self) -> list[tuple]:
        hung = [i for i, call in enumerate(self.calls) if call[0] == "hang_up"]
        return self.calls[hung[0] + 1:] if hung else []


class FakeSpeech:
    """voice.tts.SpeechChain: the 'audio' is the sentence itself."""

    def __init__(self, fail: set[str] | None = None, fail_all: bool = False):
        self.spoken: list[str] = []
        self.fail, self.fail_all = fail or set(), fail_all

    async def speak(self, text: str):
        self.spoken.append(text)
        await asyncio.sleep(0)
        if self.fail_all or text in self.fail:
            raise RuntimeError("synthesis failed")
        return SimpleNamespace(pcm=text.encode(), rate=RATE)


class FakeBridge:
    """voice.dialogue.RasaBridge answering from a script (then a plain 好的。)."""

    def __init__(self, *turns: BotTurn, rewound: bool = True):
        self.script = deque(turns)
        self.sent: list[tuple] = []
        self.rewinds: list[str] = []
        self.rewound = rewound

    async def send(self, call_id: str, text: str, *, caller: str | None, channel: str = "phone") -> BotTurn:
        self.sent.append((call_id, text, caller, channel))
        return self.script.popleft() if self.script else BotTurn(texts=["好的。"])

    async def rewind(self, call_id: str) -> bool:
        self.rewinds.append(call_id)
        return self.rewound

    @property
    def texts(self) -> list[str]:
        return [sent[1] for sent in self.sent]


class FakeUtterance:
    def __init__(self, text: str):
        self.text, self.abandoned = text, False

    async def finish(self) -> str:
        return self.text

    def abandon(self) -> None:
        self.abandoned = True


class FakeListener:
    """voice.listening.Listener: each feed() returns the next scripted list of events."""

    def __init__(self, *script: list):
        self.script = deque(script)
        self.expect: str | None = None
        self.digits_wanted: int | None = None
        self.utterance = None
        self.fed: list[bytes] = []
        self.resets = self.abandons = 0

    def feed(self, pcm: bytes) -> list:
        self.fed.append(pcm)
        return self.script.popleft() if self.script else []

    def reset(self) -> None:
        self.resets += 1

    def abandon(self) -> None:
        self.abandons += 1


def audio_ms(ms: float) -> bytes:
    """`ms` of 16 kHz PCM16 silence (32 bytes a millisecond)."""
    return bytes(int(ms) * 32)


async def until(condition, timeout: float = 2.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting for the call")
        await asyncio.sleep(0.001)


async def settle() -> None:
    """Let every task of the call run as far as it can."""
    for _ in range(20):
        await asyncio.sleep(0.001)


async def start_call(line: FakeLine, bridge: FakeBridge, *, speech: FakeSpeech | None = None,
                     busy: bool = False, wait: bool = True) -> CallSession:
    session = CallSession(line, recognizer=object(), speech=speech or FakeSpeech(), bridge=bridge, busy=busy)
    await session.handle(CallEvent(START, call_id=CALL_ID, caller=CALLER))
    if wait:
        await until(lambda: line.marks and not session._thinking)
    return session


async def hear_all(session: CallSession, line: FakeLine) -> None:
    """The line played everything sent so far: its last mark comes back."""
    await session.handle(CallEvent(PLAYED, mark=line.marks[-1]))


async def caller_says(session: CallSession, text: str, **heard) -> None:
    session._on_heard(Heard("turn", FakeUtterance(text), **heard))
    await settle()


# -- Speaker -----------------------------------------------------------------------------

def test_speaker_plays_each_sentence_then_marks_it():
    async def scenario():
        line = FakeLine()
        speaker = Speaker(line, FakeSpeech())
        assert await speaker.say(["你好。请问有什么事？", "我在听"]) is True
        first = list(line.calls)
        assert await speaker.say(["再见。"]) is True
        return first, line.calls[len(first):]

    first, second = asyncio.run(scenario())
    assert first == [("play", "你好。".encode(), RATE), ("mark", "reply1-1/3"),
                     ("play", "请问有什么事？".encode(), RATE), ("mark", "reply1-2/3"),
                     ("play", "我在听".encode(), RATE), ("mark", "reply1-3/3")]
    assert second == [("play", "再见。".encode(), RATE), ("mark", "reply2-1/1")]


def test_speaker_with_nothing_to_say_returns_false_and_sends_nothing():
    async def scenario():
        line = FakeLine()
        speech = FakeSpeech()
        speaker = Speaker(line, speech)
        return await speaker.say([]), await speaker.say(["", "  "]), speaker.talking, line.calls, speech.spoken

    assert asyncio.run(scenario()) == (False, False, False, [], [])


def test_speaker_synthesises_the_next_sentence_while_the_current_one_plays():
    async def scenario():
        line, speech = FakeLine(), FakeSpeech()
        line.gate = asyncio.Event()
        speaker = Speaker(line, speech)
        saying = asyncio.create_task(speaker.say(["第一句。第二句。第三句。"]))
        await until(lambda: line.of("play"))
        await settle()
        during_first = (list(speech.spoken), line.played, speaker.talking)
        line.gate.set()
        await saying
        return during_first, speech.spoken

    (spoken, played, talking), spoken_in_all = asyncio.run(scenario())
    assert played == ["第一句。"] and talking
    assert spoken == ["第一句。", "第二句。"]        # the second is ready before the first has played
    assert spoken_in_all == ["第一句。", "第二句。", "第三句。"]


def test_speaker_is_talking_until_the_last_mark_is_played():
    async def scenario():
        line = FakeLine()
        speaker = Speaker(line, FakeSpeech())
        await speaker.say(["一。二。三。"])
        seen = [speaker.talking]
        seen.append(speaker.played("reply1-1/3"))
        seen.append(speaker.talking)
        seen.append(speaker.played("reply1-2/3"))
        seen.append(speaker.played("reply1-3/3"))
        seen.append(speaker.talking)
        seen.append(speaker.played("reply1-3/3"))      # already consumed
        return seen

    assert asyncio.run(scenario()) == [True, False, True, False, True, False, None]


def test_a_later_mark_consumes_the_earlier_ones_and_unknown_marks_are_none():
    async def scenario():
        speaker = Speaker(FakeLine(), FakeSpeech())
        await speaker.say(["一。二。三。"])
        unknown = speaker.played("somebody-else")
        still = speaker.talking
        last = speaker.played("reply1-3/3")
        return unknown, still, last, speaker.played("reply1-1/3"), speaker.played("reply1-2/3"), speaker.talking

    assert asyncio.run(scenario()) == (None, True, True, None, None, False)


def test_stop_clears_the_line_when_marks_are_pending():
    async def scenario():
        line = FakeLine()
        speaker = Speaker(line, FakeSpeech())
        await speaker.say(["一。二。"])
        await speaker.stop()
        return line.calls[-1], len(line.of("clear")), speaker.talking, speaker.played("reply1-2/2")

    assert asyncio.run(scenario()) == (("clear",), 1, False, None)


def test_stop_without_pending_marks_does_not_clear():
    async def scenario():
        line = FakeLine()
        speaker = Speaker(line, FakeSpeech())
        await speaker.stop()                              # never spoke
        await speaker.say(["一。"])
        speaker.played("reply1-1/1")                      # all heard
        await speaker.stop()
        return line.of("clear")

    assert asyncio.run(scenario()) == []


def test_stop_cancels_a_reply_being_sent():
    async def scenario():
        line = FakeLine()
        line.gate = asyncio.Event()
        speaker = Speaker(line, FakeSpeech())
        saying = asyncio.create_task(speaker.say(["一。二。三。"]))
        await until(lambda: line.of("play"))
        assert speaker.talking
        await speaker.stop()
        said = await saying                               # the barge-in does not raise in say()
        line.gate.set()
        await settle()
        return said, line.played, line.marks, line.of("clear"), speaker.talking

    said, played, marks, clears, talking = asyncio.run(scenario())
    assert said is True and played == ["一。"] and marks == []
    assert clears == [] and not talking                  # no mark was pending: nothing to clear


def test_stop_after_some_marks_clears_and_sends_no_more():
    async def scenario():
        line = FakeLine()
        speaker = Speaker(line, FakeSpeech())
        line.gate, line.hold_after = asyncio.Event(), 1   # the second sentence is still being sent
        saying = asyncio.create_task(speaker.say(["一。二。三。"]))
        await until(lambda: len(line.of("play")) == 2)
        await speaker.stop()
        await saying
        line.gate.set()
        await settle()
        return line.played, line.marks, line.calls[-1], speaker.talking

    played, marks, last, talking = asyncio.run(scenario())
    assert played == ["一。", "二。"] and marks == ["reply1-1/3"]
    assert last == ("clear",) and not talking


def test_a_synthesis_failure_does_not_propagate():
    async def scenario():
        line = FakeLine()
        speaker = Speaker(line, FakeSpeech(fail={"二。"}))
        said = await speaker.say(["一。二。三。"])
        return said, line.played, line.marks, speaker.played("reply1-1/3"), speaker.talking

    said, played, marks, heard_all, talking = asyncio.run(scenario())
    assert said is True and played == ["一。"] and marks == ["reply1-1/3"]
    assert heard_all is True and not talking              # nothing more is coming


def test_a_failure_of_the_first_sentence_sends_nothing():
    async def scenario():
        line = FakeLine()
        speaker = Speaker(line, FakeSpeech(fail_all=True))
        await speaker.say(["一。二。"])
        return line.calls, speaker.talking

    assert asyncio.run(scenario()) == ([], False)


def test_cancel_stops_sending():
    async def scenario():
        line = FakeLine()
        line.gate = asyncio.Event()
        speaker = Speaker(line, FakeSpeech())
        saying = asyncio.create_task(speaker.say(["一。二。"]))
        await until(lambda: line.of("play"))
        speaker.cancel()
        await saying
        line.gate.set()
        await settle()
        return line.played, line.marks, speaker.talking

    assert asyncio.run(scenario()) == (["一。"], [], False)


# -- Keypad ------------------------------------------------------------------------------

def keypad(timeout_s: float = 5.0) -> tuple[Keypad, list]:
    submitted: list = []
    return Keypad(lambda text, said: submitted.append((text, said)), timeout_s=timeout_s), submitted


def test_zero_asks_for_a_person_and_star_for_a_repeat():
    async def scenario():
        pad, submitted = keypad()
        for key in "0*":
            pad.press(key)
        pad.press("5")                                    # not collecting: a digit is ignored
        pad.press("#")
        return submitted, pad.digits

    submitted, digits = asyncio.run(scenario())
    assert submitted == [(HUMAN, READABLE[HUMAN]), (REPEAT, READABLE[REPEAT])]
    assert digits == ""


def test_person_request_without_a_key():
    pad, submitted = keypad()
    pad.ask_for_person()
    assert submitted == [(HUMAN, READABLE[HUMAN])]


def test_digits_are_submitted_at_max():
    async def scenario():
        pad, submitted = keypad()
        pad.expect({"max": 4, "end": "#"})
        for key in "123":
            pad.press(key)
        before = list(submitted), pad.digits
        pad.press("4")
        pad.cancel()
        return before, submitted, pad.digits

    before, submitted, digits = asyncio.run(scenario())
    assert before == ([], "123")
    assert submitted == [("1234", None)] and digits == ""


def test_hash_ends_the_digits_early():
    async def scenario():
        pad, submitted = keypad()
        pad.expect({"max": 4})
        pad.press("#")                                    # nothing typed yet: nothing to submit
        for key in "05#":
            pad.press(key)
        pad.cancel()
        return submitted

    assert asyncio.run(scenario()) == [("05", None)]


def test_digits_are_submitted_after_a_pause():
    async def scenario():
        pad, submitted = keypad(timeout_s=0.01)
        pad.expect({"max": 4})
        pad.press("1")
        pad.press("2")
        before = list(submitted)
        await until(lambda: submitted)
        return before, submitted, pad.digits

    assert asyncio.run(scenario()) == ([], [("12", None)], "")


def test_star_while_collecting_repeats_and_clears_the_digits():
    async def scenario():
        pad, submitted = keypad()
        pad.expect({"max": 4})
        for key in "12*3456":
            pad.press(key)
        pad.cancel()
        return submitted

    assert asyncio.run(scenario()) == [(REPEAT, READABLE[REPEAT]), ("3456", None)]


@pytest.mark.parametrize("how", ["hash", "pause"])
def test_a_lone_zero_typed_while_collecting_is_a_person_request(how):
    async def scenario():
        pad, submitted = keypad(timeout_s=0.01)
        pad.expect({"max": 4})
        pad.press("0")
        assert pad.digits == "0" and submitted == []    # collected, not yet a request
        if how == "hash":
            pad.press("#")
        await until(lambda: submitted)
        await settle()
        return submitted

    assert asyncio.run(scenario()) == [(HUMAN, READABLE[HUMAN])]


def test_expect_none_stops_collecting():
    async def scenario():
        pad, submitted = keypad(timeout_s=0.01)
        pad.expect({"max": 4})
        pad.press("1")
        pad.press("2")
        pad.expect(None)
        dropped = pad.digits
        pad.press("3")
        pad.press("#")
        await asyncio.sleep(0.05)                         # the pause timer was stopped too
        return dropped, pad.digits, submitted

    assert asyncio.run(scenario()) == ("", "", [])


def test_cancel_stops_the_timer():
    async def scenario():
        pad, submitted = keypad(timeout_s=0.01)
        pad.expect({"max": 4})
        pad.press("7")
        pad.cancel()
        await asyncio.sleep(0.05)
        return submitted

    assert asyncio.run(scenario()) == []


# -- CallerAudio -------------------------------------------------------------------------

WINDOW_MS = caller_audio.RESUME_WINDOW_S * 1000


def test_the_audio_clock_counts_16khz_pcm16():
    listener = FakeListener()
    audio = CallerAudio(listener)
    assert audio.feed(bytes(640)) == [] and audio.clock_ms == 20.0
    audio.feed(bytes(3200))
    assert audio.clock_ms == 120.0
    assert listener.fed == [bytes(640), bytes(3200)]


def test_a_free_turn_is_a_spoken_turn_and_an_answer_is_not():
    first, second = FakeUtterance("我想办社保"), FakeUtterance("是的")
    listener = FakeListener([("speech_start", None)], [("turn", first)], [("turn", second)], [("no_input", None)])
    audio = CallerAudio(listener)
    assert audio.feed(audio_ms(100)) == [Heard("speech_start")]
    [turn] = audio.feed(audio_ms(100))
    assert turn.kind == "turn" and turn.utterance is first and turn.joins is None
    assert turn.spoken == SpokenTurn(ended_at_ms=200.0)
    audio.expect("yes_no", None)
    [answer] = audio.feed(audio_ms(100))
    assert answer.utterance is second and answer.spoken is None
    assert audio.feed(audio_ms(100)) == [Heard("no_input")]


def test_speech_soon_after_a_free_turn_joins_it():
    later = FakeUtterance("公积金")
    listener = FakeListener([("turn", FakeUtterance("我想办"))], [("speech_start", None)], [("turn", later)])
    audio = CallerAudio(listener)
    [first] = audio.feed(audio_ms(100))
    assert audio.feed(audio_ms(WINDOW_MS / 2)) == [Heard("speech_start")]
    assert first.spoken.went_on is True
    [second] = audio.feed(audio_ms(100))
    assert second.utterance is later and second.joins is first.spoken


def test_speech_after_the_window_is_a_new_turn():
    listener = FakeListener([("turn", FakeUtterance("我想办"))], [("speech_start", None)],
                            [("turn", FakeUtterance("公积金"))])
    audio = CallerAudio(listener)
    [first] = audio.feed(audio_ms(100))
    audio.feed(audio_ms(WINDOW_MS * 1.5))
    [second] = audio.feed(audio_ms(100))
    assert first.spoken.went_on is False and second.joins is None


def test_nothing_joins_a_turn_whose_reply_was_heard():
    listener = FakeListener([("turn", FakeUtterance("我想办"))], [("speech_start", None)],
                            [("turn", FakeUtterance("公积金"))])
    audio = CallerAudio(listener)
    [first] = audio.feed(audio_ms(100))
    audio.reply_heard()
    assert listener.resets == 1
    audio.feed(audio_ms(100))
    [second] = audio.feed(audio_ms(100))
    assert first.spoken.went_on is False and second.joins is None


def test_a_final_turn_is_never_joined():
    listener = FakeListener([("turn", FakeUtterance("转人工"))], [("speech_start", None)],
                            [("turn", FakeUtterance("谢谢"))])
    audio = CallerAudio(listener)
    [first] = audio.feed(audio_ms(100))
    first.spoken.final = True                             # its reply hands the call over
    audio.feed(audio_ms(100))
    [second] = audio.feed(audio_ms(100))
    assert first.spoken.went_on is False and second.joins is None


def test_an_answer_leaves_nothing_to_join():
    listener = FakeListener([("turn", FakeUtterance("我想办"))], [("turn", FakeUtterance("是的"))],
                            [("speech_start", None)], [("turn", FakeUtterance("嗯"))])
    audio = CallerAudio(listener)
    [first] = audio.feed(audio_ms(100))
    audio.expect("yes_no", None)
    audio.feed(audio_ms(100))
    audio.feed(audio_ms(100))
    [last] = audio.feed(audio_ms(100))
    assert first.spoken.went_on is False and last.joins is None


def test_expect_in_utterance_and_abandon_reach_the_listener():
    listener = FakeListener()
    audio = CallerAudio(listener)
    audio.expect("digits", 11)
    assert (listener.expect, listener.digits_wanted) == ("digits", 11)
    audio.expect(None, None)
    assert (listener.expect, listener.digits_wanted) == (None, None)
    assert audio.in_utterance is False
    listener.utterance = FakeUtterance("")
    assert audio.in_utterance is True
    audio.abandon()
    assert listener.abandons == 1


# -- CallSession: the call flow ----------------------------------------------------------

GREETING = BotTurn(texts=["您好，这里是政务帮办热线。请问您要办什么事？"])


def test_start_greets_the_caller(records):
    async def scenario():
        line, bridge = FakeLine(), FakeBridge(GREETING)
        session = await start_call(line, bridge)
        await settle()
        return line, bridge, session

    line, bridge, session = asyncio.run(scenario())
    assert bridge.sent == [(CALL_ID, GREET, CALLER, "phone")]
    assert line.played == ["您好，这里是政务帮办热线。", "请问您要办什么事？"]
    assert line.marks == ["reply1-1/2", "reply1-2/2"]
    assert {"speaker": "bot", "text": GREETING.texts[0]} in line.shown("caption")
    assert records.reports == [(CALL_ID, {"channel": "phone", "caller_phone": CALLER, "started": True, "lease_seconds": 60})]
    assert session.id == CALL_ID and not session.ended and line.of("hang_up") == []


def test_the_greeting_carries_the_lines_channel(records):
    async def scenario():
        line, bridge = FakeLine("kiosk", prompts_on_silence=False), FakeBridge(GREETING)
        await start_call(line, bridge)
        return bridge.sent

    assert asyncio.run(scenario()) == [(CALL_ID, GREET, CALLER, "kiosk")]


def test_a_checklist_and_a_handoff_are_shown(records):
    checklist = {"title": "要带的材料", "items": ["身份证"], "where": "一楼"}
    handoff = {"ticket": "T-42", "transfer": False}
    turn = BotTurn(texts=["请带上身份证。", "已经给您登记。"], show=checklist, handoff=handoff)

    async def scenario():
        line = FakeLine()
        await start_call(line, FakeBridge(turn))
        return line

    line = asyncio.run(scenario())
    assert line.shown("checklist") == [checklist]
    assert line.shown("handoff") == [{"ticket": "T-42", "text": "请带上身份证。已经给您登记。"}]


def test_the_bots_goodbye_hangs_up_once_heard(records):
    async def scenario():
        line = FakeLine()
        session = await start_call(line, FakeBridge(BotTurn(texts=["好的。再见。"], hangup=True)))
        await session.handle(CallEvent(PLAYED, mark=line.marks[0]))
        early = list(line.of("hang_up"))
        await hear_all(session, line)
        return early, line, session

    early, line, session = asyncio.run(scenario())
    assert early == []                                    # "再见" not heard yet
    assert line.calls[-1] == ("hang_up",) and session.ended
    assert (CALL_ID, {"channel": "phone", "ended": True}) in records.reports


def test_a_transfer_happens_after_the_last_mark(records):
    handoff = {"ticket": "T-7", "transfer": True}

    async def scenario():
        line = FakeLine(outcome={"outcome": "transferred", "ticket": "T-7"})
        session = await start_call(line, FakeBridge(BotTurn(texts=["这就给您转接。"], handoff=handoff)))
        before = list(line.of("transfer"))
        await hear_all(session, line)
        return before, line, session

    before, line, session = asyncio.run(scenario())
    assert before == []
    assert line.of("transfer") == [("transfer", CALL_ID, handoff)]
    assert (CALL_ID, {"channel": "phone", "transfer": {"outcome": "transferred", "ticket": "T-7"}}) in records.reports
    assert session.ended and line.calls[-1] == ("hang_up",)


def test_a_failed_transfer_says_so_then_hangs_up(records):
    async def scenario():
        line = FakeLine(outcome={"outcome": "failed", "reason": "no answer"})
        session = await start_call(line, FakeBridge(BotTurn(texts=["这就给您转接。"],
                                                            handoff={"ticket": "T-7", "transfer": True})))
        await hear_all(session, line)
        said_sorry = "".join(line.played[1:]) == TRANSFER_FAILED
        not_yet = (list(line.of("hang_up")), session.ended)
        await hear_all(session, line)
        return said_sorry, not_yet, line, session

    said_sorry, not_yet, line, session = asyncio.run(scenario())
    assert len(line.of("transfer")) == 1
    assert said_sorry and not_yet == ([], False)
    assert "".join(line.played[1:]) == TRANSFER_FAILED
    assert session.ended and line.calls[-1] == ("hang_up",)


@pytest.mark.parametrize("event", [CallEvent(KEY, digit="0"), CallEvent(PERSON)], ids=["key-0", "person"])
def test_asking_for_a_person_over_the_bot(records, event):
    async def scenario():
        line, bridge = FakeLine(), FakeBridge(GREETING)
        session = await start_call(line, bridge)
        assert session.speaker.talking                  # the greeting's marks are outstanding
        await session.handle(event)
        await until(lambda: len(bridge.sent) == 2)
        return line, bridge, session

    line, bridge, session = asyncio.run(scenario())
    assert line.of("clear") == [("clear",)]
    assert bridge.sent[1] == (CALL_ID, HUMAN, CALLER, "phone")
    assert [(t["speaker"], t["text"]) for t in session.log.turns][1] == ("caller", READABLE[HUMAN])


def test_a_key_while_the_bot_is_silent_does_not_clear(records):
    async def scenario():
        line, bridge = FakeLine(), FakeBridge(GREETING)
        session = await start_call(line, bridge)
        await hear_all(session, line)
        await session.handle(CallEvent(KEY, digit="*"))
        await until(lambda: len(bridge.sent) == 2)
        return line, bridge

    line, bridge = asyncio.run(scenario())
    assert line.of("clear") == [] and bridge.texts == [GREET, REPEAT]


def test_a_recognised_turn_is_captioned_and_sent(records, recent_turns):
    from voice.metrics import REGISTRY

    def answered_turns() -> float:
        return REGISTRY.get_sample_value("helpline_voice_turn_latency_seconds_count", {"channel": "phone"}) or 0

    before = answered_turns()

    async def scenario():
        line, bridge = FakeLine(), FakeBridge(GREETING, BotTurn(texts=["好的，社保。"]))
        session = await start_call(line, bridge)
        await hear_all(session, line)
        await caller_says(session, "我想办社保")
        await until(lambda: len(bridge.sent) == 2 and not session._thinking)
        return line, bridge

    line, bridge = asyncio.run(scenario())
    assert {"speaker": "caller", "text": "我想办社保"} in line.shown("caption")
    assert bridge.sent[1] == (CALL_ID, "我想办社保", CALLER, "phone")
    assert line.played[-1] == "好的，社保。"
    assert answered_turns() == before + 1          # the greeting is no caller turn: one latency only
    assert len(recent_turns) == 1                  # and the admission hears of it


def test_audio_events_go_through_caller_audio(records):
    class FakeAudio:
        def __init__(self):
            self.fed, self.in_utterance = [], False

        def feed(self, pcm):
            self.fed.append(pcm)
            return [Heard("turn", FakeUtterance("查一下进度"))]

        def expect(self, kind, digits):
            pass

        def reply_heard(self):
            pass

        def abandon(self):
            pass

    async def scenario():
        line, bridge = FakeLine(), FakeBridge(GREETING)
        session = await start_call(line, bridge)
        session.audio = FakeAudio()
        await session.handle(CallEvent(AUDIO, pcm=audio_ms(20)))
        await until(lambda: len(bridge.sent) == 2)
        return session.audio.fed, bridge.texts

    fed, texts = asyncio.run(scenario())
    assert fed == [audio_ms(20)] and texts == [GREET, "查一下进度"]


def test_an_empty_recognition_is_silence(records):
    async def scenario():
        line, bridge = FakeLine(), FakeBridge(GREETING)
        session = await start_call(line, bridge)
        await hear_all(session, line)
        await caller_says(session, "", spoken=SpokenTurn(0.0))
        await until(lambda: len(bridge.sent) == 2)
        return line, bridge, session

    line, bridge, session = asyncio.run(scenario())
    assert bridge.texts == [GREET, SILENCE]
    assert [c for c in line.shown("caption") if c["speaker"] == "caller"] == []
    assert all(turn["speaker"] != "caller" for turn in session.log.turns)


@pytest.mark.parametrize("channel, prompts, sent", [("phone", True, [GREET, SILENCE]), ("kiosk", False, [GREET])])
def test_no_input_prompts_only_where_silence_means_something(records, channel, prompts, sent):
    async def scenario():
        line, bridge = FakeLine(channel, prompts_on_silence=prompts), FakeBridge(GREETING)
        session = await start_call(line, bridge)
        await hear_all(session, line)
        session._on_heard(Heard("no_input"))
        await settle()
        return bridge.texts

    assert asyncio.run(scenario()) == sent


def test_no_input_while_the_bot_talks_is_not_silence(records):
    async def scenario():
        line, bridge = FakeLine(), FakeBridge(GREETING)
        session = await start_call(line, bridge)
        session._on_heard(Heard("no_input"))               # the greeting is still playing
        await settle()
        return bridge.texts

    assert asyncio.run(scenario()) == [GREET]


def failed_turn() -> BotTurn:
    return BotTurn(texts=["抱歉，系统有点忙。需要工作人员给您回电话吗？"], failed=True)


@pytest.mark.parametrize("answer, ticket, reply, filed", [
    ("好的，麻烦了", "CB-0001", CALLBACK_FILED, True),
    ("要", None, CALLBACK_FAILED, True),
    ("不用了", "CB-0001", CALLBACK_DECLINED, False),
])
def test_a_failed_turn_offers_a_callback(records, answer, ticket, reply, filed):
    from voice.metrics import REGISTRY

    def unanswered() -> float:
        return REGISTRY.get_sample_value("helpline_voice_assistant_unanswered_total") or 0

    records.ticket, before = ticket, unanswered()

    async def scenario():
        line, bridge = FakeLine(), FakeBridge(failed_turn())
        session = await start_call(line, bridge)
        await hear_all(session, line)
        await caller_says(session, answer, spoken=SpokenTurn(0.0))
        await until(lambda: session._after_speech is not None)
        spoken = "".join(line.played[2:])
        await hear_all(session, line)
        return line, bridge, session, spoken

    line, bridge, session, spoken = asyncio.run(scenario())
    assert bridge.texts == [GREET]                         # the answer is the gateway's, not Rasa's
    assert unanswered() == before + 1                      # counted where Prometheus sees it
    assert spoken == reply
    if filed:
        [(call_id, fields)] = records.callbacks
        assert call_id == CALL_ID and fields["caller_phone"] == CALLER and fields["channel"] == "phone"
        assert [(t["speaker"], t["text"]) for t in fields["transcript"]] == [
            ("bot", failed_turn().texts[0]), ("caller", answer)]
    else:
        assert records.callbacks == []
    assert session.ended and line.calls[-1] == ("hang_up",)


def test_a_busy_phone_line_files_a_callback(records):
    async def scenario():
        line, bridge = FakeLine(), FakeBridge()
        session = await start_call(line, bridge, busy=True)
        spoken = "".join(line.played)
        await hear_all(session, line)
        return line, bridge, session, spoken

    line, bridge, session, spoken = asyncio.run(scenario())
    assert bridge.sent == []
    assert records.callbacks == [(CALL_ID, {"caller_phone": CALLER, "channel": "phone", "transcript": [], "reason": "busy"})]
    assert spoken == BUSY_WITH_CALLBACK
    assert session.ended and line.calls[-1] == ("hang_up",)


def test_a_busy_kiosk_sends_people_to_the_desk(records):
    async def scenario():
        line, bridge = FakeLine("kiosk", prompts_on_silence=False), FakeBridge()
        session = await start_call(line, bridge, busy=True)
        spoken = "".join(line.played)
        await hear_all(session, line)
        return line, bridge, session, spoken

    line, bridge, session, spoken = asyncio.run(scenario())
    assert bridge.sent == [] and records.callbacks == []
    assert spoken == KIOSK_BUSY
    assert session.ended


def test_events_before_start_are_ignored(records):
    async def scenario():
        line, bridge = FakeLine(), FakeBridge(GREETING)
        session = CallSession(line, recognizer=object(), speech=FakeSpeech(), bridge=bridge)
        for event in (CallEvent(KEY, digit="0"), CallEvent(PERSON), CallEvent(PLAYED, mark="reply1-1/1"),
                      CallEvent(AUDIO, pcm=audio_ms(20)), CallEvent(STOP)):
            await session.handle(event)
        await settle()
        before = (list(line.calls), list(bridge.sent), list(records.reports), session.ended)
        await session.handle(CallEvent(START, call_id=CALL_ID, caller=CALLER))
        await until(lambda: bridge.sent)
        return before, bridge.texts

    before, texts = asyncio.run(scenario())
    assert before == ([], [], [], False)
    assert texts == [GREET]                               # the call starts normally afterwards


def test_a_second_start_is_ignored(records):
    async def scenario():
        line, bridge = FakeLine(), FakeBridge(GREETING)
        session = await start_call(line, bridge)
        await session.handle(CallEvent(START, call_id="CA-other", caller="+8610000000"))
        await settle()
        return session.id, bridge.texts

    assert asyncio.run(scenario()) == (CALL_ID, [GREET])


def test_nothing_happens_after_the_call_ends(records):
    async def scenario():
        line, bridge = FakeLine(), FakeBridge(GREETING)
        session = await start_call(line, bridge)
        await session.handle(CallEvent(STOP))
        ended = list(line.calls)
        for event in (CallEvent(KEY, digit="0"), CallEvent(PERSON), CallEvent(PLAYED, mark=line.marks[-1]),
                      CallEvent(AUDIO, pcm=audio_ms(20)), CallEvent(STOP)):
            await session.handle(event)
        await session.end("again")
        await settle()
        return ended, line, bridge, session

    ended, line, bridge, session = asyncio.run(scenario())
    assert session.ended and ended[-1] == ("hang_up",)
    assert line.calls == ended                            # no second hang-up, nothing after it
    assert bridge.texts == [GREET]
    assert [fields for _, fields in records.reports if fields.get("ended")] == [{"channel": "phone", "ended": True}]


def test_barge_in_clears_the_line(records):
    async def scenario():
        line, bridge = FakeLine(), FakeBridge(GREETING)
        session = await start_call(line, bridge)
        session._on_heard(Heard("speech_start"))
        await until(lambda: line.of("clear"))
        talking = session.speaker.talking
        session._on_heard(Heard("speech_start"))           # not talking any more: nothing to clear
        await settle()
        return line, talking

    line, talking = asyncio.run(scenario())
    assert line.of("clear") == [("clear",)] and not talking


def test_barge_in_over_a_goodbye_still_hangs_up(records):
    async def scenario():
        line = FakeLine()
        session = await start_call(line, FakeBridge(BotTurn(texts=["好的。再见。"], hangup=True)))
        session._on_heard(Heard("speech_start"))
        await until(lambda: session.ended)
        return line

    line = asyncio.run(scenario())
    assert line.of("clear") == [("clear",)] and line.calls[-1] == ("hang_up",)


def test_a_caller_who_goes_on_after_a_pause_is_one_turn(records):
    """Through the real CallerAudio on a fake listener: the first part went to Rasa, the
    caller went on within the resume window, so Rasa forgets it and hears both parts."""
    async def scenario():
        line = FakeLine()
        bridge = FakeBridge(GREETING, BotTurn(texts=["您要办什么？"]), BotTurn(texts=["公积金，好的。"]))
        session = await start_call(line, bridge)
        await hear_all(session, line)
        session.audio = CallerAudio(FakeListener(
            [("speech_start", None)], [("turn", FakeUtterance("我想办"))],
            [("speech_start", None)], [("turn", FakeUtterance("公积金"))]))
        await session.handle(CallEvent(AUDIO, pcm=audio_ms(200)))
        await session.handle(CallEvent(AUDIO, pcm=audio_ms(200)))
        await until(lambda: len(bridge.sent) == 2 and session.speaker.talking and not session._thinking)
        await session.handle(CallEvent(AUDIO, pcm=audio_ms(WINDOW_MS / 3)))   # went on talking soon
        await until(lambda: line.of("clear"))
        await session.handle(CallEvent(AUDIO, pcm=audio_ms(200)))
        await until(lambda: len(bridge.sent) == 3)
        return bridge, session

    bridge, session = asyncio.run(scenario())
    assert bridge.texts == [GREET, "我想办", "我想办，公积金"]
    assert bridge.rewinds == [CALL_ID]
    assert [t["text"] for t in session.log.turns if t["speaker"] == "caller"] == ["我想办", "公积金"]


# -- bugs --------------------------------------------------------------------------------

def test_a_busy_call_ended_while_filing_its_callback_sends_nothing_more(records):
    async def scenario():
        records.gate = asyncio.Event()                   # the API is slow to file the callback
        line = FakeLine()
        session = await start_call(line, FakeBridge(), busy=True, wait=False)
        await settle()
        await session.handle(CallEvent(STOP))            # the caller hangs up meanwhile
        records.gate.set()
        await settle()
        return line

    line = asyncio.run(scenario())
    assert line.calls[-1] == ("hang_up",), line.after_hang_up()


def test_a_goodbye_that_cannot_be_synthesised_still_hangs_up(records):
    async def scenario():
        line = FakeLine()
        session = CallSession(line, recognizer=object(), speech=FakeSpeech(fail_all=True),
                              bridge=FakeBridge(BotTurn(texts=["再见。"], hangup=True)))
        await session.handle(CallEvent(START, call_id=CALL_ID, caller=CALLER))
        await asyncio.sleep(0.05)
        return line, session

    line, session = asyncio.run(scenario())
    assert session.ended and line.of("hang_up") == [("hang_up",)]


@pytest.mark.parametrize("answer", ["没问题", "对，没错"])
def test_yes_with_mei_accepts_the_callback(records, answer):
    async def scenario():
        line, bridge = FakeLine(), FakeBridge(failed_turn())
        session = await start_call(line, bridge)
        await hear_all(session, line)
        await caller_says(session, answer, spoken=SpokenTurn(0.0))
        await until(lambda: session._after_speech is not None)
        return "".join(line.played[2:])

    assert asyncio.run(scenario()) == CALLBACK_FILED
    assert len(records.callbacks) == 1


@pytest.mark.parametrize("door", ["voice.telephony.twilio:TwilioMediaStream",
                                  "voice.telephony.audiosocket:AudioSocketLine",
                                  "voice.telephony.kiosk:KioskLine"])
def test_every_door_is_a_whole_line(door):
    """What the call uses of a line, every door has (a missing attribute would only show
    mid-call, e.g. at the first silence)."""
    import importlib
    import inspect

    from voice.telephony import Line

    module, name = door.split(":")
    line = getattr(importlib.import_module(module), name)
    for attribute in ("channel", "narrowband", "prompts_on_silence"):
        assert hasattr(line, attribute), f"{name} has no {attribute}"
    for command in ("play", "mark", "clear", "show", "transfer", "hang_up"):
        assert inspect.iscoroutinefunction(getattr(line, command, None)), f"{name}.{command}"
        assert list(inspect.signature(getattr(line, command)).parameters) == \
            list(inspect.signature(getattr(Line, command)).parameters), f"{name}.{command} takes other arguments"


# -- leases: the gateway vouches for its calls (voice/leases.py) ------------------------------

def test_the_gateway_renews_its_calls_and_releases_ended_ones_until_heard(records, monkeypatch):
    from voice import leases
    from voice.core import CallCore

    monkeypatch.setattr("voice.core.get_recognizer", lambda: object())
    rounds, answers = [], [False, True, True]

    async def keep_leases(held, ended, seconds):
        rounds.append((sorted(held), sorted(ended), seconds))
        return answers.pop(0)

    monkeypatch.setattr("voice.leases.records.keep_leases", keep_leases)
    core = CallCore(FakeSpeech(), FakeBridge(), max_calls=4)

    async def scenario():
        first, second = core.open(FakeLine()), core.open(FakeLine())
        await first.handle(CallEvent(START, call_id="CA-1", caller=CALLER))
        await second.handle(CallEvent(START, call_id="CA-2", caller=CALLER))
        core.open(FakeLine())                                   # no start yet: nothing to vouch for
        await first.end("caller hung up")
        assert await leases.lease_round(core, 30) is False      # the proxy service did not answer
        assert await leases.lease_round(core, 30) is True       # so CA-1 is released again
        assert await leases.lease_round(core, 30) is True
        await second.end("caller hung up")

    asyncio.run(scenario())
    assert rounds == [(["CA-2"], ["CA-1"], 30), (["CA-2"], ["CA-1"], 30), (["CA-2"], [], 30)]
    assert core.lease_round() == ([], ["CA-2"])


def test_calls_beyond_the_limit_are_busy_and_the_limit_frees_up_as_calls_end(records, monkeypatch):
    from voice.core import CallCore

    monkeypatch.setattr("voice.core.get_recognizer", lambda: object())
    core = CallCore(FakeSpeech(), FakeBridge(GREETING), max_calls=2)

    async def started(call_id: str, line: FakeLine | None = None) -> CallSession:
        session = core.open(line or FakeLine())
        await session.handle(CallEvent(START, call_id=call_id, caller=CALLER))
        return session

    async def scenario():
        first, second, line = await started("CA-1"), await started("CA-2"), FakeLine()
        third = await started("CA-3", line)
        assert (first.busy, second.busy, third.busy) == (False, False, True)
        await until(lambda: line.marks)
        await hear_all(third, line)
        await until(lambda: third.ended)
        assert core.in_progress == core.in_conversation == 2      # the busy call is gone, the two go on
        await first.end("caller hung up")
        assert (await started("CA-4")).busy is False              # a place is free again

    asyncio.run(scenario())
    assert [call for call, _ in records.callbacks] == ["CA-3"]
    assert records.callbacks[0][1]["reason"] == "busy"


def test_a_call_turned_away_hears_its_message_and_nothing_it_says_is_recognised(records):
    fed = []

    async def scenario():
        line = FakeLine()
        session = CallSession(line, recognizer=object(), speech=FakeSpeech(), bridge=FakeBridge(),
                              admit=lambda call_id: "full")
        session.audio.feed = lambda pcm: fed.append(pcm) or []
        await session.handle(CallEvent(START, call_id=CALL_ID, caller=CALLER))
        for _ in range(50):
            await session.handle(CallEvent(AUDIO, pcm=b"\x00" * 640))
        await until(lambda: line.marks)
        spoken = "".join(line.played)
        await hear_all(session, line)
        await until(lambda: session.ended)
        return session, line, spoken

    session, line, spoken = asyncio.run(scenario())
    assert session.busy and fed == []
    assert spoken == BUSY_WITH_CALLBACK and line.calls[-1] == ("hang_up",)
