"""When what the caller says is a request to book, whatever intent the NLU gave it.

Two ways callers ask, and neither may end in "您问的是哪项业务呢？":
  * the answer to the booking offer ("…需要我帮您预约帮办或代办吗？"): 代办, 上门, 要,
    好的帮我预约, 行 — a booking of the errand just discussed, with the help named if any;
  * a request that names the errand and the booking in one breath (我想预约代办养老金资格
    认证, 帮我代办高龄津贴) — a booking at once, not an answer about the errand.
And 腿脚不太方便 (when asked 帮办还是上门) means a home visit.
"""
from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction, SlotSet

from actions.turns import entity_values, latest_intent, latest_text, slot_set_in_previous_turn
from catalogue import OFFER_LABELS, load_catalogue

FORM = "booking_form"
MODE_WORDS = [("home_visit", re.compile(r"上门|到家|来家|家里来")), ("proxy", re.compile(r"代办|替我|帮我办了|代我")),
              ("assisted", re.compile(r"帮办|陪|一起办|带着"))]
# Someone who cannot get out: the help that comes to them.
MOBILITY = re.compile(r"腿脚|走不动|走不了|走路不方便|出不了门|出不去|下不了楼|行动不便|不方便出门|轮椅|瘫|卧床|躺在床上|起不来|"
                      r"出门不方便|身体不好")
BOOKING_VERBS = re.compile(r"预约|约个|约一个|想约|帮我约|给我约|约一下|登记一个|安排一个|安排个|派个人|派人")
QUESTION = re.compile(r"吗|么|能不能|可不可以|行不行|可以不|能否|是否|怎么|咋|如何|多少|哪")
ACCEPT = re.compile(r"^(嗯+|好|行|可以|要|对|是|麻烦|那就|就这|帮我|需要|中|要得)")
REFUSE = re.compile(r"不|别|没|算了")


def mode_named(tracker: Tracker, offered: list[str] | None = None) -> str | None:
    """The help the caller names (代办, 上门…), or asks for by saying they cannot get out
    (a home visit where it is offered, else help done for them)."""
    text = latest_text(tracker) + " ".join(entity_values(tracker, "mode"))
    for mode, words in MODE_WORDS:
        if words.search(text):
            return mode
    if MOBILITY.search(text):
        for mode in ("home_visit", "proxy"):
            if offered is None or mode in offered:
                return mode
    return None


def help_asked_for(tracker: Tracker, offered: list[str] | None = None) -> dict[str, Any]:
    """Slot values for the help the caller names: booking_mode, and needs_home_visit when
    they asked for a visit by saying they cannot get out."""
    mode = mode_named(tracker, offered)
    if mode is None:
        return {}
    cannot_go_out = mode == "home_visit" and MOBILITY.search(latest_text(tracker))
    return {"booking_mode": mode, **({"needs_home_visit": True} if cannot_go_out else {})}


def accepts_booking_offer(tracker: Tracker) -> bool:
    """Is the latest turn a yes to the booking offer the bot just made?"""
    if slot_set_in_previous_turn(tracker, "pending_offer") != "booking" or latest_intent(tracker) == "deny":
        return False
    text = latest_text(tracker)
    if latest_intent(tracker) in ("affirm", "book_proxy_service") or mode_named(tracker) or BOOKING_VERBS.search(text):
        return not REFUSE.search(text) or bool(mode_named(tracker))
    return bool(ACCEPT.match(text)) and not REFUSE.search(text)


def asks_to_book(tracker: Tracker) -> bool:
    """Does the latest turn ask for a booking (not whether one is possible)?"""
    text = latest_text(tracker)
    return bool(BOOKING_VERBS.search(text) or (mode_named(tracker) and not QUESTION.search(text)))


def modes_of(item) -> list[str]:
    """The help we offer for a catalogue errand, in the order we name it (assisted, proxy, home visit)."""
    return [mode for mode in OFFER_LABELS if item.offers.get(mode)]


def start_booking(tracker: Tracker, item) -> list[dict[str, Any]]:
    """Open the booking form for this errand, with the help the caller named if we offer it."""
    offered = modes_of(item)
    events: list[dict[str, Any]] = [SlotSet("service", item.code), SlotSet("service_candidates", None),
                                    SlotSet("pending_offer", None)]
    named = help_asked_for(tracker, offered)
    if named.get("booking_mode") in offered:
        events += [SlotSet(slot, value) for slot, value in named.items()]
    elif len(offered) == 1:
        events.append(SlotSet("booking_mode", offered[0]))
    return [*events, FollowupAction(FORM)]


def book_the_offer(tracker: Tracker) -> list[dict[str, Any]] | None:
    """The booking of the errand just discussed, when the latest turn accepts the offer of one."""
    discussed = load_catalogue().get(tracker.get_slot("service"))
    return start_booking(tracker, discussed) if discussed and accepts_booking_offer(tracker) else None
