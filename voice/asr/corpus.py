"""What callers say: the sentences the recogniser's domain knowledge is estimated from.

One source of truth: every NLU example in nlu_data/ (entity markup stripped), entity
synonyms and lookup tables, the catalogue's names and synonyms (ASR slips such as 射保卡
replaced by their correct spelling), the phrases of the constrained states
(voice/asr/vocabularies.py) and spoken digit strings. New training sentences therefore
improve recognition too. Sentences are cut into words with jieba and the project's Jieba
user dictionary, so the domain words (社保卡, 高龄津贴, 异地就医备案) are single words.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import yaml

from voice.asr import settings
from voice.asr.pinyin import HAN

ROOT = settings.ROOT
NLU_DATA = ROOT / "nlu_data"
JIEBA_DICT = ROOT / "assistant" / "jieba_dict"
# How many times a standalone phrase counts, next to one NLU example.
NAME_WEIGHT, PHRASE_WEIGHT = 2, 3
DIGIT_STRINGS = 150

_MARKUP = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})")
_PUNCT = re.compile(r"[^\u3400-\u9fff0-9A-Za-z]+")
_DIGITS = "零一二三四五六七八九"
_DIGIT_CHARS = set(_DIGITS + "幺两〇")


def nlu_files() -> list[Path]:
    return sorted(NLU_DATA.rglob("*.yml")) + sorted(NLU_DATA.rglob("*.yaml"))


def catalogue_file() -> Path:
    from catalogue import DEFAULT_PATH

    return Path(os.environ.get("CATALOGUE_PATH") or DEFAULT_PATH)


def jieba_files() -> list[Path]:
    return sorted(p for p in JIEBA_DICT.rglob("*") if p.is_file()) if JIEBA_DICT.is_dir() else []


def _examples(block: str | None) -> list[str]:
    return [line.strip()[2:].strip() for line in (block or "").splitlines() if line.strip().startswith("- ")]


def nlu_sentences() -> list[str]:
    """Every example sentence, synonym and lookup entry in nlu_data (markup stripped)."""
    sentences = []
    for path in nlu_files():
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for entry in data.get("nlu") or []:
            if not isinstance(entry, dict) or "regex" in entry:
                continue
            if any(key in entry for key in ("intent", "synonym", "lookup")):
                sentences.extend(_MARKUP.sub(r"\1", ex) for ex in _examples(entry.get("examples")))
    return sentences


def _cardinal(n: int) -> str:
    """1–999 as spoken (十一, 二十五, 一百零八)."""
    if n < 10:
        return _DIGITS[n]
    if n < 20:
        return "十" + (_DIGITS[n % 10] if n % 10 else "")
    if n < 100:
        return _DIGITS[n // 10] + "十" + (_DIGITS[n % 10] if n % 10 else "")
    rest = n % 100
    tail = "" if rest == 0 else ("零" + _DIGITS[rest] if rest < 10 else _cardinal(rest) if rest >= 20 else "一" + _cardinal(rest))
    return _DIGITS[n // 100] + "百" + tail


def spell_numbers(text: str) -> str:
    """Arabic numbers as callers say them: codes and numbers of 4+ digits digit by digit,
    smaller ones as cardinals (11月25号 → 十一月二十五号)."""
    def spoken(match: re.Match) -> str:
        digits = match.group()
        if len(digits) >= 4 or digits.startswith("0"):
            return "".join(_DIGITS[int(d)] for d in digits)
        return _cardinal(int(digits))
    return re.sub(r"\d+", spoken, text)


def sentences() -> list[tuple[str, int]]:
    """(sentence, weight) pairs: the text the domain language model is estimated from."""
    from catalogue import load_catalogue
    from voice.asr.service_names import targets
    from voice.asr.vocabularies import all_phrases, digit_strings

    slips = targets().slips
    fix_slips = re.compile("|".join(sorted(map(re.escape, slips), key=len, reverse=True))) if slips else None

    def clean(text: str) -> str:
        text = spell_numbers(text)
        return fix_slips.sub(lambda m: slips[m.group()], text) if fix_slips else text

    pairs = [(clean(s), 1) for s in nlu_sentences()]
    names = {clean(n) for item in load_catalogue().items for n in item.spoken_names}
    pairs += [(n, NAME_WEIGHT) for n in sorted(names)]
    pairs += [(p, PHRASE_WEIGHT) for p in all_phrases()]
    pairs += [(d, 1) for d in digit_strings(DIGIT_STRINGS)]
    return [(s, w) for s, w in pairs if s.strip()]


def domain_terms() -> list[str]:
    """The words worth biasing the recogniser towards: catalogue names and synonyms (slips
    spelled correctly) and the commands that work from anywhere."""
    from catalogue import load_catalogue
    from voice.asr.service_names import targets
    from voice.asr.vocabularies import GLOBAL_COMMANDS, VOCABULARIES

    slips = targets().slips
    names = [slips.get(n, n) for item in load_catalogue().items for n in item.spoken_names]
    return list(dict.fromkeys(t for t in [*names, *GLOBAL_COMMANDS, *VOCABULARIES["mode"]] if len(t) >= 2))


class Segmenter:
    """jieba with the project's user dictionary; Latin letters and punctuation dropped,
    spoken digit strings cut into single digits."""

    def __init__(self):
        import jieba

        jieba.setLogLevel(logging.WARNING)
        self.jieba = jieba.Tokenizer()
        for path in jieba_files():
            self.jieba.load_userdict(str(path))

    def words(self, sentence: str) -> list[str]:
        words: list[str] = []
        for chunk in _PUNCT.split(sentence):
            chunk = "".join(HAN.findall(chunk))      # Latin letters (app, ID) are not spoken as written
            if not chunk:
                continue
            for token in self.jieba.cut(chunk, HMM=False):
                if len(token) > 1 and all(ch in _DIGIT_CHARS for ch in token):
                    words.extend(token)
                else:
                    words.append(token)
        return words
