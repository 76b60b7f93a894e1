"""The word lexicon of the pinyin → 汉字 conversion: which words sound like a syllable run.

Words come from two places:
  * the general Simplified Chinese dictionary of Debian's libime-data (fcitx5's pinyin
    input method, LGPL-2.1+; about 209 000 words with their toneless readings, dumped
    with libime-bin's `libime_pinyindict -d`), kept where its language model knows the
    word — the general half of the conversion;
  * every word of our own sentences and catalogue (voice/asr/corpus.py), pronounced by
    pypinyin — the domain half, so a new errand name is heard as a word at once.
Each entry keeps the tones its syllables may be heard with (pypinyin's reading in the word
and after tone sandhi) and a prior (log10 unigram probability) to rank candidates.
Entries are indexed by their toneless syllables, and by those syllables with the sounds
telephone audio blurs folded together (pinyin.fold), for near misses.
"""
from __future__ import annotations

import functools
import pickle
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from voice.asr.pinyin import HAN, fold, word_pinyin

ALL_TONES = "12345"
Entry = tuple[str, tuple[str, ...], float]        # word, allowed tones per syllable, log10 prior


class Lexicon:
    def __init__(self, by_key: dict[tuple[str, ...], list[Entry]]):
        for entries in by_key.values():
            entries.sort(key=lambda entry: -entry[2])
        self.by_key = by_key
        self.by_fold: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
        for key in by_key:
            self.by_fold.setdefault(tuple(map(fold, key)), []).append(key)
        self.max_len = max(map(len, by_key), default=1)

    def __len__(self) -> int:
        return sum(map(len, self.by_key.values()))

    def near_keys(self, key: tuple[str, ...]) -> list[tuple[str, ...]]:
        """Other keys that sound the same once blurred sounds are folded (shi/si, neng/leng)."""
        return [other for other in self.by_fold.get(tuple(map(fold, key)), ()) if other != key]

    def save(self, path: Path) -> None:
        partial = path.with_suffix(".part")
        with open(partial, "wb") as out:
            pickle.dump(self.by_key, out, protocol=pickle.HIGHEST_PROTOCOL)
        partial.replace(path)

    @classmethod
    def load(cls, path: Path) -> "Lexicon":
        # our own build output under models/ (written by voice.asr.build), never received data
        with open(path, "rb") as source:
            return cls(pickle.load(source))


@functools.lru_cache(maxsize=8192)
def _char_tones(char: str, syllable: str) -> str:
    """The tones `char` has when read as `syllable` (any tone if pypinyin does not know it)."""
    from pypinyin import Style, pinyin

    tones = {reading[-1] if reading[-1].isdigit() else "5"
             for reading in pinyin(char, style=Style.TONE3, heteronym=True, neutral_tone_with_five=True)[0]
             if reading.rstrip("12345") == syllable}
    return "".join(sorted(tones)) or ALL_TONES


def tones_for(word: str, reading: tuple[str, ...]) -> tuple[str, ...]:
    """Allowed tones per syllable of `word` read as `reading` (toneless)."""
    known = word_pinyin(word) or ()
    out = []
    for i, (char, syllable) in enumerate(zip(word, reading)):
        if i < len(known) and known[i][0] == syllable:
            out.append("".join(sorted(known[i][1])))
        else:
            out.append(_char_tones(char, syllable))
    return tuple(out)


def read_libime_dictionary(path: Path, tool: str = "libime_pinyindict") -> Iterator[tuple[str, tuple[str, ...]]]:
    """(word, toneless reading) pairs of a libime pinyin dictionary (binary, dumped to text)."""
    with tempfile.TemporaryDirectory() as scratch:
        dump = Path(scratch) / "dict.txt"
        subprocess.run([tool, "-d", str(path), str(dump)], check=True, capture_output=True, timeout=120)
        with open(dump, encoding="utf-8") as lines:
            for line in lines:
                parts = line.split()
                if len(parts) >= 2:
                    word, reading = parts[0], tuple(parts[1].split("'"))
                    if len(reading) == len(word) and all(HAN.match(ch) for ch in word):
                        yield word, reading


def build(general: Iterable[tuple[str, tuple[str, ...]]], general_prior,
          domain_words: Iterable[str], domain_prior) -> Lexicon:
    """A lexicon of the general words that `general_prior` (log10 unigram, None = unknown
    to the general LM) knows, and every domain word (pronounced by pypinyin)."""
    by_key: dict[tuple[str, ...], list[Entry]] = {}
    seen: set[tuple[str, tuple[str, ...]]] = set()

    def add(word: str, reading: tuple[str, ...], prior: float) -> None:
        if (word, reading) not in seen:
            seen.add((word, reading))
            by_key.setdefault(reading, []).append((word, tones_for(word, reading), prior))

    for word, reading in general:
        prior = general_prior(word)
        if prior is not None:
            add(word, reading, prior)
    for word in domain_words:
        pinyin = word_pinyin(word)
        if pinyin:
            prior = general_prior(word)
            add(word, tuple(s for s, _ in pinyin), prior if prior is not None else domain_prior(word))
    return Lexicon(by_key)
