"""Restricted vocabularies for the dialogue's constrained states, and how their
results are trusted.

In a state that expects a short answer (yes/no, digits, a help mode, a day) the
recogniser runs a small search over the phrases below (a Vosk grammar; for PocketSphinx
a tiny LM whose words are the phrases — its JSGF grammar search measured 10–30× slower,
RTF 0.07–0.26 against 0.006–0.009) next to an open-domain one (for PocketSphinx the
domain LM with the state's answers weighted up, see domain_lm.BIASED_STATES). Every
vocabulary also holds the global commands, which work from anywhere.

The phrase search alone would force anything the caller says onto a phrase (a question
about a lost 社保卡 comes out as 不要 可以 再说一遍 好的 …), so `choose` decides: an
open transcript made of phrases is taken as it is; else the phrase result when the open
transcript sounds almost the same; else the open transcript — the dialogue then treats
the turn as free speech.
"""
from __future__ import annotations

import re
from typing import Sequence

GLOBAL_COMMANDS = ("转人工", "人工服务", "再说一遍", "没听清")

DIGIT_WORDS = ("零", "幺", "一", "二", "两", "三", "四", "五", "六", "七", "八", "九", "十")

_WEEKDAYS = ("一", "二", "三", "四", "五", "六", "日", "天")
# Picking one of the options the bot just listed ("最近能约的有：…您要哪个？").
ORDINALS = ("第一个", "第二个", "第三个", "头一个", "第一", "第二", "第三", "前面那个", "后面那个", "最后一个",
            "中间那个", "就第一个吧")

VOCABULARIES: dict[str, tuple[str, ...]] = {
    "yes_no": (
        "是", "是的", "对", "对的", "对对", "对对对", "好", "好的", "行", "可以", "没错", "没问题", "嗯",
        "不是", "不对", "不", "不用", "不要", "不行", "没有", "错了", "不是的", "算了",
    ),
    "digits": DIGIT_WORDS,
    "mode": ("帮办", "代办", "上门", "上门服务", "帮我办", "替我办", "派人上门", "陪我去办", "到家里来", *ORDINALS),
    "day": (
        "今天", "明天", "后天", "大后天", "上午", "下午", "早上", "中午",
        *(f"{prefix}{day}" for prefix in ("星期", "周", "礼拜") for day in _WEEKDAYS if not (prefix == "周" and day == "天")),
        *(f"下{prefix}{day}" for prefix in ("星期", "周", "礼拜") for day in _WEEKDAYS if not (prefix == "周" and day == "天")),
        "这周", "下周", "下个星期", "下个礼拜", *ORDINALS,
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


def search_corpus(vocabulary: str) -> list[tuple[list[str], int]]:
    """Training sentences of a vocabulary's small LM (each phrase is one word): every
    phrase alone, and the sequences callers string together (digit strings, 明天 上午)."""
    listed = phrases(vocabulary)
    sentences = [([p], 3) for p in listed]
    if vocabulary == "digits":
        sentences += [(list(s), 1) for s in digit_strings()]
    elif vocabulary == "day":
        days = [p for p in listed if p not in ("上午", "下午", "早上", "中午") and p not in GLOBAL_COMMANDS]
        sentences += [([d, h], 1) for d in days for h in ("上午", "下午", "早上", "中午")]
    return sentences


_FILLERS = set("啊吧呀哦嗯呢了的嘛哈")


def _syllables(text: str) -> list[str]:
    """Toneless pinyin syllables of the Chinese characters in `text` (幺 counts as yi);
    for other scripts (the Korean test model) the characters themselves."""
    from pypinyin import Style, lazy_pinyin

    han = re.sub(r"[^\u3400-\u9fff]", "", text)
    if not han:
        return list(re.sub(r"\s+", "", text))
    return ["yi" if c == "幺" else s for s, c in zip(lazy_pinyin(han, style=Style.NORMAL), han)]


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
