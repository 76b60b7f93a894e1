"""What the assistant (actions/), the voice gateway (voice/) and the service (proxy_service/)
agree on — one definition of each, imported by all three, depending on none of them.

* Pseudo-intents the gateway sends Rasa for events that are not words, and how staff read
  them in a ticket's transcript.
* The control JSON the actions put in a reply's `custom`: the kind of answer expected next
  (a recogniser vocabulary), keypad collection, hand-off, hang-up.
* The slots a hand-off ticket carries, with the words staff read next to them.
* Digits: spoken Chinese digits as ASCII (幺 = 1), and ASCII digits as said on a phone line.
* Ordinal words callers use to pick from what was just listed (第二个, 后面那个, 最后一个).
"""
from __future__ import annotations

import re
from typing import Any, Sequence

# ---- pseudo-intents (voice gateway → Rasa) ---------------------------------------------
GREET, SILENCE, HUMAN, REPEAT = "/greet", "/silence", "/request_human", "/repeat"
# How a ticket's transcript shows them (None: not shown).
READABLE = {HUMAN: "（按了0号键：转人工）", REPEAT: "（按了*号键：再说一遍）", SILENCE: "（没有说话）", GREET: None}

# ---- control JSON (actions → voice gateway) --------------------------------------------
EXPECT, COLLECT_DIGITS, HANDOFF, HANGUP, SHOW = "expect", "collect_digits", "handoff", "hangup", "show"
# The kinds of answer a question expects: the recogniser's restricted vocabularies.
YES_NO, DIGITS, MODE, DAY = "yes_no", "digits", "mode", "day"
ANSWER_KINDS = (YES_NO, DIGITS, MODE, DAY)


def listen_for(kind: str, digits: int | None = None) -> dict[str, Any]:
    """Control JSON for a question: the kind of answer that comes next and, for numbers,
    keypad collection of up to `digits` keys (# ends)."""
    if kind not in ANSWER_KINDS:
        raise ValueError(f"unknown answer kind {kind!r}")
    control: dict[str, Any] = {EXPECT: kind}
    if digits:
        control[COLLECT_DIGITS] = {"max": digits, "end": "#"}
    return control


def handoff(ticket: str, queue: str, *, transfer: bool, callback_from: str | None,
            callback_until: str | None) -> dict[str, Any]:
    """Control JSON of a hand-off: the ticket is stored; move the call now (`transfer`) or
    the caller was promised a callback in the window."""
    return {HANDOFF: {"ticket": ticket, "queue": queue, "transfer": transfer,
                      "callback_from": callback_from, "callback_until": callback_until}}


HANG_UP = {HANGUP: True}


def checklist(title: str, items: Sequence[str], where: str | None) -> dict[str, Any]:
    """Control JSON of an answer that has a list to read on a screen (the kiosk shows it as
    a checklist; a phone ignores it): what to bring, and where the errand is done."""
    return {SHOW: {"title": title, "items": list(items), "where": where}}

# ---- hand-off tickets -------------------------------------------------------------------
# The assistant's slots a ticket carries, as staff read them in the console.
TICKET_SLOTS = {"service": "要办的事", "booking_mode": "办理方式", "booking_slot": "预约时间",
                "person_name": "姓名", "lookup_reference": "要查的编号"}
# A ticket's transcript must fit the API's limits (500 turns, a 256 KiB body) however long
# the call was: the newest turns are kept, within this many turns and UTF-8 bytes of text.
TRANSCRIPT_MAX_TURNS, TRANSCRIPT_MAX_BYTES, TURN_MAX_CHARS = 400, 128 * 1024, 2000
EARLIER_TURNS_LEFT_OUT = "（前面还有{count}句对话，太长没有附上）"


def fit_transcript(turns: Sequence[dict[str, Any]], said: int | None = None) -> list[dict[str, Any]]:
    """The newest turns that fit, each text cut to TURN_MAX_CHARS, with a first line saying
    how many earlier ones were left out (so a long call is still handed over). `said`: how
    many turns there were in all, when `turns` already holds only the latest."""
    kept: list[dict[str, Any]] = []
    size = 0
    for turn in reversed(turns):
        turn = {**turn, "text": str(turn.get("text", ""))[:TURN_MAX_CHARS]}
        size += len(turn["text"].encode()) + 64          # the text, and the JSON around it
        if len(kept) == TRANSCRIPT_MAX_TURNS - 1 or size > TRANSCRIPT_MAX_BYTES:
            break
        kept.append(turn)
    left_out = (said if said is not None else len(turns)) - len(kept)
    if left_out:
        kept.append({"speaker": "bot", "text": EARLIER_TURNS_LEFT_OUT.format(count=left_out),
                     "at": turns[0].get("at")})
    return kept[::-1]

# ---- digits -----------------------------------------------------------------------------
_TO_ASCII = str.maketrans("零〇一幺二两三四五六七八九", "0011223456789")
SPOKEN_DIGITS = dict(zip("0123456789", "零幺二三四五六七八九"))   # 幺 for 1, so it is not heard as 7


def normalize_digits(value: str | None) -> str:
    """'幺三八 1234-5678' → '13812345678': spoken numerals as digits, spaces and dashes gone
    (an X, as in ID numbers, is kept)."""
    return re.sub(r"[^0-9Xx]", "", (value or "").translate(_TO_ASCII)).upper()


# ---- picking from a list ----------------------------------------------------------------
# (pattern, position; -1 = the last one) — what callers say to pick among listed options.
ORDINALS = [
    (re.compile(r"最后"), -1),                  # before 后一个: 最后一个 is the last, not the second
    (re.compile(r"第一|第1|头一|前一个|前面那|前头"), 0),
    (re.compile(r"第二|第2|后一个|后面那|后头|中间那"), 1),
    (re.compile(r"第三|第3"), 2),
]
# The same as phrases, for the recogniser's restricted vocabularies.
ORDINAL_PHRASES = ("第一个", "第二个", "第三个", "头一个", "第一", "第二", "第三", "前面那个", "后面那个", "最后一个",
                   "中间那个", "就第一个吧")


def ordinal(text: str, count: int) -> int | None:
    """The position (0-based) among `count` options that `text` picks, or None."""
    for pattern, index in ORDINALS:
        if pattern.search(text or "") and -count <= index < count:
            return index % count
    return None
