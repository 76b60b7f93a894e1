"""Spoken Chinese dates and half-days → dates: 明天上午, 下周三, 11月25号, 二十五号下午."""
from __future__ import annotations

import re
from datetime import date, timedelta

WEEKDAYS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "日": 7, "天": 7, "七": 7}
RELATIVE = {"今天": 0, "今儿": 0, "明天": 1, "明儿": 1, "后天": 2, "后儿": 2, "大后天": 3}
_CN_NUMBER = re.compile(r"[零〇一二两三四五六七八九十]+")
_WEEK = re.compile(r"(下下|下个?|这个?|本)?(?:周|星期|礼拜)([一二三四五六日天七1-7])")
_MONTH_DAY = re.compile(r"(\d{1,2})月(\d{1,2})(?:号|日)?")
_DAY_ONLY = re.compile(r"(?<![\d月])(\d{1,2})(?:号|日)")


def arabic_numerals(text: str) -> str:
    """Chinese numerals to digits (二十五 → 25), leaving the rest of the text alone."""
    def convert(match: re.Match) -> str:
        word = match.group(0)
        digits = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
                  "七": 7, "八": 8, "九": 9}
        if "十" in word:
            tens, _, ones = word.partition("十")
            return str((digits.get(tens, 1) if tens else 1) * 10 + (digits.get(ones, 0) if ones else 0))
        return "".join(str(digits[ch]) for ch in word) if len(word) <= 2 else word
    return _CN_NUMBER.sub(convert, text)


def parse_half_day(text: str) -> str | None:
    if re.search(r"上午|早上|早晨|上半天|早点|一早", text):
        return "am"
    if re.search(r"下午|午后|下半天|晚点|中午以后", text):
        return "pm"
    return None


def parse_day(text: str, today: date) -> date | None:
    """The day a caller names, relative to `today`; None if none is named."""
    for word in sorted(RELATIVE, key=len, reverse=True):
        if word in text:
            return today + timedelta(days=RELATIVE[word])
    week = _WEEK.search(text)
    if week:
        prefix, name = week.group(1) or "", week.group(2)
        weekday = int(name) if name.isdigit() else WEEKDAYS[name]
        monday = today - timedelta(days=today.isoweekday() - 1)
        weeks = 2 if prefix.startswith("下下") else 1 if prefix.startswith("下") else 0
        day = monday + timedelta(weeks=weeks, days=weekday - 1)
        if not prefix and day <= today:
            day += timedelta(weeks=1)
        return day
    digits = arabic_numerals(text)
    month_day = _MONTH_DAY.search(digits)
    if month_day:
        month, day_of_month = int(month_day.group(1)), int(month_day.group(2))
        for year in (today.year, today.year + 1):
            try:
                candidate = date(year, month, day_of_month)
            except ValueError:
                return None
            if candidate >= today:
                return candidate
        return None
    day_only = _DAY_ONLY.search(digits)
    if day_only:
        day_of_month = int(day_only.group(1))
        month, year = today.month, today.year
        for _ in range(2):
            try:
                candidate = date(year, month, day_of_month)
                if candidate >= today:
                    return candidate
            except ValueError:
                pass
            month, year = (1, year + 1) if month == 12 else (month + 1, year)
    return None


def spoken_day(day: date, today: date) -> str:
    """11月24号（星期二）, or 明天 / 后天 when that is what it is."""
    names = "一二三四五六日"
    relative = {1: "明天", 2: "后天"}.get((day - today).days)
    label = f"{day.month}月{day.day}号星期{names[day.weekday()]}"
    return f"{relative}，{label}" if relative else label
