"""Requests to book, whatever the intent: answers to the booking offer, a booking asked for
with the errand, "cannot get out" for a home visit — on scripted trackers (no model)."""
from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.booking_requests import accepts_booking_offer, asks_to_book, mode_named, modes_of
from actions.conversation import ActionFallback, ActionReplyYesNo
from actions.service_answers import BOOKING_OFFER, ActionAnswerService
from catalogue import load_catalogue
from tests.trackers import bot, entity, slot, tracker, user

CATALOGUE = load_catalogue()
ALLOWANCE = CATALOGUE.get("elderly_allowance")


def after_offer(text: str, intent: str, entities=None):
    """A tracker in which the bot has just answered about the old-age allowance and offered to book."""
    return tracker(user("高龄津贴怎么申请", "ask_elderly_benefits"), bot(ALLOWANCE.answer + BOOKING_OFFER),
                   slot("service", "elderly_allowance"), slot("pending_offer", "booking"),
                   user(text, intent, entities))


def run(action, state):
    dispatcher = CollectingDispatcher()
    events = action.run(dispatcher, state, {})
    return dispatcher.messages, events


def followups(events) -> list[str]:
    return [e["name"] for e in events if e.get("event") == "followup"]


def slots(events) -> dict:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


@pytest.mark.parametrize("text, intent", [
    ("代办", "inform"), ("要", "affirm"), ("好的，帮我预约", "nlu_fallback"), ("帮我预约吧", "book_proxy_service"),
    ("行 麻烦你了", "affirm"), ("上门吧 我腿脚不好", "inform"),
])
def test_yes_to_the_offer_in_any_words_is_a_yes(text, intent):
    assert accepts_booking_offer(after_offer(text, intent))


@pytest.mark.parametrize("text, intent", [
    ("不用了", "deny"), ("先不约了", "nlu_fallback"), ("高龄津贴发多少钱", "ask_elderly_benefits"), ("好", "affirm"),
])
def test_no_or_another_question_is_not_a_yes(text, intent):
    state = after_offer(text, intent)
    assert accepts_booking_offer(state) is (text == "好")


def test_the_offer_answered_with_the_help_books_the_errand_just_discussed():
    for action, intent in ((ActionAnswerService(), "inform"), (ActionFallback(), "nlu_fallback"),
                           (ActionReplyYesNo(), "affirm")):
        messages, events = run(action, after_offer("代办", intent, [entity("mode", "代办")]))
        assert followups(events) == ["booking_form"], action
        assert slots(events)["service"] == "elderly_allowance" and slots(events)["booking_mode"] == "proxy"
        assert not any("哪项业务" in (m.get("text") or "") for m in messages)


def test_a_booking_asked_for_with_the_errand_starts_at_once():
    state = tracker(user("我想预约代办高龄津贴", "ask_elderly_benefits", [entity("service", "elderly_allowance")]))
    assert asks_to_book(state)
    messages, events = run(ActionAnswerService(), state)
    assert messages == [] and followups(events) == ["booking_form"]
    assert slots(events)["booking_mode"] == "proxy"
    # asking whether it can be done is a question, answered (with the offer)
    question = tracker(user("高龄津贴能代办吗", "ask_elderly_benefits", [entity("service", "elderly_allowance")]))
    assert not asks_to_book(question)
    messages, events = run(ActionAnswerService(), question)
    assert BOOKING_OFFER in messages[0]["text"] and followups(events) == []


def test_cannot_get_out_means_help_that_comes_to_the_caller():
    state = tracker(user("我腿脚不太方便", "nlu_fallback"))
    assert mode_named(state, ["assisted", "home_visit"]) == "home_visit"
    assert mode_named(state, ["assisted", "proxy"]) == "proxy"        # no home visit offered: done for them
    assert mode_named(tracker(user("我想问一下", "nlu_fallback")), ["assisted"]) is None
    assert modes_of(ALLOWANCE) == [m for m in ("assisted", "proxy", "home_visit") if ALLOWANCE.offers.get(m)]


def test_a_misunderstanding_asks_the_open_question_again_then_offers_a_person():
    first = after_offer("呃那个什么来着", "nlu_fallback")
    messages, events = run(ActionFallback(), first)
    assert messages[0]["text"].startswith("不好意思，我没听明白。") and messages[0]["text"].endswith(BOOKING_OFFER)
    assert slots(events)["pending_offer"] == "booking"
    second = tracker(user("高龄津贴怎么申请", "ask_elderly_benefits"), bot(ALLOWANCE.answer + BOOKING_OFFER),
                     slot("service", "elderly_allowance"), slot("pending_offer", "booking"),
                     user("呃那个什么来着", "nlu_fallback"), bot("不好意思，我没听明白。" + BOOKING_OFFER),
                     slot("pending_offer", "booking"), user("哎呀我也说不好", "nlu_fallback"))
    messages, events = run(ActionFallback(), second)
    assert messages[0].get("response") == "utter_offer_human"          # a person, not the question a third time
    assert slots(events)["pending_offer"] == "human"
