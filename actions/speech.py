"""Turning data into short spoken Mandarin."""
from __future__ import annotations

from typing import Sequence

from contract import SPOKEN_DIGITS


def spoken_list(words: Sequence[str], last_joiner: str = "和") -> str:
    """['甲', '乙', '丙'] → '甲、乙和丙'."""
    words = [word for word in words if word]
    if len(words) <= 1:
        return "".join(words)
    return "、".join(words[:-1]) + last_joiner + words[-1]


def choice_question(names: Sequence[str]) -> str:
    """A one-breath either/or question: 您问的是甲，还是乙？"""
    if len(names) == 1:
        return f"您问的是{names[0]}吗？"
    return f"您问的是{spoken_list(names[:-1], '、')}，还是{names[-1]}？"




def spoken_digits(number: str, groups: Sequence[int] = (4,)) -> str:
    """'13812345678' → '幺三八，幺二三四，五六七八': digit by digit, in short groups, the
    way numbers are read on a Chinese phone line (幺 for 1 so it is not heard as 7)."""
    digits = "".join(ch for ch in number if ch.isdigit())
    words = [SPOKEN_DIGITS[d] for d in digits]
    sizes = list(groups) if sum(groups) == len(words) else [4] * (len(words) // 4 + 1)
    parts, start = [], 0
    for size in sizes:
        if start >= len(words):
            break
        parts.append("".join(words[start:start + size]))
        start += size
    return "，".join(parts)


def spoken_phone(number: str) -> str:
    return spoken_digits(number, (3, 4, 4))
