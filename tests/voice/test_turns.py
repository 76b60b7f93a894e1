"""End-of-turn detection on real Mandarin speech through the phone path, and how long
the gateway waits given what the caller has said so far."""
from __future__ import annotations

import wave
from pathlib import Path

import pytest

from voice import audio
from voice.turns import (END_SILENCE_MS, FRAME_BYTES, FRAME_MS, LONG_WAIT_MS, NAMED_WAIT_MS, SHORT_WAIT_MS, SLOW_EXTRA_MS,
                         TurnDetector, end_silence_for)

RECORDINGS = Path(__file__).resolve().parents[3] / "shared" / "audio"


def phone_speech(name: str) -> bytes:
    """A real recording as the recogniser gets it from a call: 8 kHz μ-law and back."""
    with wave.open(str(RECORDINGS / name)) as wav:
        pcm = wav.readframes(wav.getnframes())
    return audio.phone_to_asr(b"".join(audio.speech_to_phone(pcm, 16000)))


def silence(ms: int) -> bytes:
    return b"\x00\x00" * (16 * ms)


def feed_in_chunks(detector: TurnDetector, pcm: bytes, chunk: int = 333, wait_ms: int | None = None) -> list[tuple[str, bytes]]:
    """Events of the audio; with `wait_ms`, every pause is answered with that wait."""
    events = []
    for start in range(0, len(pcm), chunk):
        for event in detector.feed(pcm[start:start + chunk]):
            events.append(event)
            if event[0] == "pause" and wait_ms is not None:
                detector.wait(wait_ms, detector.pauses)
    return events


def kinds(events) -> list[str]:
    return [kind for kind, _ in events]


@pytest.mark.parametrize("name", ["paddlespeech_zh.wav", "wenet_aishell_BAC009S0724W0121.wav"])
def test_a_spoken_turn_ends_after_the_long_silence(name):
    speech = phone_speech(name)
    detector = TurnDetector(end_silence_ms=1200)
    events = feed_in_chunks(detector, silence(500) + speech + silence(1500))
    assert kinds(events)[0] == "speech_start" and kinds(events)[-1] == "end_of_turn"
    assert set(kinds(events)) == {"speech_start", "pause", "end_of_turn"}
    utterance = events[-1][1]
    # The utterance holds the speech (and the closing silence), not the leading silence.
    assert len(speech) * 0.8 <= len(utterance) <= len(speech) + len(silence(1500))


def test_a_short_pause_does_not_end_the_turn():
    speech = phone_speech("paddlespeech_zh.wav")
    detector = TurnDetector(end_silence_ms=1200)
    # The recording ends in 0.5 s of silence: with 0.4 s more, the caller pauses 0.9 s.
    events = feed_in_chunks(detector, speech + silence(400) + speech + silence(1400))
    assert kinds(events).count("end_of_turn") == 1 and kinds(events)[-1] == "end_of_turn"


def test_silence_after_a_question_is_reported_not_ignored():
    detector = TurnDetector(no_input_ms=2000)
    events = feed_in_chunks(detector, silence(4100))
    assert kinds(events) == ["no_input", "no_input"]


def test_a_turn_is_cut_at_the_maximum_length():
    speech = phone_speech("funasr_asr_example.wav")
    detector = TurnDetector(max_utterance_ms=2000, end_silence_ms=5000)
    events = feed_in_chunks(detector, speech)
    ends = [payload for kind, payload in events if kind == "end_of_turn"]
    assert ends and len(ends[0]) <= 2000 // FRAME_MS * FRAME_BYTES


def test_the_wait_set_for_a_pause_ends_the_turn_sooner_or_later():
    speech = phone_speech("paddlespeech_zh.wav")           # ends in about 0.5 s of silence
    for wait in (SHORT_WAIT_MS, LONG_WAIT_MS):
        detector = TurnDetector(end_silence_ms=1200)
        events = feed_in_chunks(detector, speech + silence(3000), chunk=640, wait_ms=wait)
        assert kinds(events).count("end_of_turn") == 1
        ended_after = len(events[-1][1]) - (len(speech) - len(silence(480)))
        assert abs(ended_after / 32 - wait) <= 200, (wait, ended_after / 32)


def test_a_wait_for_an_earlier_pause_is_ignored_once_the_caller_goes_on():
    speech = phone_speech("paddlespeech_zh.wav")
    detector = TurnDetector(end_silence_ms=1200)
    feed_in_chunks(detector, speech)                      # into the recording's closing silence
    first_pause = detector.pauses
    feed_in_chunks(detector, speech[:16000])              # the caller speaks again
    detector.wait(0, first_pause)                         # a late verdict about the first pause
    events = feed_in_chunks(detector, silence(600))
    assert "end_of_turn" not in kinds(events)


def test_a_caller_who_paused_long_and_went_on_is_given_longer():
    speech = phone_speech("paddlespeech_zh.wav")
    detector = TurnDetector(end_silence_ms=1200)
    feed_in_chunks(detector, speech + silence(1000) + speech, chunk=640, wait_ms=2500)   # a 1.5 s pause, then on
    assert detector.longest_pause_ms >= 1400
    detector.wait(SHORT_WAIT_MS)
    assert detector.current_wait_ms >= detector.longest_pause_ms + 300


@pytest.mark.parametrize("heard, expect, digits, wait", [
    ("我的社保卡丢了怎么补办", None, None, SHORT_WAIT_MS),          # a whole question
    ("退休了公积金能不能取出来", None, None, SHORT_WAIT_MS),
    ("高龄津贴要带什么材料", None, None, SHORT_WAIT_MS),
    ("转人工", None, None, SHORT_WAIT_MS),
    ("我想问一下", None, None, LONG_WAIT_MS),                      # a fragment
    ("我想问一下社保卡的那个", None, None, LONG_WAIT_MS),
    ("我的社保卡丢了", None, None, END_SILENCE_MS),                # may go on: the usual wait
    ("我的社保卡丢了 怎么", None, None, END_SILENCE_MS),
    ("医保报销", None, None, NAMED_WAIT_MS),                      # only the errand: maybe more to come
    ("我要办残疾证", None, None, NAMED_WAIT_MS),
    ("我想问一下社保卡", None, None, END_SILENCE_MS),
    ("户口跨省迁移现在是不是", None, None, LONG_WAIT_MS),         # 是不是 ends no sentence here: more follows
    ("不是", "yes_no", None, SHORT_WAIT_MS),
    ("好的", None, None, SHORT_WAIT_MS),
    ("是的", "yes_no", None, SHORT_WAIT_MS),                      # the answer to the question asked
    ("明天上午", "day", None, SHORT_WAIT_MS),
    ("代办", "mode", None, SHORT_WAIT_MS),
    ("13800138000", "digits", 11, SHORT_WAIT_MS),                 # the whole number
    ("1380013", "digits", 11, LONG_WAIT_MS),                      # half a number
    ("5678", "digits", None, SHORT_WAIT_MS),
    ("", None, None, END_SILENCE_MS),
])
def test_how_long_to_wait_depends_on_what_was_said(heard, expect, digits, wait):
    assert end_silence_for(heard, expect, digits) == wait


def test_a_slow_speaker_is_given_more_time():
    assert end_silence_for("我想问一下", speech_ms=3000) == LONG_WAIT_MS + SLOW_EXTRA_MS   # 5 字 in 3 s
    assert end_silence_for("我想问一下", speech_ms=1200) == LONG_WAIT_MS                 # 5 字 in 1.2 s


def test_a_caller_who_went_on_right_after_the_turn_ended_is_given_longer_next_time():
    speech = phone_speech("paddlespeech_zh.wav")
    detector = TurnDetector(end_silence_ms=1200)
    events = feed_in_chunks(detector, speech + silence(700), chunk=640, wait_ms=SHORT_WAIT_MS)
    assert kinds(events)[-1] == "end_of_turn"
    feed_in_chunks(detector, silence(300) + speech[:32000])      # on again soon after the turn ended
    assert detector.longest_pause_ms >= SHORT_WAIT_MS + 250
    detector.wait(SHORT_WAIT_MS)
    assert detector.current_wait_ms >= detector.longest_pause_ms + 300
