"""The booking form: errand, mode, time, name, phone, address, consent, read-back.

One question at a time. Answers are taken from what the caller says (entities, then the
words themselves), so spoken replies like "就明天上午吧" or "幺三八…" fill the slot. At
the read-back a correction ("时间改成下午", "电话不对") clears only what it names, and
the form asks just that again: it never starts over.
"""
from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import proxy_api, settings
from actions.booking_requests import FORM, help_asked_for, modes_of
from actions.forms import QuestionFormValidation, ask, fixed_questions, yes_or_no
from actions.service_answers import resolve_service
from actions.settings import today
from actions.speech import spoken_digits, spoken_list, spoken_phone
from actions.times import bookable_time, chosen_time, offer_times, slot_label
from actions.turns import caller_number, channel_of, entity_values, latest_intent, latest_text
from catalogue import OFFER_LABELS, load_catalogue
from contract import DIGITS, MODE, YES_NO, listen_for, normalize_digits, ordinal

MODE_LABELS = OFFER_LABELS
FORM_SLOTS = ["service", "booking_mode", "needs_home_visit", "booking_slot", "offered_times", "person_name",
              "phone_number", "phone_declined", "home_address", "booking_consent", "booking_confirmed"]
CORRECTIONS = [  # words that name a field at the read-back → the slots to ask again
    (re.compile(r"时间|日子|哪天|几号|上午|下午|明天|后天|周|星期|礼拜"), ["booking_slot"]),
    (re.compile(r"电话|号码|手机"), ["phone_number", "phone_declined"]),
    (re.compile(r"名字|姓名|叫|姓"), ["person_name"]),
    (re.compile(r"地址|住|小区|楼"), ["home_address"]),
    (re.compile(r"帮办|代办|上门|方式"), ["booking_mode", "needs_home_visit", "home_address"]),
    (re.compile(r"业务|事情|办的事|哪件事"), ["service", "booking_mode", "needs_home_visit", "home_address"]),
]
NAME_PREFIX = re.compile(r"^(我|她|他|老人|我妈|我爸|老人家)?(叫|姓名是|名字是|名字叫|是)?")
HAN = re.compile(r"[\u4e00-\u9fff]")
# Free text (a name, an address) is taken only from turns the NLU did not read as
# something else: "再说一遍" or "转人工" is never anyone's name.
FREE_TEXT_INTENTS = {"inform", "nlu_fallback", "out_of_scope"}
PHONE = re.compile(r"1\d{10}")


def _requested(tracker: Tracker, slot: str) -> bool:
    return tracker.get_slot("requested_slot") == slot


def _item(tracker: Tracker):
    return load_catalogue().get(tracker.get_slot("service"))


def offered_modes(tracker: Tracker) -> list[str]:
    item = _item(tracker)
    modes = modes_of(item) if item else []
    if tracker.get_slot("needs_home_visit") is False:
        modes = [mode for mode in modes if mode != "home_visit"]
    return modes


def normalized_phone(text: str) -> str | None:
    digits = normalize_digits(text)
    match = PHONE.search(digits)
    return match.group(0) if match else None


class ValidateBookingForm(QuestionFormValidation):
    def name(self) -> str:
        return "validate_booking_form"

    async def required_slots(self, domain_slots, dispatcher, tracker, domain) -> list[str]:
        slots = ["service", "booking_mode"]
        if tracker.get_slot("booking_mode") == "home_visit":
            slots.append("needs_home_visit")
        slots += ["booking_slot", "person_name", "phone_number"]
        if tracker.get_slot("booking_mode") == "home_visit":
            slots.append("home_address")
        slots.append("booking_consent")
        if tracker.get_slot("booking_consent") is not False:
            slots.append("booking_confirmed")
        return slots

    # --- extraction: what the latest words say about each slot ----------------------
    def extract_service(self, dispatcher, tracker, domain) -> dict[str, Any]:
        if tracker.get_slot("service") and not _requested(tracker, "service"):
            return {}
        item = resolve_service(tracker, load_catalogue()).item
        return {"service": item.code} if item else {}

    def extract_booking_mode(self, dispatcher, tracker, domain) -> dict[str, Any]:
        if tracker.get_slot("booking_mode") and not _requested(tracker, "booking_mode"):
            return {}
        modes = offered_modes(tracker)
        named = help_asked_for(tracker, modes if _requested(tracker, "booking_mode") else None)
        if named:   # 代办, 上门 — or 腿脚不方便, which asks for help that comes to the caller
            return named
        if _requested(tracker, "booking_mode") and len(modes) > 1:
            index = ordinal(latest_text(tracker), len(modes))
            if index is not None:
                return {"booking_mode": modes[index]}
        return {}

    def extract_needs_home_visit(self, dispatcher, tracker, domain) -> dict[str, Any]:
        if not _requested(tracker, "needs_home_visit") or yes_or_no(tracker) is None:
            return {}
        return {"needs_home_visit": yes_or_no(tracker)}

    def extract_booking_slot(self, dispatcher, tracker, domain) -> dict[str, Any]:
        if tracker.get_slot("booking_slot") and not _requested(tracker, "booking_slot"):
            return {}
        chosen = chosen_time(tracker, requested=_requested(tracker, "booking_slot"))
        return {"booking_slot": chosen} if chosen else {}

    def extract_person_name(self, dispatcher, tracker, domain) -> dict[str, Any]:
        names = entity_values(tracker, "person_name")
        if names and (_requested(tracker, "person_name") or not tracker.get_slot("person_name")):
            return {"person_name": names[0]}
        if not _requested(tracker, "person_name") or latest_intent(tracker) not in FREE_TEXT_INTENTS:
            return {}
        words = re.sub(r"[\s，。,.!！?？吧啊呀的]", "", latest_text(tracker))
        candidate = NAME_PREFIX.sub("", words)
        if 2 <= len(candidate) <= 4 and all(HAN.match(ch) for ch in candidate):
            return {"person_name": candidate}
        return {}

    def extract_phone_number(self, dispatcher, tracker, domain) -> dict[str, Any]:
        if tracker.get_slot("phone_number") and not _requested(tracker, "phone_number"):
            return {}
        for value in entity_values(tracker, "phone_number") + [latest_text(tracker)]:
            phone = normalized_phone(value)
            if phone:
                return {"phone_number": phone}
        if _requested(tracker, "phone_number") and not tracker.get_slot("phone_declined"):
            number = caller_number(tracker)
            if number and yes_or_no(tracker) is True:
                return {"phone_number": number}
            if number and yes_or_no(tracker) is False:
                return {"phone_declined": True}
        return {}

    def extract_home_address(self, dispatcher, tracker, domain) -> dict[str, Any]:
        if not _requested(tracker, "home_address") or latest_intent(tracker) not in FREE_TEXT_INTENTS:
            return {}
        text = latest_text(tracker).strip()
        return {"home_address": text[:200]} if len(HAN.findall(text)) >= 4 else {}

    def extract_booking_consent(self, dispatcher, tracker, domain) -> dict[str, Any]:
        if not _requested(tracker, "booking_consent") or yes_or_no(tracker) is None:
            return {}
        return {"booking_consent": yes_or_no(tracker)}

    def extract_booking_confirmed(self, dispatcher, tracker, domain) -> dict[str, Any]:
        """Yes confirms. A correction clears only the fields it names (and takes their new
        value when it gives one); a bare no asks which field to change."""
        if not _requested(tracker, "booking_confirmed"):
            return {}
        text = latest_text(tracker)
        if yes_or_no(tracker) is True and "改" not in text:
            return {"booking_confirmed": True}
        cleared: dict[str, Any] = {}
        for pattern, slots in CORRECTIONS:
            if pattern.search(text):
                cleared.update({slot: None for slot in slots})
        if not cleared:
            if yes_or_no(tracker) is False:
                dispatcher.utter_message(text="好的，哪一项要改？时间、电话，还是名字？")
                return {"booking_confirmed": None, "pending_offer": None}
            return {}
        new_time = chosen_time(tracker, requested=False) if "booking_slot" in cleared else None
        if new_time:
            cleared["booking_slot"] = new_time
        if "phone_number" in cleared and normalized_phone(text):
            cleared["phone_number"] = normalized_phone(text)
            cleared.pop("phone_declined")
        return {**cleared, "booking_confirmed": None}

    # --- validation -----------------------------------------------------------------
    def validate_service(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        item = load_catalogue().get(value)
        if item is None:
            return {"service": None}
        if not item.bookable:
            window = item.channels.get("window") or "窗口"
            dispatcher.utter_message(text=f"{item.name}不能预约帮办代办，要本人到{window}办理。")
            return {"service": None}
        modes = offered_modes(tracker)
        return {"service": value, **({"booking_mode": modes[0]} if len(modes) == 1 else {})}

    def validate_booking_mode(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        if value not in offered_modes(tracker):
            item = _item(tracker)
            if item:
                dispatcher.utter_message(text=f"{item.name}不能{MODE_LABELS.get(value, '这样办')}。")
            return {"booking_mode": None}
        return {"booking_mode": value}

    def validate_needs_home_visit(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        if value is False:
            dispatcher.utter_message(text="好的。那就不用上门，可以帮办或者代办。")
            return {"needs_home_visit": False, "booking_mode": None}
        return {"needs_home_visit": True}

    def validate_booking_slot(self, value, dispatcher, tracker, domain) -> dict[str, Any]:
        return {"booking_slot": value if bookable_time(dispatcher, tracker, value) else None}


FIXED_QUESTIONS = {
    "action_ask_service": "您想预约办哪件事？比如高龄津贴、社保卡补办。",
    "action_ask_needs_home_visit": "上门服务是给出门不方便的人的。办事的人行动不方便，是吗？",
    "action_ask_person_name": "请问办事的人叫什么名字？",
    "action_ask_home_address": "请说一下上门的地址，哪个小区，几号楼几单元。",
    "action_ask_booking_consent": "我们会保存姓名和电话，只用来办这件事，办完按规定删除。您同意吗？",
}
FIXED_QUESTION_ACTIONS = fixed_questions(FIXED_QUESTIONS, {
    "action_ask_needs_home_visit": listen_for(YES_NO),
    "action_ask_booking_consent": listen_for(YES_NO),
})


class AskBookingMode(Action):
    def name(self) -> str:
        return "action_ask_booking_mode"

    def run(self, dispatcher, tracker, domain):
        item, modes = _item(tracker), offered_modes(tracker)
        labels = [MODE_LABELS[mode] for mode in modes]
        explain = "帮办是工作人员陪您一起办，代办是我们替您去办。" if {"assisted", "proxy"} <= set(modes) else ""
        extra = "出门不方便的，还可以上门。" if "home_visit" in modes else ""
        ask(dispatcher, tracker, f"{item.name}可以{spoken_list(labels, '或')}。{explain}{extra}您要哪一种？",
            listen_for(MODE))
        return []


class AskBookingSlot(Action):
    def name(self) -> str:
        return "action_ask_booking_slot"

    def run(self, dispatcher, tracker, domain):
        return offer_times(dispatcher, tracker, "")


class AskPhoneNumber(Action):
    def name(self) -> str:
        return "action_ask_phone_number"

    def run(self, dispatcher, tracker, domain):
        number = caller_number(tracker)
        if number and not tracker.get_slot("phone_declined"):
            ask(dispatcher, tracker, f"联系电话就用您现在这个尾号{spoken_digits(number[-4:])}的号码吗？",
                listen_for(YES_NO))
        else:
            ask(dispatcher, tracker, "请说一下联系的手机号码，一位一位地说就行。", listen_for(DIGITS, 11))
        return []


def place_name(code: str) -> str:
    from proxy_service.services.reference import reference_data

    return next((p["name"] for p in reference_data()["places"] if p["code"] == code), "办事大厅")


def read_back(tracker: Tracker) -> str:
    item = _item(tracker)
    mode = tracker.get_slot("booking_mode")
    where = (f"上门地址是{tracker.get_slot('home_address')}" if mode == "home_visit"
             else f"在{place_name(settings.DEFAULT_PLACE)}办")
    return (f"我跟您核对一下：给{tracker.get_slot('person_name')}预约{item.name}{MODE_LABELS[mode]}，"
            f"时间是{slot_label(tracker.get_slot('booking_slot'), today())}，{where}，"
            f"电话{spoken_phone(tracker.get_slot('phone_number'))}。对吗？")


class AskBookingConfirmed(Action):
    def name(self) -> str:
        return "action_ask_booking_confirmed"

    def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text=read_back(tracker))
        return []


def clear_form() -> list[dict[str, Any]]:
    return [SlotSet(slot, None) for slot in FORM_SLOTS if slot != "service"]


class SubmitBooking(Action):
    """Create the booking; the caller hears the reference only once it is stored."""

    def name(self) -> str:
        return "action_submit_booking"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        if tracker.get_slot("booking_consent") is not True:
            dispatcher.utter_message(text="好的，不保存信息就没法预约。您也可以说“转人工”，让工作人员帮您。")
            return clear_form()
        day, half = tracker.get_slot("booking_slot").split("|")
        body = {
            "service_code": tracker.get_slot("service"), "mode": tracker.get_slot("booking_mode"),
            "place_code": settings.DEFAULT_PLACE, "day": day, "half_day": half,
            "resident": {"name": tracker.get_slot("person_name"), "phone": tracker.get_slot("phone_number")},
            "consent": {"given": True, "wording_version": settings.CONSENT_WORDING_VERSION},
            "address": tracker.get_slot("home_address"), "channel": channel_of(tracker),
        }
        try:
            booking = proxy_api.call("POST", "/api/bookings", json=body,
                                     idempotency_key=proxy_api.turn_key(tracker, "booking"))
        except proxy_api.Rejected as rejected:
            if rejected.code == "slot_full":
                dispatcher.utter_message(text="不好意思，这个时间刚刚被约满了，我们换一个时间。")
                return [SlotSet("booking_slot", None), SlotSet("booking_confirmed", None), FollowupAction(FORM)]
            dispatcher.utter_message(text=f"预约没有成功：{rejected.message_zh}我帮您转人工，好吗？")
            return [*clear_form(), SlotSet("pending_offer", "human")]
        except proxy_api.OutcomeUnknown:
            # It may have been booked: saying "没有成功" would make the caller book twice.
            dispatcher.utter_message(text="抱歉，系统太忙，我还不能确定预约有没有办好。请先不要重新预约。"
                                          "我帮您转人工查一下，好吗？")
            return [SlotSet("pending_offer", "human")]
        except proxy_api.ServiceUnavailable:
            dispatcher.utter_message(text="抱歉，系统出了点问题，预约没有成功。我帮您转人工，好吗？")
            return [SlotSet("pending_offer", "human")]
        reference = booking["reference"]
        materials = spoken_list(booking.get("materials") or [])
        dispatcher.utter_message(
            text=f"预约好了。预约号是{spoken_digits(reference)}，我再说一遍：{spoken_digits(reference)}。"
                 + (f"到时候请带上{materials}。" if materials else "") + "还有别的事吗？")
        return [*clear_form(), SlotSet("booking_reference", reference), SlotSet("pending_offer", "anything_else")]


