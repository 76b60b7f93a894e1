"""Callers tried as new users would talk, through Rasa's REST channel (model, actions, API):
a booking of a named errand starts at once, the booking offer answered with the kind of
help starts that booking, an open question survives a misunderstanding, and no question
is asked a third time without offering a person."""
from __future__ import annotations

import pytest

from tests.test_booking_conversation import Call

OFFER = "需要我帮您预约帮办或代办吗？"
TIME_QUESTION = "最近能约的有"


def offered(call: Call, question: str = "高龄津贴怎么申请") -> Call:
    assert OFFER in call.say(question), call
    return call


@pytest.mark.parametrize("answer", ["代办", "要", "好的，帮我预约", "帮我预约吧", "行 麻烦你了"])
def test_the_booking_offer_answered_books_the_errand_just_discussed(rasa, answer):
    call = offered(Call(rasa))
    reply = call.say(answer)
    assert "哪项业务" not in reply and "没听明白" not in reply, call
    assert TIME_QUESTION in reply or "您要哪一种" in reply, call
    if answer == "代办":                                  # the help named is taken: no question about it
        assert "您要哪一种" not in reply, call


def test_a_request_that_names_the_errand_and_the_help_books_at_once(rasa):
    call = Call(rasa)
    reply = call.say("我想预约代办高龄津贴")
    assert TIME_QUESTION in reply and OFFER not in reply, call


def test_a_request_for_help_the_errand_lacks_books_with_the_help_it_has(rasa):
    """养老金资格认证 cannot be done by proxy: the caller hears so and picks what there is."""
    call = Call(rasa)
    reply = call.say("我想预约代办养老金资格认证")
    assert "不能代办" in reply and "您要哪一种" in reply and OFFER not in reply, call
    assert TIME_QUESTION in call.say("那就帮办吧"), call


def test_cannot_get_out_answers_the_question_of_which_help(rasa):
    call = Call(rasa)
    assert "您要哪一种" in call.say("我想预约办高龄津贴"), call
    reply = call.say("腿脚不太方便")
    assert "没听明白" not in reply and "行动不方便" not in reply, call
    assert TIME_QUESTION in reply, call


def test_after_a_misunderstanding_the_open_question_is_asked_again(rasa):
    call = offered(Call(rasa))
    again = call.say("呃那个什么来着")
    assert OFFER in again, call                            # the offer is not dropped
    assert TIME_QUESTION in call.say("要") or "您要哪一种" in call.heard[-1][1], call


def test_no_question_is_asked_a_third_time_without_offering_a_person(rasa):
    call = offered(Call(rasa))
    call.say("呃那个什么来着")
    third = call.say("哎呀我也说不好")
    assert "转人工" in third, call


PERSON = ("转人工", "工作人员")


@pytest.mark.parametrize("request_words, question, stuck", [
    ("我想预约代办高龄津贴", TIME_QUESTION, "我记不住"),       # the time; heard as "say it again"
    ("我想预约代办高龄津贴", TIME_QUESTION, "王秀英"),         # an answer to another question
    ("我想预约办高龄津贴", "您要哪一种", "呃那个什么来着"),     # the kind of help; not understood
])
def test_a_form_question_is_not_asked_a_third_time_without_offering_a_person(rasa, request_words, question, stuck):
    call = Call(rasa)
    assert question in call.say(request_words), call
    again = call.say(stuck)
    assert question in again, call                          # asked a second time: fine
    third = call.say(stuck)
    assert any(word in third for word in PERSON), call      # never a third time without a person


def test_asked_to_wait_the_bot_waits_and_the_offer_stays_open(rasa):
    call = offered(Call(rasa))
    reply = call.say("等一下 我问问我闺女")
    assert "不着急" in reply and OFFER not in reply, call
    assert TIME_QUESTION in call.say("要") or "您要哪一种" in call.heard[-1][1], call


def test_asked_to_wait_in_a_form_the_next_answer_still_fills_the_question(rasa):
    call = Call(rasa)
    assert TIME_QUESTION in call.say("我想预约代办高龄津贴"), call
    reply = call.say("你等等 我去找找老花镜")
    assert "不着急" in reply and TIME_QUESTION not in reply, call
    assert "名字" in call.say("第一个"), call

