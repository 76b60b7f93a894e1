"""Progress, cancellation and rescheduling by reference code + the last four phone digits.

The same short form serves all three (`lookup_purpose` says which): the caller gives the
eight-digit reference and the phone tail, then hears the status in one plain sentence,
confirms a cancellation, or picks a new time.
"""
from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import proxy_api
from actions.forms import QuestionFormValidation, fixed_questions
from actions.times import bookable_time, chosen_time, offer_times, slot_label
from actions.service_answers import ANYTHING_ELSE
from actions.settings import today
from actions.speech import spoken_digits, spoken_list
from actions.turns import caller_number, entity_values, latest_intent, latest_text
from contract import DIGITS, listen_for, normalize_digits

FORM = "lookup_form"
PURPOSES = {"check_application_status": "status", "cancel_booking": "cancel", "change_booking": "change"}
LOOKUP_SLOTS = ["lookup_purpose", "lookup_reference", "lookup_phone_tail", "new_booking_slot", "offered_times"]


class SetLookupPurpose(Action):
    def name(self) -> str:
        return "action_set_lookup_purpose"

    def run(self, dispatcher, tracker, domain):
        return [SlotSet("lookup_purpose", PURPOSES.get(latest_intent(tracker), "status")),
                SlotSet("lookup_reference", None), SlotSet("lookup_phone_tail", None),
                SlotSet("new_booking_slot", None)]


class ValidateLookupForm(QuestionFormValidation):
    def name(self) -> str:
        return "validate_lookup_form"

    async def required_slots(self, domain_slots, dispatcher, tracker, domain) -> list[str]:
        slots = ["lookup_reference", "lookup_phone_tail"]
        if tracker.get_slot("lookup_purpose") == "change":
            slots.append("new_booking_slot")
        return slots

    def extract_lookup_reference(self, dispatcher, tracker, domain) -> dict[str, Any]:
        if tracker.get_slot("lookup_reference") and tracker.get_slot("requested_slot") != "lookup_reference":
            return {}
        for value in entity_values(tracker, "reference_code") + [latest_text(tracker)]:
            match = re.search(r"(?<!\d)\d{8}(?!\d)", normalize_digits(value))
            if match:
                return {"lookup_reference": match.group(0)}
        return {}

    def extract_lookup_phone_tail(self, dispatcher, tracker, domain) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != "lookup_phone_tail":
            return {}
        for value in entity_values(tracker, "phone_tail") + [latest_text(tracker)]:
            digits = normalize_digits(value)
            if len(digits) == 4:
                return {"lookup_phone_tail": digits}
            if len(digits) == 11:
                return {"lookup_phone_tail": digits[-4:]}
        number = caller_number(tracker)
        if number and latest_intent(tracker) == "affirm":
            return {"lookup_phone_tail": number[-4:]}
        return {}

    def extract_new_booking_slot(self, dispatcher, tracker, domain) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != "new_booking_slot":
            return {}
        chosen = chosen_time(tracker, requested=True)
        return {"new_booking_slot": chosen} if chosen else {}

    def validate_new_booking_slot(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        return {"new_booking_slot": value if bookable_time(dispatcher, tracker, value) else None}


LOOKUP_QUESTION_ACTIONS = fixed_questions({
    "action_ask_lookup_reference": "请说一下八位的预约号或申请编号，一位一位地说。",
    "action_ask_lookup_phone_tail": "再说一下登记的手机号最后四位。",
}, {
    "action_ask_lookup_reference": listen_for(DIGITS, 8),
    "action_ask_lookup_phone_tail": listen_for(DIGITS, 4),
})


class AskNewBookingSlot(Action):
    def name(self) -> str:
        return "action_ask_new_booking_slot"

    def run(self, dispatcher, tracker, domain):
        return offer_times(dispatcher, tracker, "您想改到什么时候？")


def finish_lookup(dispatcher: CollectingDispatcher, text: str, offer: str) -> list[dict[str, Any]]:
    """Say the outcome, forget the look-up, and leave one yes/no question open."""
    dispatcher.utter_message(text=text)
    return [*(SlotSet(slot, None) for slot in LOOKUP_SLOTS), SlotSet("pending_offer", offer)]


def rejected_lookup(dispatcher: CollectingDispatcher, rejected: proxy_api.Rejected) -> list[dict[str, Any]]:
    """Not found: say so and go on. Too many wrong tails: the look-up is locked, a person is offered."""
    if rejected.code == "too_many_attempts":
        return finish_lookup(dispatcher, rejected.message_zh, "human")
    return finish_lookup(dispatcher, rejected.message_zh + ANYTHING_ELSE, "anything_else")


def status_sentence(record: dict) -> str:
    """One plain sentence on where things stand, and what is still to bring."""
    if record["kind"] == "booking":
        when = slot_label(f"{record['day']}|{record['half_day']}", today())
        if record["status"] == "cancelled":
            return f"您{when}的{record['service_name']}预约已经取消了。"
        if record["status"] == "completed":
            return f"您预约的{record['service_name']}{record['mode_label']}已经办完了。"
        where = "工作人员会上门" if record["mode"] == "home_visit" else f"请到{record['place_name']}"
        bring = f"请带上{spoken_list(record['materials'])}。" if record["materials"] else ""
        return f"您预约了{record['service_name']}{record['mode_label']}，时间是{when}，{where}。{bring}"
    sentence = f"您的{record['service_name']}申请{record['status_label']}。"
    if record["status"] == "missing_materials" and record["missing_materials"]:
        sentence += f"还要补{spoken_list(record['missing_materials'])}。"
    if record.get("status_note") and record["status"] in ("missing_materials", "rejected"):
        sentence += f"工作人员说：{record['status_note']}"
    return sentence


class SubmitLookup(Action):
    def name(self) -> str:
        return "action_submit_lookup"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        reference, tail = tracker.get_slot("lookup_reference"), tracker.get_slot("lookup_phone_tail")
        purpose = tracker.get_slot("lookup_purpose") or "status"
        try:
            record = proxy_api.call("POST", "/api/status", json={"reference": reference, "phone_last4": tail,
                                                                 "conversation_id": tracker.sender_id})
            if purpose == "status":
                return finish_lookup(dispatcher, status_sentence(record) + ANYTHING_ELSE, "anything_else")
            if record["kind"] != "booking" or record["status"] != "confirmed":
                return finish_lookup(dispatcher, status_sentence(record) + "这个不能再改了。" + ANYTHING_ELSE,
                                     "anything_else")
            if purpose == "cancel":
                when = slot_label(f"{record['day']}|{record['half_day']}", today())
                dispatcher.utter_message(text=f"您要取消{when}的{record['service_name']}预约，对吗？")
                return [SlotSet("pending_offer", "cancel_booking"), SlotSet("lookup_purpose", None),
                        SlotSet("new_booking_slot", None)]
            day, half = tracker.get_slot("new_booking_slot").split("|")
            moved = proxy_api.call("POST", f"/api/bookings/{reference}/reschedule",
                                   json={"phone_last4": tail, "day": day, "half_day": half,
                                         "conversation_id": tracker.sender_id},
                                   idempotency_key=proxy_api.turn_key(tracker, "reschedule"))
        except proxy_api.Rejected as rejected:
            return rejected_lookup(dispatcher, rejected)
        except proxy_api.OutcomeUnknown:
            return finish_lookup(dispatcher, "抱歉，系统太忙，我还不能确定改没改好。我帮您转人工查一下，好吗？", "human")
        except proxy_api.ServiceUnavailable:
            return finish_lookup(dispatcher, "抱歉，系统暂时查不了。我帮您转人工，好吗？", "human")
        when = slot_label(f"{moved['day']}|{moved['half_day']}", today())
        return finish_lookup(dispatcher, f"改好了，新的时间是{when}，预约号不变，还是{spoken_digits(reference)}。"
                                         + ANYTHING_ELSE, "anything_else")


def cancel_confirmed(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]]:
    """The caller said yes to "您要取消…对吗？"."""
    reference, tail = tracker.get_slot("lookup_reference"), tracker.get_slot("lookup_phone_tail")
    try:
        proxy_api.call("POST", f"/api/bookings/{reference}/cancel",
                       json={"phone_last4": tail, "conversation_id": tracker.sender_id},
                       idempotency_key=proxy_api.turn_key(tracker, "cancel"))
    except proxy_api.Rejected as rejected:
        return rejected_lookup(dispatcher, rejected)
    except proxy_api.OutcomeUnknown:
        return finish_lookup(dispatcher, "抱歉，系统太忙，我还不能确定取消了没有。我帮您转人工查一下，好吗？", "human")
    except proxy_api.ServiceUnavailable:
        return finish_lookup(dispatcher, "抱歉，系统出了点问题，还没取消成功。我帮您转人工，好吗？", "human")
    return finish_lookup(dispatcher, "好的，预约已经取消了。" + ANYTHING_ELSE, "anything_else")
