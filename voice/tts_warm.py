"""Pre-render every fixed sentence the line speaks: domain responses, fixed questions, the
catalogue's answers and the gateway's own words (`make tts-warm`). Dynamic parts (names,
times) are not fixed."""
from __future__ import annotations

import asyncio
import sys

import yaml

from catalogue import load_catalogue
from voice.tts import ROOT, SpeechChain, split_sentences


def fixed_texts() -> list[str]:
    from actions.booking_form import FIXED_QUESTIONS
    from actions.forms import DTMF_HINT
    from actions.lookup_form import LOOKUP_QUESTION_ACTIONS
    from voice import call, dialogue, shedding

    responses = yaml.safe_load((ROOT / "assistant" / "domain" / "responses.yml").read_text(encoding="utf-8"))
    texts = [variant["text"] for variants in responses["responses"].values() for variant in variants]
    texts += list(FIXED_QUESTIONS.values()) + [action.question for action in LOOKUP_QUESTION_ACTIONS]
    texts += [item.answer for item in load_catalogue().items]
    texts += [DTMF_HINT, dialogue.APOLOGY, call.CALLBACK_FILED, call.CALLBACK_FAILED, call.CALLBACK_DECLINED,
              call.TRANSFER_FAILED, shedding.BUSY, shedding.BUSY_WITH_CALLBACK, shedding.KIOSK_BUSY]
    return list(dict.fromkeys(sentence for text in texts for sentence in split_sentences(text)))


async def warm(chain: SpeechChain) -> dict[str, int]:
    counts: dict[str, int] = {}
    for sentence in fixed_texts():
        engine = "cache" if chain.cached(sentence) else (await chain.speak(sentence)).engine
        counts[engine] = counts.get(engine, 0) + 1
    return counts


def main() -> int:
    print(asyncio.run(warm(SpeechChain())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
