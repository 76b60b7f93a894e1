"""Pronunciations for the PocketSphinx Mandarin model, and transcript clean-up.

The model's dictionary (`mandarin_notone.dic`) spells words in toneless phones: an
initial (b, zh, y, w, ...; `as`/`es`/`os` for syllables starting with a/e/o, `uxs` for
yu-) and a final (`ib` is the i of zhi/chi/shi/ri, `if` the i of zi/ci/si, `ux…` is ü).
A word the dictionary lacks (社保卡, 转人工) gets a pronunciation composed from the
pinyin of its characters (pypinyin picks the reading of polyphones in context); the
rules below reproduce the dictionary's own spelling of single characters (checked by
tests/voice/test_asr_lm.py).
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

_INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x", "r", "z", "c", "s")
_U_FINALS = {"u": "ux", "ue": "uxe", "uan": "uxan", "un": "uxn"}   # after j/q/x: written u, said ü
_V_FINALS = {"v": "ux", "ve": "uxe", "ue": "uxe"}                   # after n/l: pypinyin writes ü as v
_Y_SYLLABLES = {"yu": "uxs ux", "yue": "uxs uxe", "yuan": "uxs an", "yun": "uxs en",
                "ye": "y ie", "yi": "y i"}
_INTERJECTIONS = {"n": "es en", "ng": "es eng", "m": "es en", "hm": "h en", "hng": "h eng", "ê": "es ei"}

_FINALS = set("a ai an ang ao e ei en eng er i ia ian iang iao ie in ing iong iu o ong ou u ua uai uan uang ui "
               "un uo ux uxe uxan uxn ib if".split())
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_ASCII_DIGITS = str.maketrans("0123456789", "零一二三四五六七八九")


@functools.lru_cache(maxsize=None)
def syllable_phones(syllable: str) -> str | None:
    """Phones of one toneless pinyin syllable (pypinyin Style.NORMAL), None if not pinyin."""
    s = syllable.lower()
    if s in _INTERJECTIONS:
        return _INTERJECTIONS[s]
    if s in _Y_SYLLABLES:
        return _Y_SYLLABLES[s]
    if s[:1] in ("y", "w"):
        return f"{s[0]} {s[1:]}" if s[1:] in _FINALS else None
    for initial in _INITIALS:
        if s.startswith(initial) and len(s) > len(initial):
            final = s[len(initial):]
            if final == "i" and initial in ("zh", "ch", "sh", "r"):
                final = "ib"
            elif final == "i" and initial in ("z", "c", "s"):
                final = "if"
            elif initial in ("j", "q", "x") and final in _U_FINALS:
                final = _U_FINALS[final]
            elif initial in ("n", "l") and final in _V_FINALS:
                final = _V_FINALS[final]
            return f"{initial} {final}" if final in _FINALS else None
    if s[:1] in ("a", "e", "o") and s in _FINALS:
        return f"{s[0]}s {s}"
    return None


def compose(word: str) -> str | None:
    """A pronunciation for a Chinese word from its characters' pinyin, None if impossible."""
    from pypinyin import Style, lazy_pinyin

    if not word or any(not HAN.match(ch) for ch in word):
        return None
    phones = []
    for syllable in lazy_pinyin(word, style=Style.NORMAL, errors="ignore"):
        spelled = syllable_phones(syllable)
        if spelled is None:
            return None
        phones.append(spelled)
    return " ".join(phones) if len(phones) == len(word) else None


class Dictionary:
    """A PocketSphinx dictionary file: word → pronunciations (alternates kept)."""

    def __init__(self, entries: dict[str, list[str]]):
        self.entries = entries
        self.max_len = max((len(word) for word in entries), default=1)

    @classmethod
    def read(cls, path: str | Path) -> "Dictionary":
        entries: dict[str, list[str]] = {}
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                parts = line.split(None, 1)
                if len(parts) != 2:
                    continue
                word = re.sub(r"\(\d+\)$", "", parts[0])
                entries.setdefault(word, []).append(" ".join(parts[1].split()))
        return cls(entries)

    def __contains__(self, word: str) -> bool:
        return word in self.entries

    def pronunciations(self, word: str) -> list[str]:
        """The dictionary's pronunciations, else one composed from the characters."""
        if word in self.entries:
            return self.entries[word]
        composed = compose(word)
        return [composed] if composed else []

    def max_match(self, text: str) -> list[str]:
        """Split `text` into the longest dictionary words, left to right (single
        characters when nothing longer fits)."""
        words, i = [], 0
        while i < len(text):
            for size in range(min(self.max_len, len(text) - i), 0, -1):
                if size == 1 or text[i:i + size] in self.entries:
                    words.append(text[i:i + size])
                    i += size
                    break
        return words


def write_dictionary(path: Path, pronunciations: dict[str, list[str]]) -> None:
    """Write a PocketSphinx .dic: `word phones`, alternates as `word(2) phones`."""
    with open(path, "w", encoding="utf-8") as out:
        for word in sorted(pronunciations):
            for n, phones in enumerate(dict.fromkeys(pronunciations[word]), start=1):
                out.write(f"{word if n == 1 else f'{word}({n})'}\t{phones}\n")


def clean_transcript(text: str) -> str:
    """A recogniser's words as one Chinese string: no spaces between Han characters,
    Arabic digits spelled as Chinese digits, filler tokens dropped."""
    text = re.sub(r"<[^>]*>|\[[^\]]*\]|\+\+[^+]*\+\+", " ", text).translate(_ASCII_DIGITS)
    text = re.sub(r"(?<=[\u3400-\u9fff])\s+(?=[\u3400-\u9fff])", "", text.strip())
    return re.sub(r"\s+", " ", text).strip()
