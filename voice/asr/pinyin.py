"""Pinyin as the transducer spells it, and as our words are pronounced.

The model's 227 tokens are pinyin initials (b, zh, y, w …) and tone-marked finals (uǎng,
ī, üè …), plus a few letters and `#0`–`#29`. Tone marks are awkward to handle (and
sherpa-onnx's hotword encoder splits them off as separate characters), so the model's
tokens file is rewritten once with ASCII names: the final without its mark plus the tone
digit (uǎng → uang3, üè → ve4, neutral e → e). Syllables are then `(toneless, tone)`
pairs, `("guang", "3")`, tone "5" for the neutral tone, spelled like pypinyin's NORMAL
style (nv, lve, xue, yu), which is how the lexicon is keyed.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from typing import Iterable, NamedTuple

INITIALS = frozenset("b p m f d t n l g k h j q x zh ch sh r z c s y w".split())
NEUTRAL = "5"
_TONE_MARKS = {"\u0304": "1", "\u0301": "2", "\u030c": "3", "\u0300": "4"}
_DIAERESIS = "\u0308"
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")

# Digits said one by one, as callers give phone numbers and references (幺 = 1).
DIGIT_SYLLABLES = {"ling": "0", "yi": "1", "yao": "1", "er": "2", "san": "3", "si": "4", "wu": "5",
                   "liu": "6", "qi": "7", "ba": "8", "jiu": "9"}


class Syllable(NamedTuple):
    toneless: str
    tone: str          # "1"–"4", or "5" for the neutral tone


def ascii_token(token: str) -> str:
    """A model token with its tone mark as a digit: ǎo → ao3, ǜ → v4, sh → sh, #3 → #3
    (a symbol such as ○ becomes U25CB)."""
    decomposed = unicodedata.normalize("NFD", token)
    tone = "".join(_TONE_MARKS.get(ch, "") for ch in decomposed)
    base = "".join(ch for ch in decomposed if ch not in _TONE_MARKS and ch != _DIAERESIS)
    if _DIAERESIS in decomposed:
        base = base.replace("u", "v")
    if not (base + tone).isascii():                  # ○: a symbol, not speech
        return "".join(ch if ch.isascii() else f"U{ord(ch):04X}" for ch in base + tone)
    return base + tone


def syllables(tokens: Iterable[str]) -> list[Syllable]:
    """The syllables of a decoded token sequence (ASCII tokens): an initial joins the final
    after it; letters, `#n` and special tokens are dropped."""
    out: list[Syllable] = []
    initial = ""
    for token in tokens:
        if token in INITIALS:
            if initial:                      # an initial with no final: drop it
                initial = ""
            initial = token
        elif token[:1].islower():
            spelled = initial + token
            initial = ""
            if spelled[-1].isdigit():
                out.append(Syllable(spelled[:-1], spelled[-1]))
            else:
                out.append(Syllable(spelled, NEUTRAL))
        else:                                # A, #3, <blk>, ○: not speech we convert
            initial = ""
    return out


def _split(syllable: str) -> tuple[str, str]:
    """pypinyin TONE3 'guang3' → ('guang', '3'); 'de' → ('de', '5')."""
    return (syllable[:-1], syllable[-1]) if syllable[-1:].isdigit() else (syllable, NEUTRAL)


@functools.lru_cache(maxsize=65536)
def word_pinyin(word: str) -> tuple[tuple[str, frozenset[str]], ...] | None:
    """Each character's toneless syllable with the tones it may be heard with: its tone in
    the word (pypinyin picks polyphone readings in context) and after tone sandhi (你好,
    一个, 不是). None if a character has no pinyin."""
    from pypinyin import Style, lazy_pinyin

    if not word or not all(HAN.match(ch) for ch in word):
        return None
    plain = lazy_pinyin(word, style=Style.TONE3, neutral_tone_with_five=True, errors=lambda chars: [None] * len(chars))
    sandhi = lazy_pinyin(word, style=Style.TONE3, neutral_tone_with_five=True, tone_sandhi=True,
                         errors=lambda chars: [None] * len(chars))
    if len(plain) != len(word) or None in plain or len(sandhi) != len(plain) or None in sandhi:
        return None
    out = []
    for a, b in zip(plain, sandhi):
        (syllable, tone), (_, other) = _split(a), _split(b)
        out.append((syllable, frozenset((tone, other))))
    return tuple(out)


def text_syllables(text: str) -> list[str]:
    """Toneless syllables of the Chinese characters in `text` (幺 counts as yi)."""
    han = "".join(HAN.findall(text.replace("幺", "一")))
    pinyin = word_pinyin(han) if han else None
    return [s for s, _ in pinyin] if pinyin else []


def model_tokens(word: str) -> list[str] | None:
    """A word as the model's ASCII tokens (for hotwords): 社保卡 → sh e4 b ao3 k a3."""
    from pypinyin import Style, lazy_pinyin

    if word_pinyin(word) is None:
        return None
    tokens = []
    for spelled in lazy_pinyin(word, style=Style.TONE3):
        syllable, tone = _split(spelled)
        tone = "" if tone == NEUTRAL else tone
        initial = next((i for i in ("zh", "ch", "sh") if syllable.startswith(i)), syllable[0])
        if initial in INITIALS and len(syllable) > len(initial):
            tokens += [initial, syllable[len(initial):] + tone]
        else:
            tokens.append(syllable + tone)
    return tokens


# Sounds that telephone audio and regional accents blur: zh/z, ch/c, sh/s, n/l, -ng/-n,
# and ü/i (yu/yi, xu/xi, lv/li: merged in many southern accents, and often by this model).
_FOLD_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("n", "l"))
_Y_U = {"yu": "yi", "yue": "ye", "yuan": "yan", "yun": "yin"}


@functools.lru_cache(maxsize=4096)
def fold(syllable: str) -> str:
    """A syllable with the blurred distinctions removed: shi → si, neng → len, ying → yin,
    yu → yi, xue → xie, lv → li."""
    if syllable in _Y_U:
        syllable = _Y_U[syllable]
    elif syllable[:1] in "jqx" and syllable[1:2] == "u":     # written u, said ü
        syllable = syllable[0] + "i" + syllable[2:]
    syllable = syllable.replace("v", "i")
    for a, b in _FOLD_INITIALS:
        if syllable.startswith(a) and len(syllable) > len(a):
            syllable = b + syllable[len(a):]
            break
    if syllable.endswith("ng") and len(syllable) > 2:
        syllable = syllable[:-1]
    return syllable
