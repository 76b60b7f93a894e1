"""Turn-taking on the caller's audio: when speech starts (barge-in), when a turn ends.

A fixed long wait makes every answer slow; a fixed short one cuts older callers off in
the middle of a sentence. So the wait depends on what was heard so far:

- the detector reports a `pause` once the caller has been quiet PAUSE_CHECK_MS inside a
  turn; the call asks the recogniser for the words so far and sets the wait for this
  pause with `wait(ms)` (`end_silence_for` below says how long);
- a complete request or a complete answer to the question just asked (a whole phone
  number, 是/不是, a day) ends after SHORT_WAIT_MS; a turn that only names an errand after
  NAMED_WAIT_MS; a fragment (a trailing 那个、就是、我想、的, half a number) waits
  LONG_WAIT_MS; anything else END_SILENCE_MS (the old fixed wait);
- a slow speaker, or a caller who has already paused this long and gone on (inside a
  turn, or right after the gateway ended one), gets more.

A turn is also cut at VOICE_MAX_UTTERANCE_MS, and a caller who says nothing for
VOICE_NO_INPUT_MS after a question produces a `no_input` event (the gateway reprompts
gently, never hangs up). Works on 20 ms frames of 16 kHz PCM16, the recogniser's format.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import webrtcvad

from contract import normalize_digits

FRAME_MS = 20
FRAME_BYTES = 16000 * 2 * FRAME_MS // 1000        # 640 bytes of 16 kHz PCM16
END_SILENCE_MS = int(os.environ.get("VOICE_END_SILENCE_MS", "1200"))
SHORT_WAIT_MS = int(os.environ.get("VOICE_END_SILENCE_SHORT_MS", "600"))
LONG_WAIT_MS = int(os.environ.get("VOICE_END_SILENCE_LONG_MS", "2000"))
# A turn that only names an errand (医保报销, 我要办残疾证) is a whole request, but callers
# often name the topic, pause and go on (公积金贷款 … 利率现在是多少): just over such a pause.
NAMED_WAIT_MS = 900
MAX_WAIT_MS = 2500
PAUSE_CHECK_MS = 400              # when the words so far are looked at (the decoder has caught up)
SLOW_EXTRA_MS = 400               # added for a slow speaker
RESUME_MS = 1500                  # speech this soon after a turn ended: the caller had not finished
SLOW_CHARS_PER_SECOND = 2.5       # measured over the speech of the turn (typical speech: 4–5)
START_SPEECH_MS = int(os.environ.get("VOICE_START_SPEECH_MS", "160"))   # ignore clicks and coughs
MAX_UTTERANCE_MS = int(os.environ.get("VOICE_MAX_UTTERANCE_MS", "20000"))
NO_INPUT_MS = int(os.environ.get("VOICE_NO_INPUT_MS", "7000"))
PRE_ROLL_MS = 300
VAD_MODE = int(os.environ.get("VOICE_VAD_MODE", "2"))   # 0 lenient … 3 strict about what is speech


@dataclass
class TurnDetector:
    end_silence_ms: int = END_SILENCE_MS
    start_speech_ms: int = START_SPEECH_MS
    max_utterance_ms: int = MAX_UTTERANCE_MS
    no_input_ms: int = NO_INPUT_MS
    vad_mode: int = VAD_MODE
    pause_check_ms: int = PAUSE_CHECK_MS
    _vad: webrtcvad.Vad = field(init=False, repr=False)
    _speech_run: int = field(default=0, init=False)
    _silence_run: int = field(default=0, init=False)
    _waiting: int = field(default=0, init=False)
    _wait: int | None = field(default=None, init=False)
    _audio: bytearray = field(default_factory=bytearray, init=False)
    _pending: bytearray = field(default_factory=bytearray, init=False)
    in_speech: bool = field(default=False, init=False)
    speech_ms: int = field(default=0, init=False)          # voiced time in the current turn
    longest_pause_ms: int = field(default=0, init=False)   # the longest pause a caller went on after (whole call)
    pauses: int = field(default=0, init=False)             # pauses reported so far (identifies the current one)
    _since_end: int | None = field(default=None, init=False)   # silence since the last turn ended
    _ended_after: int = field(default=0, init=False)           # the silence that ended it

    def __post_init__(self) -> None:
        self._vad = webrtcvad.Vad(self.vad_mode)

    def reset(self) -> None:
        """Start listening for a new turn (after the bot asked something)."""
        self._speech_run = self._silence_run = self._waiting = self.speech_ms = 0
        self._wait = None
        self._audio.clear()
        self.in_speech = False

    @property
    def silence_ms(self) -> int:
        """How long the caller has been quiet inside the current turn."""
        return self._silence_run

    @property
    def current_wait_ms(self) -> int:
        """The silence that ends the turn now: what was set for this pause, never less than
        the longest pause this caller has already gone on after (plus a margin)."""
        wait = self.end_silence_ms if self._wait is None else self._wait
        if self.longest_pause_ms:
            wait = max(wait, min(self.longest_pause_ms + 300, MAX_WAIT_MS))
        return wait

    def wait(self, ms: int, pause: int | None = None) -> None:
        """Set how much silence ends the turn during pause number `pause` (ignored if the
        caller has spoken again since)."""
        if self.in_speech and (pause is None or pause == self.pauses) and self._silence_run:
            self._wait = max(0, min(ms, MAX_WAIT_MS))

    def utterance_so_far(self) -> bytes:
        """The current turn's audio from its lead-in up to now (for streaming recognition)."""
        return bytes(self._audio)

    def feed(self, pcm16k: bytes) -> list[tuple[str, bytes]]:
        """Events from this audio: ("speech_start", b""), ("pause", b""), ("end_of_turn",
        utterance), ("no_input", b""). Audio may arrive in any chunk size."""
        self._pending.extend(pcm16k)
        events = []
        while len(self._pending) >= FRAME_BYTES:
            frame = bytes(self._pending[:FRAME_BYTES])
            del self._pending[:FRAME_BYTES]
            event = self._frame(frame)
            if event:
                events.append(event)
        return events

    def _frame(self, frame: bytes) -> tuple[str, bytes] | None:
        speech = self._vad.is_speech(frame, 16000)
        if not self.in_speech:
            self._audio.extend(frame)
            self._speech_run = self._speech_run + FRAME_MS if speech else 0
            if self._since_end is not None:
                self._since_end += FRAME_MS
            if self._speech_run >= self.start_speech_ms:
                if self._since_end is not None and self._since_end - self._speech_run <= RESUME_MS:
                    # the caller went on right after we ended their turn: wait at least that long next time
                    gap = self._ended_after + self._since_end - self._speech_run
                    self.longest_pause_ms = max(self.longest_pause_ms, gap)
                self._since_end = None
                self.in_speech, self._silence_run, self.speech_ms = True, 0, self._speech_run
                return ("speech_start", b"")
            # keep a short lead-in: the speech run so far plus a pre-roll, because the
            # detector notices a soft first syllable (我…) only after it has begun
            del self._audio[:-FRAME_BYTES * ((self.start_speech_ms + PRE_ROLL_MS) // FRAME_MS)]
            self._waiting += FRAME_MS
            if self._waiting >= self.no_input_ms:
                self._waiting = 0
                return ("no_input", b"")
            return None
        self._audio.extend(frame)
        if speech:
            if self._silence_run >= self.pause_check_ms:        # the caller went on after a pause
                self.longest_pause_ms = max(self.longest_pause_ms, self._silence_run)
            self._silence_run, self._wait = 0, None
            self.speech_ms += FRAME_MS
        else:
            self._silence_run += FRAME_MS
        length_ms = len(self._audio) // FRAME_BYTES * FRAME_MS
        if (self._silence_run and self._silence_run >= self.current_wait_ms) or length_ms >= self.max_utterance_ms:
            utterance = bytes(self._audio)
            self._ended_after, self._since_end = self._silence_run, 0
            self.reset()
            return ("end_of_turn", utterance)
        if self._silence_run == self.pause_check_ms:
            self.pauses += 1
            return ("pause", b"")
        return None


# ---------------------------------------------------------------- how long to wait

# Trailing words after which a sentence obviously goes on.
_FRAGMENT_END = re.compile(
    r"(那个|这个|就是|就是说|然后|还有|还是|而且|但是|可是|因为|所以|如果|要是|和|跟|还|或者|"
    r"我想|我要|我想问|想问|问一下|请问|我问|帮我|给我|关于|我的|我们|我妈|我爸|他的|她的|的|得|地|在|是|把|"
    r"嗯|呃|啊|那|这|就|我|一下)$")
# How a whole request or question ends: a question particle or closing phrase, or a
# question word followed by a few characters (怎么补办, 去哪办, 要带什么材料, 能不能取出来).
_COMPLETE_END = re.compile(
    r"(吗|嘛|呢|什么|啥|多少|多少钱|几点|几号|多久|没有|不行|行不行|怎么办|怎么样|怎么回事|咋办|咋整|"
    r"转人工|人工服务|再说一遍|没听清|谢谢|再见|拜拜|救命|救救我|帮帮我)$"
    r"|(怎么|咋|如何|哪里|哪儿|哪|什么|啥|多少|几|多久|能不能|可不可以|可以|要不要|会不会|是不是|为什么)"
    r"[\u3400-\u9fff]{1,4}$")
_FILLERS = "啊吧呀哦嗯了的嘛哈"
# What may come before an errand's name when the caller simply names it ("我想问一下社保卡"
# is not one: the question about it usually follows).
_LEAD_IN = re.compile(r"^(喂|你好|您好)*(我要办|我想办|帮我办|我要|办|补|查一下)?")
# Short answers that are whole turns on their own (but 是不是 at the end of a sentence is not one).
_WHOLE_ANSWERS = frozenset("好 好的 行 可以 是 是的 对 对的 不是 不用 不用了 不要 算了 没有 没错 嗯 嗯嗯".split())
def _names_an_errand(text: str) -> bool:
    """Is the whole turn an errand's name, perhaps after a short lead-in?"""
    from voice.asr.service_names import targets

    core = _LEAD_IN.sub("", text.rstrip(_FILLERS))
    found = targets()
    return bool(core) and (core in found.names or core in found.slips)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", normalize_digits(text))


def end_silence_for(text: str, expect: str | None = None, digits_wanted: int | None = None,
                    speech_ms: int = 0) -> int:
    """How much silence ends the caller's turn, given the words heard so far, what the bot
    asked for (vocabulary name) and how many digits it wants."""
    from voice.asr.vocabularies import VOCABULARIES, parses

    text = re.sub(r"[，。？！、,.?!\s]", "", text or "")
    if not text:
        return END_SILENCE_MS
    if expect == "digits" or digits_wanted:
        digits = _digits(text)
        if digits and len(text) - len(digits) <= 2:            # a number, maybe with 是 / 的
            if digits_wanted:
                return SHORT_WAIT_MS if len(digits) >= digits_wanted else LONG_WAIT_MS
            return SHORT_WAIT_MS if len(digits) in (4, 8, 11) else LONG_WAIT_MS
    if expect in VOCABULARIES and parses(text, VOCABULARIES[expect]):
        wait = SHORT_WAIT_MS                                   # the answer to the question asked
    elif text in _WHOLE_ANSWERS or _COMPLETE_END.search(text) or _COMPLETE_END.search(text.rstrip(_FILLERS)):
        wait = SHORT_WAIT_MS                                   # a whole question or request
    elif _names_an_errand(text):
        wait = NAMED_WAIT_MS                                   # the topic, maybe more to come
    elif _FRAGMENT_END.search(text):
        wait = LONG_WAIT_MS                                    # the sentence goes on
    else:
        wait = END_SILENCE_MS
    chars = len(re.findall(r"[\u3400-\u9fff]", text))
    if speech_ms >= 1000 and chars / (speech_ms / 1000) < SLOW_CHARS_PER_SECOND:
        wait += SLOW_EXTRA_MS
    return min(wait, MAX_WAIT_MS)
