"""The assistant end to end through Rasa's REST channel, with the real model and actions."""
from __future__ import annotations

import uuid

import pytest

from catalogue import load_catalogue

CATALOGUE = load_catalogue()

# One caller sentence per errand intent, with the catalogue item it must be answered from.
QUESTIONS = [
    ("我社保卡丢了要怎么补办", "social_security_card"),
    ("我是打零工的 想自己交社保 咋弄", "social_security_enrolment"),
    ("我爸去外地跟我住了 在那边看病要办异地就医备案吗", "cross_province_medical"),
    ("退休了公积金能取出来吗", "provident_fund_withdrawal"),
    ("老人投靠子女 户口迁过来怎么办", "hukou_transfer"),
    ("我想查一下我名下的房产证", "property_registration_query"),
    ("养老金每年那个刷脸认证怎么弄", "pension_certification"),
    ("我妈八十二了 高龄津贴怎么申请", "elderly_allowance"),
    ("我想给我儿子办个残疾证", "disability_certificate"),
    ("身份证过期了要去哪里换", "id_card"),
    ("政务服务中心几点上班", "service_hall"),
]


def sender() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


def test_greeting_says_what_the_line_does_and_how_to_reach_a_person(rasa):
    reply = " ".join(rasa.texts(sender(), "你好"))
    assert "转人工" in reply and "社保" in reply and reply.endswith("？")


@pytest.mark.parametrize("question,code", QUESTIONS)
def test_errand_question_is_answered_from_the_catalogue(rasa, question, code):
    replies = rasa.texts(sender(), question)
    assert len(replies) == 1
    assert replies[0].startswith(CATALOGUE.get(code).answer)


def test_every_errand_intent_is_covered_by_these_questions():
    assert {CATALOGUE.get(code).intent for _, code in QUESTIONS} == set(CATALOGUE.intents)


def test_materials_list_on_request(rasa):
    caller = sender()
    rasa.texts(caller, "我想办老年人优待证")
    reply = rasa.texts(caller, "那要带什么材料")[0]
    assert all(material in reply for material in CATALOGUE.get("senior_card").materials)


def test_repeat_says_the_last_answer_word_for_word(rasa):
    caller = sender()
    first = rasa.texts(caller, "身份证丢了怎么补")
    assert rasa.texts(caller, "没听清 再说一遍") == first


def test_two_fallbacks_in_a_row_offer_a_human_and_yes_hands_off(rasa):
    caller = sender()
    first = rasa.send(caller, "/nlu_fallback")
    second = rasa.send(caller, "/nlu_fallback")
    assert "换个说法" in first[0]["text"]
    assert "转人工" in second[0]["text"]
    assert handed_off(rasa.send(caller, "好的"))


def handed_off(replies: list[dict]) -> bool:
    """The reply promises a person now or a callback, and carries the ticket for the gateway."""
    text = " ".join(r.get("text", "") for r in replies)
    ticket = next((r["custom"]["handoff"]["ticket"] for r in replies if r.get("custom")), None)
    return bool(ticket) and ("工作人员马上接听" in text or "回电话" in text)


def test_request_human_is_acknowledged_with_a_ticket(rasa):
    assert handed_off(rasa.send(sender(), "我要找人工客服"))


def test_goodbye_ends_politely(rasa):
    assert "再见" in rasa.texts(sender(), "好了没事了 再见")[0]


@pytest.mark.parametrize("message", [
    "",
    "   ",
    "社保卡" * 3334,  # 10 002 characters
    "😀😀😀🙏",
    "hello 我想问一下 social security card 怎么 apply",
    "我的社保卡丟了，請問怎麼補辦？",
    "<script>alert(1)</script>",
    "'; DROP TABLE users; --",
])
def test_bad_input_gets_a_sensible_reply_and_the_service_survives(rasa, message):
    caller = sender()
    replies = rasa.texts(caller, message)
    assert replies and all(reply.strip() for reply in replies)
    assert rasa.texts(caller, "你好")  # the same conversation still works
