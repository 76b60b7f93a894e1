"""Unit tests of the custom actions on scripted trackers (no model, no server)."""
from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import (
    ActionFallback,
    ActionRepeatLast,
    ActionReplyYesNo,
    ActionSilence,
    ActionWelcome,
)
from actions.service_answers import (
    ANYTHING_ELSE,
    BOOKING_OFFER,
    ActionAnswerMaterials,
    ActionAnswerService,
)
from catalogue import load_catalogue
from tests.trackers import bot, entity, slot, tracker, user

CATALOGUE = load_catalogue()


def run(action, *events, slots=None):
    dispatcher = CollectingDispatcher()
    result = action.run(dispatcher, tracker(*events, slots=slots), {})
    return dispatcher.messages, {e["name"]: e["value"] for e in result if e.get("event") == "slot"}


def texts(messages):
    return [m.get("text") for m in messages]


def test_service_entity_picks_the_exact_item_and_offers_booking():
    messages, slots = run(ActionAnswerService(),
                          user("我社保卡丢了", "ask_social_security", [entity("service", "social_security_card")]))
    item = CATALOGUE.get("social_security_card")
    assert texts(messages) == [item.answer + BOOKING_OFFER]
    # a screen (the kiosk) lists the materials and where it is done; a phone ignores it
    assert messages[0]["custom"] == {"show": {"title": "办社保卡申领与补办要带的材料", "items": list(item.materials),
                                              "where": item.channels["window"]}}
    assert slots == {"service": "social_security_card", "service_candidates": None, "pending_offer": "booking"}


def test_item_without_proxy_or_assistance_asks_anything_else():
    items = [i for i in CATALOGUE.items if not i.bookable]
    if not items:
        pytest.skip("every catalogue item is bookable")
    item = items[0]
    messages, slots = run(ActionAnswerService(), user(item.name, item.intent))
    assert texts(messages) == [item.answer + ANYTHING_ELSE]
    assert slots["pending_offer"] == "anything_else"


def test_asr_slip_in_words_still_finds_the_item():
    messages, slots = run(ActionAnswerService(), user("我想把公鸡金取出来", "ask_provident_fund"))
    assert slots["service"] == "provident_fund_withdrawal"


def test_unmapped_entity_text_is_resolved_against_the_catalogue():
    _, slots = run(ActionAnswerService(),
                   user("那个身分证过期了", "ask_id_card", [entity("service", "身分证")]))
    assert slots["service"] == "id_card"


def test_ambiguous_question_gets_one_clarifying_question():
    messages, slots = run(ActionAnswerService(), user("我想问问医保的事", "ask_medical_insurance"))
    names = [i.name for i in CATALOGUE.for_intent("ask_medical_insurance")]
    assert texts(messages)[0].startswith("您问的是") and texts(messages)[0].endswith("？")
    assert all(name in texts(messages)[0] for name in names)
    assert texts(messages)[0].count("？") == 1
    assert slots == {"service_candidates": [i.code for i in CATALOGUE.for_intent("ask_medical_insurance")]}


def test_choice_by_ordinal_answers_the_offered_item():
    candidates = ["medical_reimbursement", "cross_province_medical", "resident_medical_insurance"]
    messages, slots = run(
        ActionFallback(),
        user("医保", "ask_medical_insurance"), bot("您问的是…？"), slot("service_candidates", candidates),
        user("第二个", "nlu_fallback"),
    )
    assert slots["service"] == "cross_province_medical"
    assert texts(messages)[0].startswith(CATALOGUE.get("cross_province_medical").answer)


def test_choice_by_name_among_offered_items():
    candidates = ["social_security_enrolment", "social_security_card"]
    _, slots = run(
        ActionAnswerService(),
        user("社保", "ask_social_security"), bot("您问的是…？"), slot("service_candidates", candidates),
        user("补卡那个 社保卡", "inform", [entity("service", "social_security_card")]),
    )
    assert slots["service"] == "social_security_card"


def test_materials_question_reads_the_materials_list():
    item = CATALOGUE.get("cross_province_medical")
    messages, _ = run(ActionAnswerService(), user("异地就医备案要带什么材料", "ask_medical_insurance"))
    assert all(material in texts(messages)[0] for material in item.materials)


def test_materials_follow_up_uses_the_errand_under_discussion():
    item = CATALOGUE.get("elderly_allowance")
    messages, _ = run(ActionAnswerMaterials(), user("那要带什么", "ask_materials"), slots={"service": item.code})
    assert texts(messages)[0].startswith(f"办{item.name}，要带")


def test_materials_without_any_errand_asks_which():
    messages, _ = run(ActionAnswerMaterials(), user("要带什么材料", "ask_materials"))
    assert messages[0]["response"] == "utter_ask_which_service"


def test_repeat_says_previous_turn_word_for_word_and_restores_its_question():
    events = [user("社保卡丢了", "ask_social_security"), bot("第一句。"), bot("第二句？"),
              slot("pending_offer", "booking"), user("再说一遍", "repeat")]
    messages, slots = run(ActionRepeatLast(), *events)
    assert texts(messages) == ["第一句。", "第二句？"]
    assert slots == {"pending_offer": "booking"}


def test_repeat_twice_keeps_repeating_the_same_words():
    events = [user("你好", "greet"), bot("欢迎。"), user("再说一遍", "repeat"), bot("欢迎。"),
              user("没听清", "repeat")]
    messages, _ = run(ActionRepeatLast(), *events)
    assert texts(messages) == ["欢迎。"]


def test_repeat_with_nothing_said_yet_greets():
    messages, _ = run(ActionRepeatLast(), user("再说一遍", "repeat"))
    assert messages[0]["response"] == "utter_greet"


def test_first_fallback_asks_to_rephrase_second_offers_human():
    first, _ = run(ActionFallback(), user("啊啊啊", "nlu_fallback"))
    assert first[0]["response"] == "utter_ask_rephrase"
    second, slots = run(ActionFallback(), user("啊啊啊", "nlu_fallback"), bot("没听明白"),
                        user("呜呜", "nlu_fallback"))
    assert second[0]["response"] == "utter_offer_human"
    assert slots == {"pending_offer": "human"}


def test_fallbacks_separated_by_an_understood_turn_do_not_add_up():
    messages, _ = run(ActionFallback(), user("啊", "nlu_fallback"), bot("？"), user("你好", "greet"),
                      bot("您好"), user("呜", "nlu_fallback"))
    assert messages[0]["response"] == "utter_ask_rephrase"


@pytest.mark.parametrize("offer,intent,expected", [
    ("human", "deny", "utter_anything_else"),
    ("anything_else", "deny", "utter_goodbye"),
    ("anything_else", "affirm", "utter_what_else"),
    ("booking", "deny", "utter_anything_else"),
    (None, "affirm", "utter_what_else"),
])
def test_yes_no_answers_the_question_just_asked(offer, intent, expected):
    events = [user("x", "greet"), bot("问题？")]
    if offer:
        events.append(slot("pending_offer", offer))
    messages, _ = run(ActionReplyYesNo(), *events, user("好的" if intent == "affirm" else "不用了", intent))
    assert messages[0]["response"] == expected


def test_yes_to_an_offer_made_two_turns_ago_is_not_taken_as_accepting_it():
    events = [user("x", "greet"), bot("转人工好吗？"), slot("pending_offer", "human"),
              user("社保卡", "ask_social_security"), bot("答案"), user("好的", "affirm")]
    messages, _ = run(ActionReplyYesNo(), *events)
    assert messages[0]["response"] == "utter_what_else"


def test_thanks_then_asks_anything_else():
    messages, slots = run(ActionWelcome(), user("谢谢", "thank"))
    assert messages[0]["response"] == "utter_you_are_welcome"
    assert slots == {"pending_offer": "anything_else"}


def test_fallback_that_names_one_errand_answers_it():
    messages, slots = run(ActionFallback(), user("我想给我儿子办个残疾证", "nlu_fallback",
                                                 [entity("service", "disability_certificate")]))
    assert slots["service"] == "disability_certificate"
    assert texts(messages)[0].startswith(CATALOGUE.get("disability_certificate").answer)


def test_every_domain_action_is_served_by_the_action_server_and_vice_versa():
    import yaml
    from rasa_sdk.executor import ActionExecutor

    from tools.model import ROOT

    executor = ActionExecutor()
    executor.register_package("actions")
    domain = yaml.safe_load((ROOT / "assistant" / "domain" / "actions.yml").read_text(encoding="utf-8"))
    assert set(executor.actions) == set(domain["actions"])


def test_first_silence_is_a_gentle_reprompt_with_the_question_again():
    events = [user("/greet", "greet"), bot("您想办什么事？"), slot("pending_offer", "booking"),
              user("/silence", "silence")]
    messages, slots = run(ActionSilence(), *events)
    assert messages[0]["response"] == "utter_are_you_there" and texts(messages)[1:] == ["您想办什么事？"]
    assert slots == {"pending_offer": "booking"}


def test_second_silence_offers_a_person():
    events = [user("/greet", "greet"), bot("您想办什么事？"), user("/silence", "silence"), bot("您还在吗？"),
              user("/silence", "silence")]
    messages, slots = run(ActionSilence(), *events)
    assert messages[0]["response"] == "utter_offer_human_after_silence" and slots == {"pending_offer": "human"}


def test_silence_during_a_form_keeps_the_form_and_lets_it_ask_again():
    dispatcher = CollectingDispatcher()
    events = ActionSilence().run(dispatcher, tracker(user("/silence", "silence"), active_loop="booking_form"), {})
    assert dispatcher.messages[0]["response"] == "utter_are_you_there"
    assert events == [{"event": "followup", "name": "booking_form", "timestamp": None}]
