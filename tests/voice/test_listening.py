"""Turn-taking with the real recogniser: fixed recordings of synthesised caller speech
through the telephone channel into the gateway's Listener (tools.speech_material.turn_ends)."""
from __future__ import annotations

import asyncio

from tests.voice.conftest import recorded
from tools.speech_material import over_the_phone, turn_ends
from voice.turns import END_SILENCE_MS, LONG_WAIT_MS, SHORT_WAIT_MS


def silence(ms: int) -> bytes:
    return bytes(32 * ms)


def ends(recognizer, pcm: bytes, **options) -> list[tuple[int, str]]:
    return asyncio.run(turn_ends(recognizer, pcm, **options))


def test_a_whole_question_is_answered_sooner_than_before(recognizer):
    speech = over_the_phone(recorded("我的社保卡丢了怎么补办"), pad=False)
    audio = speech + silence(3000)
    adaptive, fixed = ends(recognizer, audio), ends(recognizer, audio, adaptive=False)
    assert len(adaptive) == len(fixed) == 1 and "社保卡" in adaptive[0][1]
    end_of_speech = len(speech) // 32
    waited, waited_before = adaptive[0][0] - end_of_speech, fixed[0][0] - end_of_speech
    print(f"\nwhole question: turn ended {waited} ms after the audio (fixed wait: {waited_before} ms)")
    assert waited < waited_before and waited <= SHORT_WAIT_MS + 300
    assert waited_before >= END_SILENCE_MS - 300


def test_a_pause_after_a_fragment_does_not_cut_the_caller_off(recognizer):
    first, second = recorded("我想问一下那个"), recorded("社保卡丢了怎么补办")
    audio = over_the_phone(first, pad=False) + silence(800) + over_the_phone(second, pad=False) + silence(3000)
    found = ends(recognizer, audio)
    assert len(found) == 1, found
    assert "社保卡" in found[0][1]


def test_a_fragment_alone_is_waited_for_long(recognizer):
    speech = over_the_phone(recorded("我想问一下那个"), pad=False)
    found = ends(recognizer, speech + silence(4000))
    assert len(found) == 1
    assert found[0][0] - len(speech) // 32 >= LONG_WAIT_MS - 400


def test_half_a_phone_number_is_waited_for(recognizer):
    half = over_the_phone(recorded("幺三八零零"), pad=False)
    whole = over_the_phone(recorded("幺三八零零幺二三四五六"), pad=False)
    half_ends = ends(recognizer, half + silence(4000), expect="digits", digits_wanted=11)
    whole_ends = ends(recognizer, whole + silence(4000), expect="digits", digits_wanted=11)
    assert half_ends[0][0] - len(half) // 32 > whole_ends[0][0] - len(whole) // 32 + 600
    assert sum(ch.isdigit() for ch in whole_ends[0][1]) == 11
