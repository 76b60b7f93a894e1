"""Answers to errand questions, straight from the service catalogue."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

import contract
from actions.booking_requests import asks_to_book, book_the_offer, start_booking
from actions.speech import choice_question, spoken_list
from actions.turns import (
    entity_values,
    latest_intent,
    latest_text,
    slot_set_in_previous_turn,
)
from catalogue import Catalogue, ServiceItem, load_catalogue
from contract import ordinal

MAX_CHOICES = 3
# Words that ask what to bring: "要带什么", "需要啥材料", "准备哪些证件".
MATERIALS_QUESTION = re.compile(r"材料|证件|带(什么|啥|哪些|些啥|么子)|准备(什么|啥|哪些)|要带|需要(什么|啥)|手续")
BOOKING_OFFER = "需要我帮您预约帮办或代办吗？"
ANYTHING_ELSE = "还有别的事要问吗？"


@dataclass
class Resolution:
    """The errand the caller means, or the errands still in question."""

    item: ServiceItem | None = None
    candidates: list[ServiceItem] = field(default_factory=list)


def resolve_service(tracker: Tracker, catalogue: Catalogue) -> Resolution:
    """Decide which errand the latest message is about.

    Order of evidence: the `service` entity, a choice among the errands the bot just
    offered (by name or "第二个"), errand names in the words (same sounds count), the
    intent's own errands.
    """
    text = latest_text(tracker)
    offered = [item for code in slot_set_in_previous_turn(tracker, "service_candidates") or []
               if (item := catalogue.get(code))]
    for value in entity_values(tracker, "service"):
        item = catalogue.get(value)
        matches = [item] if item else catalogue.match(value, among=offered or None)
        if len(matches) == 1 and (not offered or matches[0] in offered):
            return Resolution(item=matches[0])
    if offered:
        index = ordinal(text, len(offered))
        if index is not None:
            return Resolution(item=offered[index])
    intent_items = catalogue.for_intent(latest_intent(tracker))
    for scope in (offered or None, intent_items or None, catalogue.items):
        if scope is None:
            continue
        matches = catalogue.match(text, among=scope)
        if len(matches) == 1:
            return Resolution(item=matches[0])
        if matches:
            return Resolution(candidates=matches)
    if len(intent_items) == 1:
        return Resolution(item=intent_items[0])
    return Resolution(candidates=intent_items or offered)


def names_one_service(tracker: Tracker) -> bool:
    """True when the latest words name exactly one catalogue errand, whatever the intent."""
    return resolve_service(tracker, load_catalogue()).item is not None


def materials_sentence(item: ServiceItem) -> str:
    return f"办{item.name}，要带{spoken_list(item.materials)}。"


def follow_up(item: ServiceItem) -> tuple[str, str]:
    """The one question that ends an answer, and the offer it makes."""
    if item.bookable:
        return BOOKING_OFFER, "booking"
    return ANYTHING_ELSE, "anything_else"


def answer_events(dispatcher: CollectingDispatcher, item: ServiceItem, *, materials: bool) -> list[dict[str, Any]]:
    """Speak the answer (and the materials when asked), then one follow-up question."""
    question, offer = follow_up(item)
    parts = [materials_sentence(item)] if materials else []
    if not materials:
        parts.append(item.answer)
    parts.append(question)
    # a screen (the kiosk) shows what to bring as a checklist, and where the errand is done
    dispatcher.utter_message(text="".join(parts), json_message=contract.checklist(
        f"办{item.name}要带的材料", item.materials, item.channels.get("window")))
    return [SlotSet("service", item.code), SlotSet("service_candidates", None), SlotSet("pending_offer", offer)]


def ask_to_choose(dispatcher: CollectingDispatcher, candidates: list[ServiceItem]) -> list[dict[str, Any]]:
    shortlist = candidates[:MAX_CHOICES]
    dispatcher.utter_message(text=choice_question([item.name for item in shortlist]))
    return [SlotSet("service_candidates", [item.code for item in shortlist])]


def answer_service(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]]:
    """Answer about the errand the caller means — or book it, when that is what they ask."""
    booking = book_the_offer(tracker)            # 代办 / 要 / 好的帮我预约, to the offer
    if booking:
        return booking
    resolution = resolve_service(tracker, load_catalogue())
    if resolution.item and resolution.item.bookable and asks_to_book(tracker):   # 我想预约代办养老金认证
        return start_booking(tracker, resolution.item)
    if resolution.item:
        asks_materials = bool(MATERIALS_QUESTION.search(latest_text(tracker)))
        return answer_events(dispatcher, resolution.item, materials=asks_materials)
    if resolution.candidates:
        return ask_to_choose(dispatcher, resolution.candidates)
    dispatcher.utter_message(response="utter_ask_which_service")
    return []


class ActionAnswerService(Action):
    """Answer an ask_* question (or a choice the caller just made) from the catalogue."""

    def name(self) -> str:
        return "action_answer_service"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        return answer_service(dispatcher, tracker)


class ActionAnswerMaterials(Action):
    """"要带什么材料？" about the errand under discussion (or the one named now)."""

    def name(self) -> str:
        return "action_answer_materials"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        catalogue = load_catalogue()
        resolution = resolve_service(tracker, catalogue)
        item = resolution.item or catalogue.get(tracker.get_slot("service"))
        if item:
            return answer_events(dispatcher, item, materials=True)
        if resolution.candidates:
            return ask_to_choose(dispatcher, resolution.candidates)
        dispatcher.utter_message(response="utter_ask_which_service")
        return []
