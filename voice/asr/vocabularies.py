"""Restricted vocabularies for the dialogue's constrained states, and how their
results are trusted.

In a state that expects a short answer (yes/no, digits, a help mode, a day) the
recogniser also looks for the state's phrases: the transducer engine matches the
syllables it heard against them (`phrase_search`, tolerant of the sounds telephone audio
blurs), Vosk decodes the audio a second time with the phrases as a grammar. Every
vocabulary also holds the global commands, which work from anywhere.

A phrase search alone would force anything the caller says onto a phrase (a question
about a lost 社保卡 would come out as 不要 可以 …), so `choose` decides: an open
transcript made of phrases is taken as it is; else the phrase result when the open
transcript sounds almost the same; else the open transcript — the dialogue then treats
the turn as free speech.
"""
from __future__ import annotations

import re
from typing import Sequence

from contract import DAY, DIGITS, MODE, ORDINAL_PHRASES, YES_NO

GLOBAL_COMMANDS = ("转人工", "人工服务", "再说一遍", "没听清")

DIGIT_WORDS = ("零", "幺", "一", "二", "两", "三", "四", "五", "六", "七", "八", "九", "十")

_WEEKDAYS = ("一", "二", "三", "四", "五", "六", "日", "天")

# Keys: the answer kinds of contract.py; picking one of the options the bot just listed
# ("最近能约的有：…您要哪个？") works in the mode and day states.
VOCABULARIES: dict[str, tuple[str, ...]] = {
    YES_NO: (
        "是", "是的", "对", "对的", "对对", "对对对", "好", "好的", "行", "可以", "没错", "没问题", "嗯",
        "不是", "不对", "不", "不用", "不要", "不行", "没有", "错了", "不是的", "算了",
    ),
    DIGITS: DIGIT_WORDS,
    MODE: ("帮办", "代办", "上门", "上门服务", "帮我办", "替我办", "派人上门", "陪我去办", "到家里来", *ORDINAL_PHRASES),
    DAY: (
        "今天", "明天", "后天", "大后天", "上午", "下午", "早上", "中午",
        *(f"{prefix}{day}" for prefix in ("星期", "周", "礼拜") for day in _WEEKDAYS if not (prefix == "周" and day == "天")),
        *(f"下{prefix}{day}" for prefix in ("星期", "周", "礼拜") for day in _WEEKDAYS if not (prefix == "周" and day == "天")),
        "这周", "下周", "下个星期", "下个礼拜", *ORDINAL_PHRASES,
    ),
}
VOCABULARIES = {name: tuple(dict.fromkeys((*phrases, *GLOBAL_COMMANDS))) for name, phrases in VOCABULARIES.items()}


def phrases(vocabulary: str) -> tuple[str, ...]:
    try:
        return VOCABULARIES[vocabulary]
    except KeyError:
        raise ValueError(f"unknown vocabulary {vocabulary!r}; known: {', '.join(VOCABULARIES)}") from None


def all_phrases() -> list[str]:
    """Every phrase of every vocabulary (for the domain language model's corpus)."""
    return list(dict.fromkeys(p for ps in VOCABULARIES.values() for p in ps))


def digit_strings(count: int = 150, seed: int = 7) -> list[str]:
    """Spoken digit strings as callers give them: mobile numbers (1 often said 幺),
    eight-digit booking codes, four-digit phone tails. Deterministic."""
    import random

    rng = random.Random(seed)
    plain, one_as_yao = "零一二三四五六七八九", "零幺二三四五六七八九"
    out = []
    for i in range(count):
        kind = i % 3
        if kind == 0:
            digits = "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9))
            out.append("".join((one_as_yao if rng.random() < 0.7 else plain)[int(d)] for d in digits))
        elif kind == 1:
            out.append("".join(plain[int(d)] for d in "2026" + "".join(rng.choice("0123456789") for _ in range(4))))
        else:
            out.append("".join(one_as_yao[int(rng.choice("0123456789"))] for _ in range(4)))
    return out


_FILLERS = set("啊吧呀哦嗯呢了的嘛哈")


def _syllables(text: str) -> list[str]:
    """Toneless pinyin syllables of the Chinese characters in `text` (幺 counts as yi);
    for other scripts (the Korean test model) the characters themselves."""
    from voice.asr.pinyin import text_syllables

    return text_syllables(text) or list(re.sub(r"\s+", "", text))


def agreement(restricted: str, open_text: str) -> float:
    """How far the open-domain transcript sounds like the phrase search's result (0–100):
    one minus the syllable edit distance over the longer of the two."""
    from rapidfuzz.distance import Levenshtein

    a, b = _syllables(restricted), _syllables(open_text)
    if not a or not b:
        return 0.0
    return 100.0 * (1 - Levenshtein.distance(a, b) / max(len(a), len(b)))


def parses(text: str, phrase_list: Sequence[str]) -> bool:
    """Is `text` a sequence of the phrases (a particle like 的/啊 at either end allowed)?"""
    units = {re.sub(r"\s+", "", p) for p in phrase_list}
    text = re.sub(r"\s+", "", text)
    while text and text[0] in _FILLERS and text not in units:
        text = text[1:]
    while text and text[-1] in _FILLERS and text not in units:
        text = text[:-1]
    if not text:
        return False
    longest = max(map(len, units), default=0)
    reach = [True] + [False] * len(text)
    for end in range(1, len(text) + 1):
        reach[end] = any(reach[start] and text[start:end] in units for start in range(max(0, end - longest), end))
    return reach[-1]


FILLER_SYLLABLES = frozenset("a ba ya o ne le de en n ai ma".split())
# A phrase match may miss one syllable in three (after folding blurred sounds), and the
# whole answer may cost at most this much per syllable heard.
MAX_COST_PER_SYLLABLE = 0.34


def phrase_search(heard, phrase_list: Sequence[str]) -> str:
    """The phrases (joined) that the syllables `heard` spell out, or "" when they do not:
    a segmentation of the syllables into phrases, each matched syllable by syllable with
    the blurred sounds folded (pinyin.fold); filler particles cost little, any other
    syllable left over costs one, a mismatched syllable one."""
    from voice.asr.pinyin import fold, text_syllables

    sounds = [fold(s.toneless) for s in heard]
    n = len(sounds)
    if not n:
        return ""
    spelled = [(p, [fold(s) for s in text_syllables(p)]) for p in phrase_list]
    spelled = [(p, s) for p, s in spelled if s]
    best: list[tuple[float, tuple[str, ...]] | None] = [None] * (n + 1)
    best[0] = (0.0, ())
    for i in range(n):
        if best[i] is None:
            continue
        cost, found = best[i]
        moves = [(i + 1, cost + (0.3 if heard[i].toneless in FILLER_SYLLABLES else 1.0), found)]
        for phrase, syllables in spelled:
            m = len(syllables)
            if i + m <= n:
                misses = sum(a != b for a, b in zip(sounds[i:i + m], syllables))
                if misses <= m // 3:
                    moves.append((i + m, cost + misses, (*found, phrase)))
        for j, c, f in moves:
            if best[j] is None or c < best[j][0] or (c == best[j][0] and len(f) < len(best[j][1])):
                best[j] = (c, f)
    cost, found = best[n]
    return "".join(found) if found and cost <= MAX_COST_PER_SYLLABLE * n else ""


OPEN, IN_VOCABULARY, PHRASES = "open", "open-in-vocabulary", "phrases"


def choose(restricted: str, open_text: str, phrase_list: Sequence[str],
           threshold: float | None = None) -> tuple[str, str]:
    """The transcript of a constrained turn, and where it came from: IN_VOCABULARY (the
    open transcript, made of phrases), PHRASES (the phrase search) or OPEN (off-list).

    1. The open-domain transcript is itself made of the vocabulary's phrases (是的,
       幺三八…): take it — the domain LM knows which digit or word sequences are likely.
    2. Else the phrase result sounds almost like the open transcript (syllable agreement
       ≥ threshold; e.g. 上门 against 上门去): take the phrase result.
    3. Else the caller said something off the list: the open transcript, never a phrase.
    A phrase result holding Vosk's [unk] is never taken."""
    if threshold is None:
        from voice.asr.settings import AGREEMENT_THRESHOLD as threshold
    if parses(open_text, phrase_list):
        return open_text, IN_VOCABULARY
    if restricted and "[unk]" not in restricted and agreement(restricted, open_text) >= threshold:
        return restricted, PHRASES
    return open_text, OPEN
