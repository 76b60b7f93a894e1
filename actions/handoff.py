"""Handing a caller to staff: the ticket (with everything said) is stored first, then the
caller hears that it exists — a person now in business hours, a callback window outside."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

import contract
from actions import proxy_api
from actions.dates import arabic_numerals, spoken_day
from actions.settings import today
from actions.turns import caller_number, channel_of, latest_intent
from contract import READABLE, TICKET_SLOTS

REASON_BY_INTENT = {"complaint": "complaint", "distress": "distress"}
# What callers say of themselves that raises a ticket's priority.
AGE_SAID = re.compile(r"(?:我|本人|今年|老人|我妈|我爸|她|他)[^，。？！]{0,4}?([一二三四五六七八九十百]+|\d{2,3})(?:岁|周岁|多岁|了)")
DISABILITY_SAID = re.compile(r"残疾|轮椅|瘫痪|看不见|失明|眼睛不好|听不见|耳聋|聋|盲人|走不了路|卧床")


def transcript(tracker: Tracker) -> list[dict[str, Any]]:
    turns = []
    for event in tracker.events:
        if event.get("event") in ("user", "bot") and event.get("text"):
            text = event["text"]
            if event["event"] == "user" and text.startswith("/"):
                text = READABLE.get(text.split("{")[0], text)
                if text is None:
                    continue
            at = event.get("timestamp")
            turns.append({"speaker": "caller" if event["event"] == "user" else "bot",
                          "text": text,
                          "at": datetime.fromtimestamp(at).isoformat(timespec="seconds") if at else None})
    return contract.fit_transcript(turns)


def total_fallbacks(tracker: Tracker) -> int:
    return sum(1 for e in tracker.events if e.get("event") == "user"
               and ((e.get("parse_data") or {}).get("intent") or {}).get("name") == "nlu_fallback")


def last_topic(tracker: Tracker) -> str | None:
    if tracker.get_slot("service"):
        return tracker.get_slot("service")
    for event in reversed(list(tracker.events)):
        name = ((event.get("parse_data") or {}).get("intent") or {}).get("name") if event.get("event") == "user" else None
        if name and name.startswith("ask_"):
            return name
    return None


def caller_profile(tracker: Tracker) -> tuple[int | None, bool | None]:
    """Age and disability as the caller stated them in the call, if they did."""
    said = " ".join(e.get("text") or "" for e in tracker.events if e.get("event") == "user")
    ages = [int(n) for n in map(arabic_numerals, AGE_SAID.findall(said)) if n.isdigit()]
    age = max((a for a in ages if 40 <= a <= 120), default=None)
    return age, (True if DISABILITY_SAID.search(said) else None)


def callback_phrase(start: str, end: str) -> str:
    begin, until = datetime.fromisoformat(start), datetime.fromisoformat(end)
    return f"{spoken_day(begin.date(), today())}{begin.hour}点到{until.hour}点"


def hand_off(dispatcher: CollectingDispatcher, tracker: Tracker, reason: str | None = None) -> list[dict[str, Any]]:
    failures = total_fallbacks(tracker)
    reason = reason or REASON_BY_INTENT.get(latest_intent(tracker)) or ("fallback" if failures >= 2 else "request_human")
    slots = {name: tracker.get_slot(name) for name in TICKET_SLOTS if tracker.get_slot(name)}
    age, disabled = caller_profile(tracker)
    body = {
        "conversation_id": tracker.sender_id[:128], "reason": reason, "channel": channel_of(tracker),
        "topic": last_topic(tracker), "caller_phone": caller_number(tracker), "failed_turns": failures,
        "caller_age": age, "caller_disabled": disabled,
        "transcript": transcript(tracker), "filled_slots": slots,
    }
    ends_form = [ActiveLoop(None), SlotSet("requested_slot", None)]  # a handoff ends any form
    urgent = "如果有危险，请马上拨打120或者110。" if reason == "distress" else ""
    try:
        ticket = proxy_api.call("POST", "/api/tickets", json=body, idempotency_key=proxy_api.turn_key(tracker, "ticket"))
    except proxy_api.OutcomeUnknown:
        dispatcher.utter_message(text=urgent + "抱歉，系统太忙，我不能确定您的请求登记上了没有。"
                                               "如果今天没有工作人员联系您，请再打过来，或者拨打12345热线。")
        return [*ends_form, SlotSet("pending_offer", None)]
    except (proxy_api.ServiceUnavailable, proxy_api.Rejected):
        dispatcher.utter_message(text=urgent + "抱歉，系统出了点问题，暂时没能转接。请您稍后再打，或者拨打12345热线。")
        return [*ends_form, SlotSet("pending_offer", None)]
    sorry = "给您添麻烦了，真是抱歉。" if reason == "complaint" else ""
    if channel_of(tracker) == "kiosk":   # a service hall: the resident walks to the desk, the number on screen
        return kiosk_hand_off(dispatcher, ticket, urgent + sorry) + [
            *ends_form, SlotSet("pending_offer", None), SlotSet("handoff_ticket", ticket["reference"])]
    if ticket["in_business_hours"]:
        who = "投诉专员" if reason == "complaint" else "人工"
        text = f"{urgent}{sorry}已经为您转接{who}，工作人员马上接听，请不要挂机。"
    else:
        window = callback_phrase(ticket["callback_from"], ticket["callback_until"])
        text = f"{urgent}{sorry}现在是下班时间。已经给您登记好了，工作人员会在{window}给您回电话。"
    dispatcher.utter_message(text=text, json_message=contract.handoff(
        ticket["reference"], ticket["queue"], transfer=ticket["in_business_hours"],
        callback_from=ticket["callback_from"], callback_until=ticket["callback_until"]))
    return [*ends_form, SlotSet("pending_offer", None), SlotSet("handoff_ticket", ticket["reference"])]


def kiosk_hand_off(dispatcher: CollectingDispatcher, ticket: dict[str, Any], opening: str) -> list[dict[str, Any]]:
    """At a kiosk nobody is called back and no call is moved: the ticket waits in the queue
    and the screen shows its number and the desk where its staff sit."""
    desk = ticket.get("desk") or "服务台"
    if ticket["in_business_hours"]:
        text = f"{opening}已经通知工作人员了。请到{desk}，把屏幕上的编号给工作人员看。"
    else:
        opens = datetime.fromisoformat(ticket["callback_from"])
        when = f"{spoken_day(opens.date(), today())}{opens.hour}点以后"
        text = f"{opening}现在工作人员下班了。您的事已经登记好了。请{when}到{desk}，把屏幕上的编号给工作人员看。"
    control = contract.handoff(ticket["reference"], ticket["queue"], transfer=False,
                               callback_from=ticket["callback_from"], callback_until=ticket["callback_until"])
    dispatcher.utter_message(text=text, json_message={**control, **contract.HANG_UP})
    return []
