"""Turn-taking actions: repeat, fallback, "wait a moment", yes/no answers, thanks and the way
to a human."""
from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.booking_requests import accepts_booking_offer, book_the_offer
from actions.forms import OFFER_PERSON
from actions.handoff import hand_off
from actions.lookup_form import cancel_confirmed
from actions.service_answers import answer_service, names_one_service
from actions.turns import (
    bot_messages,
    consecutive_fallbacks,
    consecutive_intents,
    latest_intent,
    previous_bot_turn,
    slot_set_in_previous_turn,
)
from contract import HANDOFF

# Slots that describe the question the bot just asked; a repeat asks it again.
QUESTION_SLOTS = ("pending_offer", "service_candidates")
FALLBACKS_BEFORE_HUMAN = 2   # then a person is offered
FALLBACKS_BEFORE_HANDOFF = 3  # then the caller is passed to one without another question
SILENCES_BEFORE_OFFER = 2     # a caller who says nothing twice is offered a person
SILENCES_BEFORE_HANDOFF = 3   # the third time, a ticket: staff take the call or ring back


class ActionRepeatLast(Action):
    """再说一遍: say the bot's previous turn again, word for word, and re-ask its question."""

    def name(self) -> str:
        return "action_repeat_last"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        events = repeat_previous_turn(dispatcher, tracker)
        if events and unanswered_in_a_row(tracker) >= FALLBACKS_BEFORE_HUMAN:   # the question a third time
            dispatcher.utter_message(text=OFFER_PERSON)
        return events


def unanswered_in_a_row(tracker: Tracker) -> int:
    """User turns in a row, ending with the latest, that left the bot's question open: words
    the NLU could not place, or "再说一遍"."""
    return consecutive_intents(tracker, "nlu_fallback", "repeat")


def open_question_slots(tracker: Tracker) -> list[dict[str, Any]]:
    """Keep the question the previous turn left open (an offer, a choice) open this turn too."""
    return [SlotSet(slot, value) for slot in QUESTION_SLOTS
            if (value := slot_set_in_previous_turn(tracker, slot)) is not None]


class ActionHoldOn(Action):
    """等一下 / 让我想想 / 我去拿一下身份证: no hurry, and the question stays open (in a form
    the next answer still fills it)."""

    def name(self) -> str:
        return "action_hold_on"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        dispatcher.utter_message(response="utter_hold_on")
        return [] if tracker.active_loop_name else open_question_slots(tracker)


def repeat_previous_turn(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]]:
    """Say the bot's previous turn again, word for word, keeping the question it asked open."""
    messages = bot_messages(previous_bot_turn(tracker))
    if not messages:
        dispatcher.utter_message(response="utter_greet")
        return []
    for message in messages:
        data = message.get("data") or {}
        dispatcher.utter_message(
            text=message.get("text"),
            buttons=data.get("buttons") or [],
            image=data.get("image"),
            json_message=data.get("custom"),
        )
    return open_question_slots(tracker)


def pending_question(tracker: Tracker) -> str | None:
    """The question the bot's previous turn ended with, when it left one open (an offer, a choice)."""
    if not any(slot_set_in_previous_turn(tracker, slot) for slot in QUESTION_SLOTS):
        return None
    texts = [m.get("text") or "" for m in bot_messages(previous_bot_turn(tracker))]
    sentences = re.findall(r"[^。！？]*？", texts[-1] if texts else "")
    return sentences[-1].strip() if sentences else None


class ActionSilence(Action):
    """The caller said nothing after a question (the voice gateway sends /silence).

    Never a silent hang-up: first a gentle reprompt with the question again, then the
    offer of a person, then a handoff ticket (a person now, or a callback window).
    During a form the form stays active, so the next answer still fills its question.
    """

    def name(self) -> str:
        return "action_silence"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        silences = consecutive_intents(tracker, "silence")
        form = tracker.active_loop_name
        if silences >= SILENCES_BEFORE_HANDOFF:
            events = hand_off(dispatcher, tracker, reason="silence")
            handoff = (dispatcher.messages[-1].get("custom") or {}).get(HANDOFF) if dispatcher.messages else None
            if not (handoff and handoff.get("transfer")):   # a callback is promised: end the call kindly
                dispatcher.utter_message(response="utter_goodbye")
            return events
        if form:   # the form asks its question again itself and keeps the answers so far
            dispatcher.utter_message(response="utter_press_zero_for_human" if silences >= SILENCES_BEFORE_OFFER
                                     else "utter_are_you_there")
            return [FollowupAction(form)]
        if silences >= SILENCES_BEFORE_OFFER:
            dispatcher.utter_message(response="utter_offer_human_after_silence")
            return [SlotSet("pending_offer", "human")]
        dispatcher.utter_message(response="utter_are_you_there")
        return repeat_previous_turn(dispatcher, tracker)


class ActionFallback(Action):
    """The NLU could not place the words: ask to rephrase; the second time, offer a human;
    the third time, hand over to one (an answer the bot cannot understand is no answer).

    Not a fallback: a caller choosing among errands the bot just named ("后面那个"), or
    words that name exactly one errand ("给我儿子办个残疾证" torn between asking and
    booking): answering about that errand beats "请再说一遍".
    """

    def name(self) -> str:
        return "action_fallback"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        if (slot_set_in_previous_turn(tracker, "service_candidates") or names_one_service(tracker)
                or accepts_booking_offer(tracker)):
            return answer_service(dispatcher, tracker)
        if consecutive_fallbacks(tracker) >= FALLBACKS_BEFORE_HANDOFF:
            return hand_off(dispatcher, tracker, reason="fallback")
        if unanswered_in_a_row(tracker) >= FALLBACKS_BEFORE_HUMAN:   # never the same question a third time
            dispatcher.utter_message(response="utter_offer_human")
            return [SlotSet("pending_offer", "human")]
        question = pending_question(tracker)
        if question:   # the question that was open is asked again, not dropped
            dispatcher.utter_message(text=f"不好意思，我没听明白。{question}")
            return open_question_slots(tracker)
        dispatcher.utter_message(response="utter_ask_rephrase")
        return []


class ActionHandOff(Action):
    """转人工, a complaint, distress, or yes to the offer of a human: a ticket, then the words."""

    def name(self) -> str:
        return "action_hand_off"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        return hand_off(dispatcher, tracker)


class ActionReplyYesNo(Action):
    """好的 / 不用了: the answer to whatever yes/no question the bot just asked."""

    def name(self) -> str:
        return "action_reply_yes_no"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        offer = slot_set_in_previous_turn(tracker, "pending_offer")
        yes = latest_intent(tracker) == "affirm"
        if offer == "human" and yes:
            return hand_off(dispatcher, tracker)
        if offer == "booking" and accepts_booking_offer(tracker):
            return book_the_offer(tracker) or [FollowupAction("booking_form")]
        if offer == "cancel_booking" and yes:
            return cancel_confirmed(dispatcher, tracker)
        if offer in ("booking", "anything_else", "human", "cancel_booking") and not yes:
            if offer == "anything_else":
                dispatcher.utter_message(response="utter_goodbye")
                return [SlotSet("pending_offer", None)]
            dispatcher.utter_message(response="utter_anything_else")
            return [SlotSet("pending_offer", "anything_else")]
        dispatcher.utter_message(response="utter_what_else")
        return [SlotSet("pending_offer", None)]


class ActionWelcome(Action):
    """谢谢 → 不客气, and ask once whether there is anything else."""

    def name(self) -> str:
        return "action_welcome"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        dispatcher.utter_message(response="utter_you_are_welcome")
        return [SlotSet("pending_offer", "anything_else")]


class ActionStopForm(Action):
    """"算了，不约了" during a form: end it, forget its answers, keep the line open."""

    def name(self) -> str:
        return "action_stop_form"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        from rasa_sdk.events import ActiveLoop

        from actions.booking_form import FORM_SLOTS
        from actions.lookup_form import LOOKUP_SLOTS

        dispatcher.utter_message(text="好的，先不办了。还有别的事吗？")
        cleared = [SlotSet(slot, None) for slot in FORM_SLOTS + LOOKUP_SLOTS if slot != "service"]
        return [ActiveLoop(None), SlotSet("requested_slot", None), *cleared, SlotSet("pending_offer", "anything_else")]
