"""Transcribe recordings as the helpline hears them.

    uv run python -m voice.asr [--phone] [--engine auto|transducer|vosk] [--vocabulary NAME] FILE.wav...

Prints one transcript per file, one per line (an empty line, and a message on stderr,
for a file that cannot be read). --phone first passes the audio through the telephone
channel a call takes (8 kHz G.711 μ-law, decoded and upsampled as the gateway does);
8 kHz files are treated as telephone audio in any case.
"""
from __future__ import annotations

import argparse
import logging
import sys

from voice import audio
from voice.asr import VOCABULARIES, get_recognizer, transcribe_sync


def prepared(path: str, phone: bool) -> tuple[bytes, bool]:
    """16 kHz PCM16 of the file, and whether it is narrowband telephone audio."""
    pcm, rate = audio.read_wav(path)
    if phone:
        mulaw = audio.pcm16_to_mulaw(audio.resample(pcm, rate, audio.PHONE_RATE))
        return audio.phone_to_asr(mulaw), True
    return audio.resample(pcm, rate, audio.ASR_RATE), rate <= audio.PHONE_RATE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m voice.asr", description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", metavar="FILE.wav")
    parser.add_argument("--phone", action="store_true", help="pass the audio through the 8 kHz μ-law phone channel first")
    parser.add_argument("--engine", default=None, help="auto (default: ASR_ENGINE), transducer or vosk")
    parser.add_argument("--vocabulary", choices=sorted(VOCABULARIES), default=None,
                        help="decode as the answer to a question of this kind (yes_no, digits, mode, day)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    try:
        recognizer = get_recognizer(args.engine)
    except (RuntimeError, ValueError) as error:
        print(f"speech recognition is not available: {error}", file=sys.stderr)
        return 2
    failed = 0
    for path in args.files:
        try:
            pcm, narrowband = prepared(path, args.phone)
        except (OSError, ValueError) as error:
            print(f"{path}: {error}", file=sys.stderr)
            print(flush=True)
            failed += 1
            continue
        print(transcribe_sync(recognizer, pcm, args.vocabulary, narrowband=narrowband), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
