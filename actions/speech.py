"""Turning data into short spoken Mandarin."""
from __future__ import annotations

from typing import Sequence


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
