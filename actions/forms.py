"""What every form of the assistant shares: questions asked one at a time, the keypad hint
on the phone, "再说一遍" re-asking the current question, reading yes and no."""
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


class QuestionFormValidation(FormValidationAction, ABC):
    """Base of our form validators: "再说一遍" re-asks the current question.

    Rasa rejects a form turn that filled nothing; for a repeat we report the requested
    slot as (still) empty instead, so the form simply asks its question again.
    """

    @abstractmethod
    def name(self) -> str: ...

    async def run(self, dispatcher, tracker, domain):
        requested = tracker.get_slot("requested_slot")
        events = await super().run(dispatcher, tracker, domain)
        progressed = any(e.get("event") == "slot" and e.get("name") != "requested_slot" for e in events)
        if requested and not progressed and latest_intent(tracker) == "repeat":
            events.append(SlotSet(requested, None))
        return events


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
