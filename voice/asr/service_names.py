"""Repair near-miss service names in a transcript: 公鸡金 → 公积金, 射保卡 → 社保卡.

Recognisers spell an unfamiliar word with characters of the same or nearly the same
sound. A span of the transcript whose toneless pinyin matches a catalogue name (after
folding the sound pairs callers and telephone audio blur: zh/z, ch/c, sh/s, in/ing,
en/eng, an/ang, l/n) is replaced by that name. Short names are not used as targets
(two syllables match too much ordinary speech); the match must be exact syllable by
syllable, except one syllable off by one letter in names of four or more (rapidfuzz's
Levenshtein distance); exact names already in the text are never changed.

The targets are the catalogue's names and synonyms minus the ASR slips the catalogue
lists as synonyms (射保卡, 公鸡金 …), plus the correct spelling of each slip: a synonym
is a slip when the catalogue's text mostly writes the same sounds another way.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

MIN_LENGTH = 3

_HAN = re.compile(r"[\u3400-\u9fff]")
_FOLDS = ((r"\bzh", "z"), (r"\bch", "c"), (r"\bsh", "s"), (r"\bl", "n"),
          (r"ing\b", "in"), (r"eng\b", "en"), (r"ang\b", "an"))


def _syllables(text: str) -> list[str]:
    from pypinyin import Style, lazy_pinyin

    return [lazy_pinyin(ch, style=Style.NORMAL)[0] if _HAN.match(ch) else ch for ch in text]


def _fold(syllable: str) -> str:
    for pattern, repl in _FOLDS:
        syllable = re.sub(pattern, repl, syllable)
    return syllable


@dataclass(frozen=True)
class Targets:
    names: tuple[str, ...]                 # what spans are rewritten to
    slips: dict[str, str]                  # catalogue synonyms that are ASR slips → correct spelling
    frequency: dict[str, int]              # how often the catalogue writes each name (breaks ties)


def _more_usual(spelling: str, slip: str, written: str) -> bool:
    """Is `spelling` the usual way to write what `slip` sounds like? Much more frequent as
    a whole, or as frequent and one of the slip's own characters is rare next to the
    one it replaces (射 for 社). Two accepted spellings (交费 / 缴费) are both kept."""
    usual, odd = written.count(spelling), written.count(slip)
    if usual >= 3 * odd:
        return True
    return usual >= odd and any(written.count(a) * 3 <= written.count(b) for a, b in zip(slip, spelling) if a != b)


@functools.lru_cache(maxsize=4)
def targets(catalogue_path: str | None = None) -> Targets:
    from catalogue import load_catalogue

    catalogue = load_catalogue(catalogue_path)
    spoken = list(dict.fromkeys(n for item in catalogue.items for n in item.spoken_names))
    pinyin = {name: _syllables(name) for name in spoken}
    # Everything the catalogue writes: a correct spelling also turns up in its answers.
    written = "\n".join([*spoken, *(item.answer for item in catalogue.items),
                          *(m for item in catalogue.items for m in item.materials),
                          *(c for item in catalogue.items for c in item.channels.values())])

    slips: dict[str, str] = {}
    for slip in spoken:
        sp, n = pinyin[slip], len(slip)
        spellings = {other[i:i + n] for other in spoken for i in range(len(other) - n + 1)
                     if pinyin[other][i:i + n] == sp and other[i:i + n] != slip}
        better = [c for c in spellings if _more_usual(c, slip, written)]
        if better:
            # the most frequent spelling; on a tie, the one closest to the slip
            slips[slip] = max(better, key=lambda c: (written.count(c), sum(a == b for a, b in zip(c, slip)), c))
    names = [n for n in spoken if n not in slips] + list(slips.values())
    names = tuple(sorted({n for n in names if len(n) >= MIN_LENGTH}, key=lambda n: (-len(n), n)))
    return Targets(names=names, slips=slips, frequency={n: written.count(n) for n in names})


@functools.lru_cache(maxsize=8)
def _index(names: tuple[str, ...]) -> tuple[dict, dict, set]:
    """Names by their folded syllables, and (for names of four or more) by their
    syllables with one position left open: a window is looked up, not compared with
    every name."""
    exact: dict[tuple, list[str]] = {}
    near: dict[tuple, list[tuple[str, int]]] = {}
    for name in names:
        sounds = tuple(_fold(s) for s in _syllables(name))
        exact.setdefault(sounds, []).append(name)
        if len(name) >= 4:
            for k in range(len(sounds)):
                near.setdefault(sounds[:k] + ("*",) + sounds[k + 1:], []).append((name, k))
    return exact, near, {len(name) for name in names}


def normalize_service_names(text: str, catalogue_path: str | None = None) -> str:
    """`text` with near-miss spellings of catalogue names replaced by the names."""
    from rapidfuzz.distance import Levenshtein

    if not text or not _HAN.search(text):
        return text
    found = targets(catalogue_path)
    exact_index, near_index, lengths = _index(found.names)
    chars = list(text)
    syllables = [_fold(s) for s in _syllables(text)]
    # Exact names in the text are never changed: a replacement may cover one only when
    # it keeps its characters (不动产登记查寻 → 不动产登记查询).
    exact = [False] * len(chars)
    for name in found.names:
        for match in re.finditer(re.escape(name), text):
            exact[match.start():match.end()] = [True] * len(name)

    def keeps_exact(i: int, name: str) -> bool:
        return all(not exact[i + k] or name[k] == chars[i + k] for k in range(len(name)))

    candidates = []
    for n in lengths:
        for i in range(len(chars) - n + 1):
            window = tuple(syllables[i:i + n])
            if not all(_HAN.match(c) for c in chars[i:i + n]):
                continue
            for name in exact_index.get(window, ()):
                if name not in text and keeps_exact(i, name):
                    candidates.append((100.0, n, found.frequency[name], i, name))
            if n < 4 or any(exact[i:i + n]):
                continue
            for k in range(n):
                for name, position in near_index.get(window[:k] + ("*",) + window[k + 1:], ()):
                    want = _fold(_syllables(name[position])[0])
                    if name not in text and Levenshtein.distance(window[k], want) == 1:
                        candidates.append((100.0 * (1 - 1 / n), n, found.frequency[name], i, name))
    # Best, longest, most usual matches win; overlapping weaker ones are dropped.
    replaced = [False] * len(chars)
    replacements: list[tuple[int, int, str]] = []
    for score, n, _, i, name in sorted(candidates, key=lambda c: (-c[0], -c[1], -c[2], c[3], c[4])):
        if any(replaced[i:i + n]):
            continue
        replaced[i:i + n] = [True] * n
        replacements.append((i, i + n, name))
    for start, end, name in sorted(replacements, reverse=True):
        chars[start:end] = list(name)
    return "".join(chars)
