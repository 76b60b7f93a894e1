"""Free times for a booking: offering the next ones, and reading which one the caller picks."""
from __future__ import annotations

from datetime import date
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import proxy_api, settings
from actions.dates import parse_day, parse_half_day, spoken_day
from actions.forms import yes_or_no
from actions.settings import today
from actions.turns import latest_text
from contract import DAY, listen_for, ordinal


def chosen_time(tracker: Tracker, *, requested: bool) -> str | None:
    """The time ("2026-11-24|am") the caller picks: "第二个" among the times just offered,
    or a day (and half-day) in words; a day alone takes its first offered half-day."""
    text = latest_text(tracker)
    offered = tracker.get_slot("offered_times") or []
    if requested:
        index = ordinal(text, len(offered))
        if index is not None:
            return offered[index]
        if offered and yes_or_no(tracker) and len(offered) == 1:
            return offered[0]
    day = parse_day(text, today())
    if day is None:
        return None
    half = parse_half_day(text)
    for value in offered:
        if value.startswith(day.isoformat()) and (half is None or value.endswith(half)):
            return value
    return f"{day.isoformat()}|{half or 'am'}"


def offer_times(dispatcher: CollectingDispatcher, tracker: Tracker, question: str) -> list[dict[str, Any]]:
    """Say the next free times and remember them, so "第二个" can pick one."""
    try:
        times = free_times(tracker, limit=3)
    except proxy_api.ServiceUnavailable:
        dispatcher.utter_message(text="抱歉，现在查不到能约的时间。我帮您转人工，好吗？")
        return [ActiveLoop(None), SlotSet("requested_slot", None), SlotSet("pending_offer", "human")]
    if not times:
        dispatcher.utter_message(text="最近十个工作日都约满了。我帮您转人工，看看别的办法，好吗？")
        return [ActiveLoop(None), SlotSet("requested_slot", None), SlotSet("pending_offer", "human")]
    labels = [slot_label(value, today()) for value in times]
    dispatcher.utter_message(text=f"{question}最近能约的有：{'；'.join(labels)}。您要哪个？",
                             json_message=listen_for(DAY))
    return [SlotSet("offered_times", times)]


def slot_label(value: str, day_today: date) -> str:
    day, half = value.split("|")
    return f"{spoken_day(date.fromisoformat(day), day_today)}{'上午' if half == 'am' else '下午'}"


def bookable_time(dispatcher: CollectingDispatcher, tracker: Tracker, value: str) -> bool:
    if value in (tracker.get_slot("offered_times") or []) or value in free_times(tracker):
        return True
    dispatcher.utter_message(text="这个时间约不了，可能已经约满，或者不是工作日。")
    return False


def free_times(tracker: Tracker, limit: int = 20) -> list[str]:
    slots = proxy_api.call("GET", "/api/slots", params={"place_code": settings.DEFAULT_PLACE, "limit": limit})
    return [f"{s['day']}|{s['half_day']}" for s in slots]
