"""Booking and progress requests.

Until the booking service exists (proxy_service), a person registers bookings and looks
up progress: the assistant tells the caller what the catalogue offers for the errand and
passes them to staff. It never claims a booking it has not made.
"""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.service_answers import resolve_service
from actions.speech import spoken_list
from catalogue import load_catalogue

BOOKING_BY_STAFF = "预约要工作人员帮您登记时间。我这就帮您转人工，请不要挂机。"


def offer_booking(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]]:
    catalogue = load_catalogue()
    item = resolve_service(tracker, catalogue).item or catalogue.get(tracker.get_slot("service"))
    if item and not item.bookable:
        window = item.channels.get("window") or "窗口"
        dispatcher.utter_message(text=f"{item.name}暂时不能预约帮办代办，要本人到{window}办理。还有别的事要问吗？")
        return [SlotSet("service", item.code), SlotSet("pending_offer", "anything_else")]
    offered = f"{item.name}可以{spoken_list(item.offered_modes, '或')}。" if item else ""
    dispatcher.utter_message(text=offered + BOOKING_BY_STAFF)
    events: list[dict[str, Any]] = [SlotSet("pending_offer", None)]
    if item:
        events.insert(0, SlotSet("service", item.code))
    return events


class ActionOfferBooking(Action):
    """帮我预约代办: say what can be booked for this errand and pass the caller to staff."""

    def name(self) -> str:
        return "action_offer_booking"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        return offer_booking(dispatcher, tracker)


class ActionCheckStatus(Action):
    """我的申请办得怎么样了: progress is looked up by staff after checking who is asking."""

    def name(self) -> str:
        return "action_check_status"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        dispatcher.utter_message(response="utter_status_by_staff")
        return [SlotSet("pending_offer", "human")]
