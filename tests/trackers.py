"""Build rasa_sdk trackers from a short script of turns, for unit tests of actions."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker

_clock = iter(range(1_700_000_000, 1_800_000_000))


def user(text: str, intent: str, entities: list[dict[str, Any]] | None = None, confidence: float = 0.9,
         metadata: dict[str, Any] | None = None) -> dict:
    return {
        "event": "user",
        "text": text,
        "timestamp": float(next(_clock)),
        "metadata": metadata or {},
        "parse_data": {"text": text, "intent": {"name": intent, "confidence": confidence},
                       "entities": entities or []},
    }


def entity(name: str, value: str) -> dict[str, Any]:
    return {"entity": name, "value": value}


def bot(text: str) -> dict:
    return {"event": "bot", "text": text, "data": {}}


def slot(name: str, value: Any) -> dict:
    return {"event": "slot", "name": name, "value": value}


def action(name: str) -> dict:
    return {"event": "action", "name": name}


def tracker(*events: dict, slots: dict[str, Any] | None = None, active_loop: str | None = None,
            sender: str = "test-sender") -> Tracker:
    """A tracker whose latest message is the last user event of the script."""
    event_list = []
    for event in events:
        if event["event"] == "user":
            event_list.append(action("action_listen"))
        event_list.append(event)
    users = [event for event in event_list if event["event"] == "user"]
    latest = users[-1]["parse_data"] if users else {}
    values = dict(slots or {})
    for event in event_list:
        if event["event"] == "slot":
            values[event["name"]] = event["value"]
    loop = {"name": active_loop} if active_loop else {}
    return Tracker(sender, values, latest, event_list, False, None, loop, "action_listen")
