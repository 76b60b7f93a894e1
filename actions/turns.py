"""Reading the conversation: the latest user turn, the bot's previous turn, fallback runs.

The bot only honours what it asked in its previous turn: a "好的" answers the question
just asked, never one from three turns ago. So pending offers and choices are looked up
in the previous bot turn's events rather than kept in long-lived slots.
"""
from __future__ import annotations

from typing import Any, Iterable

from rasa_sdk import Tracker

from contract import normalize_digits

FALLBACK_INTENT = "nlu_fallback"


def _user_indices(events: list[dict[str, Any]]) -> list[int]:
    return [i for i, event in enumerate(events) if event.get("event") == "user"]


def previous_bot_turn(tracker: Tracker) -> list[dict[str, Any]]:
    """Events the bot produced between the previous user message and the latest one."""
    events = list(tracker.events)
    users = _user_indices(events)
    if not users:
        return []
    end = users[-1]
    start = users[-2] + 1 if len(users) > 1 else 0
    return events[start:end]


def slot_set_in_previous_turn(tracker: Tracker, slot: str) -> Any:
    """The value the previous bot turn gave `slot`, or None if it did not set it."""
    value = None
    for event in previous_bot_turn(tracker):
        if event.get("event") == "slot" and event.get("name") == slot:
            value = event.get("value")
    return value


def bot_messages(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [event for event in events if event.get("event") == "bot"]


def consecutive_intents(tracker: Tracker, *names: str) -> int:
    """How many user turns in a row, ending with the latest, had one of these intents."""
    count = 0
    for event in reversed(list(tracker.events)):
        if event.get("event") != "user":
            continue
        intent = (event.get("parse_data") or {}).get("intent") or {}
        if intent.get("name") not in names:
            break
        count += 1
    return count


def consecutive_fallbacks(tracker: Tracker) -> int:
    """How many user turns in a row, ending with the latest, the NLU could not place."""
    return consecutive_intents(tracker, FALLBACK_INTENT)


def latest_intent(tracker: Tracker) -> str | None:
    return (tracker.latest_message.get("intent") or {}).get("name")


def latest_text(tracker: Tracker) -> str:
    return tracker.latest_message.get("text") or ""


def entity_values(tracker: Tracker, entity: str) -> list[str]:
    """Values of `entity` in the latest message, in order, without repeats."""
    values = [
        str(item.get("value"))
        for item in tracker.latest_message.get("entities") or []
        if item.get("entity") == entity and item.get("value") not in (None, "")
    ]
    return list(dict.fromkeys(values))


def caller_number(tracker: Tracker) -> str | None:
    """The calling number the channel reported (metadata `caller`), as 11 digits."""
    for event in reversed(list(tracker.events)):
        caller = (event.get("metadata") or {}).get("caller") if event.get("event") == "user" else None
        if caller:
            digits = normalize_digits(caller)
            digits = digits[2:] if digits.startswith("86") and len(digits) == 13 else digits
            if len(digits) == 11:
                return digits
    return None


def channel_of(tracker: Tracker) -> str:
    for event in reversed(list(tracker.events)):
        metadata = event.get("metadata") or {}
        if event.get("event") == "user" and metadata.get("channel") in ("phone", "kiosk", "web", "chat"):
            return metadata["channel"]
    return "chat"
