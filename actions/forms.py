"""What every form of the assistant shares: questions asked one at a time, the keypad hint
on the phone, a question asked again when it went unanswered (a person offered the second
time), reading yes and no."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.turns import channel_of, latest_intent
from contract import COLLECT_DIGITS


def yes_or_no(tracker: Tracker) -> bool | None:
    """True for a yes, False for a no, None for anything else."""
    intent = latest_intent(tracker)
    return True if intent == "affirm" else False if intent == "deny" else None


# Intents meant as an answer to the form's question: when they fill nothing the question is
# asked again (and counted). Anything else (转人工, 不办了, a complaint, 好的 to an offer of a
# person) leaves the turn to its rule: Rasa rejects a form turn that filled nothing.
ANSWER_INTENTS = {"repeat", "inform", "out_of_scope"}
UNANSWERED = "unanswered_question"    # "<requested slot>:<times it went unanswered>"
OFFER_PERSON = "要是不好说，您就说“转人工”，我请工作人员来帮您。"


def times_unanswered(tracker: Tracker, slot: str) -> int:
    asked, _, count = (tracker.get_slot(UNANSWERED) or "").rpartition(":")
    return int(count) if asked == slot and count.isdigit() else 0


class QuestionFormValidation(FormValidationAction, ABC):
    """Base of our form validators: a question that went unanswered ("再说一遍", an answer
    that fits nothing, a value the validator refused) is asked again, and the second time
    it goes unanswered a person is offered with it — never the same question a third time
    without the way to a person."""

    @abstractmethod
    def name(self) -> str: ...

    async def run(self, dispatcher, tracker, domain):
        requested = tracker.get_slot("requested_slot")
        events = await super().run(dispatcher, tracker, domain)
        if not requested:
            return events
        slot_events = [e for e in events if e.get("event") == "slot" and e.get("name") not in ("requested_slot", UNANSWERED)]
        answered = any(e.get("name") == requested and e.get("value") is not None for e in slot_events)
        cleared = any(e.get("name") != requested and e.get("value") is None for e in slot_events)
        if answered or cleared:   # answered, or a correction cleared another field to ask it again
            return [*events, SlotSet(UNANSWERED, None)]
        if not slot_events and latest_intent(tracker) not in ANSWER_INTENTS:
            return events
        unanswered = times_unanswered(tracker, requested) + 1
        if unanswered >= 2:
            dispatcher.utter_message(text=OFFER_PERSON)
        # reported as (still) empty, so the form asks its question again instead of rejecting the turn
        return [*events, SlotSet(requested, None), SlotSet(UNANSWERED, f"{requested}:{unanswered}")]


DTMF_HINT = "也可以在电话上按数字，按完按井号键。"


def ask(dispatcher: CollectingDispatcher, tracker: Tracker, text: str, hint: dict[str, Any] | None) -> None:
    if hint and hint.get(COLLECT_DIGITS) and channel_of(tracker) == "phone":
        text += DTMF_HINT
    dispatcher.utter_message(text=text, json_message=hint)


class FixedQuestion(Action, ABC):
    """An ask action whose words never change; one subclass per entry of a table."""

    question = ""
    hint: dict[str, Any] | None = None

    @abstractmethod
    def name(self) -> str: ...

    def run(self, dispatcher, tracker, domain):
        ask(dispatcher, tracker, self.question, self.hint)
        return []


def fixed_questions(table: dict[str, str], hints: dict[str, dict[str, Any]] | None = None) -> list[type]:
    """Subclasses of FixedQuestion (rasa-sdk registers each) from {action name: words}."""
    return [type(f"Ask_{action}", (FixedQuestion,),
                 {"name": lambda self, a=action: a, "question": words, "hint": (hints or {}).get(action)})
            for action, words in table.items()]
