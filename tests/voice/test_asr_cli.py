"""`python -m voice.asr`: one transcript per file, as the helpline hears it."""
from __future__ import annotations

import subprocess
import sys

from tools.model import ROOT
from tools.speech_material import SHARED_AUDIO, cer, write_wav
from voice import audio


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "voice.asr", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_transcripts_one_per_line_through_the_phone_channel(tmp_path):
    names = ["wenet_aishell_BAC009S0724W0121.wav", "paddlespeech_zh.wav", "dev/aishellsample_BAC009S0150W0100.wav"]
    said = ["广州市房地产中介协会分析", "我认为跑步最重要的就是给我带来了身体健康", "一三零零二五九八四八二"]
    # an 8 kHz telephone recording is decoded as one without --phone
    pcm, rate = audio.read_wav(SHARED_AUDIO / names[1])
    write_wav(tmp_path / "phone.wav", audio.resample(pcm, rate, 8000), 8000)
    result = run("--phone", *(str(SHARED_AUDIO / n) for n in names))
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    print(result.stdout)
    assert len(lines) == 3 and cer(list(zip(lines, said))) < 0.2
    assert lines[2].isdigit()                                # spoken digits come out as digits
    eight = run(str(tmp_path / "phone.wav"))
    assert eight.returncode == 0 and cer([(eight.stdout.strip(), said[1])]) < 0.2


def test_a_file_that_cannot_be_read_gets_an_empty_line_and_a_reason(tmp_path):
    bad = tmp_path / "not-audio.wav"
    bad.write_bytes(b"RIFF nonsense")
    result = run(str(bad), str(tmp_path / "missing.wav"), str(SHARED_AUDIO / "paddlespeech_zh.wav"))
    assert result.returncode == 1
    lines = result.stdout.split("\n")
    assert lines[0] == "" and lines[1] == "" and "身体健康" in lines[2]
    assert "not-audio.wav: not a PCM WAV file" in result.stderr and "missing.wav" in result.stderr
    assert "Traceback" not in result.stderr
