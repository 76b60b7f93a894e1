"""The booking, lookup and handoff actions against the real proxy_service API and database."""
from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
import time
import uuid

import pytest
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import text

import contract
from actions import settings
from actions.booking_form import SubmitBooking, ValidateBookingForm
from actions.conversation import ActionHandOff
from actions.lookup_form import SubmitLookup
from actions.speech import spoken_digits
from proxy_service.db import session_factory
from proxy_service.services import calendar
from proxy_service.services.common import now
from proxy_service.crypto import decrypt
from tests.trackers import bot, slot, tracker, user

CALLER = {"caller": "+8613812345678", "channel": "phone"}
DOMAIN = {"forms": {"booking_form": {"required_slots": []}}, "slots": {}}


def run(action, trk):
    dispatcher = CollectingDispatcher()
    result = action.run(dispatcher, trk, DOMAIN)
    if asyncio.iscoroutine(result):
        result = asyncio.run(result)
    slots = {e["name"]: e["value"] for e in result if e.get("event") == "slot"}
    return [m.get("text") for m in dispatcher.messages], slots, dispatcher.messages


def query(api_database_url, sql, **params):
    with session_factory(api_database_url)() as session:
        return session.execute(text(sql), params).all()


def filled_booking(**overrides):
    day = calendar.bookable_days(now().date())[0]
    values = {"service": "elderly_allowance", "booking_mode": "proxy", "booking_slot": f"{day.isoformat()}|pm",
              "person_name": "王秀英", "phone_number": "13812345678", "booking_consent": True,
              "booking_confirmed": True}
    values.update(overrides)
    return values


def test_submitted_booking_is_stored_before_its_reference_is_spoken(actions_use_api, api_database_url):
    sender = f"call-{uuid.uuid4().hex[:8]}"
    trk = tracker(user("对", "affirm", metadata=CALLER), slots=filled_booking(), sender=sender)
    texts, slots, _ = run(SubmitBooking(), trk)
    reference = slots["booking_reference"]
    assert spoken_digits(reference) in texts[0] and texts[0].startswith("预约好了")
    [(status, service)] = query(api_database_url, "SELECT status, service_code FROM bookings WHERE reference = :r",
                                r=reference)
    assert (status, service) == ("confirmed", "elderly_allowance")
    # Rasa retries the action for the same turn: same key, same booking, nothing new.
    _, slots_again, _ = run(SubmitBooking(), trk)
    assert slots_again["booking_reference"] == reference
    assert query(api_database_url, "SELECT count(*) FROM bookings WHERE reference = :r", r=reference)[0][0] == 1


def test_booking_refused_without_consent_stores_nothing(actions_use_api, api_database_url):
    before = query(api_database_url, "SELECT count(*) FROM bookings")[0][0]
    texts, slots, _ = run(SubmitBooking(), tracker(user("不同意", "deny"), slots=filled_booking(booking_consent=False)))
    assert "没法预约" in texts[0] and slots["booking_mode"] is None
    assert query(api_database_url, "SELECT count(*) FROM bookings")[0][0] == before


def test_api_down_means_no_false_confirmation(monkeypatch):
    monkeypatch.setattr(settings, "PROXY_SERVICE_URL", "http://127.0.0.1:9")
    texts, slots, _ = run(SubmitBooking(), tracker(user("对", "affirm"), slots=filled_booking()))
    assert "没有成功" in texts[0] and "预约号" not in texts[0]
    assert slots.get("pending_offer") == "human"


@contextlib.contextmanager
def write_lock_held(api_database_url, seconds: float):
    """Another writer holds the API's SQLite write lock for `seconds` (a slow transaction)."""
    blocker = sqlite3.connect(api_database_url.split("///", 1)[1], isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    release = threading.Timer(seconds, lambda: blocker.execute("COMMIT"))
    release.start()
    try:
        yield
    finally:
        release.join()
        blocker.close()


def booking_behind_a_lock(api_database_url, monkeypatch, *, timeout: float, attempts: int, lock: float, name: str):
    """Submit a booking while another writer holds the API's lock for `lock` seconds, the
    actions waiting `timeout` per attempt; returns what the caller heard, the slots and the tracker."""
    monkeypatch.setattr(settings, "API_TIMEOUT_SECONDS", timeout)
    monkeypatch.setattr(settings, "API_WRITE_ATTEMPTS", attempts)
    trk = tracker(user("对", "affirm", metadata=CALLER), slots=filled_booking(person_name=name),
                  sender=f"call-{uuid.uuid4().hex[:8]}")
    with write_lock_held(api_database_url, lock):
        texts, slots, _ = run(SubmitBooking(), trk)
    return texts, slots, trk


def stored_responses(api_database_url, trk) -> int:
    return query(api_database_url, "SELECT count(*) FROM idempotency_keys WHERE key LIKE :k",
                 k=f"{trk.sender_id}:%")[0][0]


def test_a_slow_write_is_retried_with_the_same_key_and_books_once(actions_use_api, api_database_url, monkeypatch):
    # The caller's wait (1 s here, 8 s by default) runs out while the API waits for the lock;
    # the API still commits later. The retry, with the same key, gets that booking back.
    texts, slots, trk = booking_behind_a_lock(api_database_url, monkeypatch, timeout=1.0, attempts=5, lock=2.5,
                                              name="赵慢慢")
    assert texts[0].startswith("预约好了"), texts
    rows = query(api_database_url, "SELECT reference FROM bookings WHERE reference = :r", r=slots["booking_reference"])
    assert len(rows) == 1 and stored_responses(api_database_url, trk) == 1


def test_a_write_with_no_answer_is_never_called_a_failure(actions_use_api, api_database_url, monkeypatch):
    # Every attempt times out, but the API commits once the lock is free: the caller must hear
    # "not sure", not "没有成功" (which would make them book again).
    texts, slots, trk = booking_behind_a_lock(api_database_url, monkeypatch, timeout=0.5, attempts=2, lock=3.0,
                                              name="钱不定")
    assert "不能确定" in texts[0] and "没有成功" not in texts[0] and slots.get("pending_offer") == "human"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not stored_responses(api_database_url, trk):
        time.sleep(0.2)
    # It was booked after all; the same turn run again (Rasa's retry) names that booking.
    monkeypatch.setattr(settings, "API_TIMEOUT_SECONDS", 8.0)
    texts, slots, _ = run(SubmitBooking(), trk)
    assert texts[0].startswith("预约好了") and stored_responses(api_database_url, trk) == 1


def form_turn(requested, said, intent, slots=None, entities=None):
    values = {**filled_booking(booking_confirmed=None), "requested_slot": requested, **(slots or {})}
    return tracker(bot("问题？"), user(said, intent, entities, metadata=CALLER), slots=values, active_loop="booking_form")


def test_phone_offer_uses_the_calling_number_on_yes():
    _, slots, _ = run(ValidateBookingForm(), form_turn("phone_number", "好的", "affirm", {"phone_number": None}))
    assert slots["phone_number"] == "13812345678"


def test_phone_spoken_in_chinese_numerals():
    _, slots, _ = run(ValidateBookingForm(), form_turn("phone_number", "幺三九 幺二三四 五六七八", "inform",
                                                       {"phone_number": None, "phone_declined": True}))
    assert slots["phone_number"] == "13912345678"


def test_name_from_plain_words():
    _, slots, _ = run(ValidateBookingForm(), form_turn("person_name", "我叫李桂兰", "inform", {"person_name": None}))
    assert slots["person_name"] == "李桂兰"


def test_correction_at_read_back_clears_only_what_it_names(actions_use_api):
    _, slots, _ = run(ValidateBookingForm(), form_turn("booking_confirmed", "电话不对", "deny"))
    assert slots["phone_number"] is None and slots["booking_confirmed"] is None
    assert "person_name" not in slots and "booking_slot" not in slots and "service" not in slots


def test_correction_with_the_new_time_takes_it(actions_use_api):
    day = calendar.bookable_days(now().date())[1]
    said = f"时间改成{day.month}月{day.day}号上午"
    _, slots, _ = run(ValidateBookingForm(), form_turn("booking_confirmed", said, "inform"))
    assert slots["booking_slot"] == f"{day.isoformat()}|am" and slots["booking_confirmed"] is None


def test_bare_no_at_read_back_asks_which_field():
    texts, slots, _ = run(ValidateBookingForm(), form_turn("booking_confirmed", "不对", "deny"))
    assert "哪一项要改" in texts[0] and slots["booking_confirmed"] is None


def test_repeat_inside_the_form_re_asks_the_question():
    _, slots, _ = run(ValidateBookingForm(), form_turn("person_name", "再说一遍", "repeat", {"person_name": None}))
    assert "person_name" in slots and slots["person_name"] is None


def test_a_question_unanswered_twice_comes_with_the_offer_of_a_person():
    first_texts, first, _ = run(ValidateBookingForm(), form_turn("person_name", "再说一遍", "repeat", {"person_name": None}))
    assert first["unanswered_question"] == "person_name:1" and not any("转人工" in t for t in first_texts)
    texts, second, _ = run(ValidateBookingForm(), form_turn("person_name", "再说一遍", "repeat",
                                                            {"person_name": None, **first}))
    assert second["unanswered_question"] == "person_name:2" and "转人工" in texts[0]


def test_an_answer_resets_the_count_and_another_question_starts_at_zero():
    _, slots, _ = run(ValidateBookingForm(), form_turn("person_name", "王秀英", "inform",
                                                       {"person_name": None, "unanswered_question": "person_name:1"}))
    assert slots["person_name"] == "王秀英" and slots["unanswered_question"] is None
    texts, slots, _ = run(ValidateBookingForm(), form_turn("phone_number", "再说一遍", "repeat",
                                                           {"phone_number": None, "unanswered_question": "person_name:5"}))
    assert slots["unanswered_question"] == "phone_number:1" and not texts


def test_a_way_out_of_the_form_is_left_to_its_rule():
    _, slots, _ = run(ValidateBookingForm(), form_turn("person_name", "转人工", "request_human", {"person_name": None}))
    assert "unanswered_question" not in slots and "person_name" not in slots   # Rasa rejects the turn: the rule runs


def test_mode_not_offered_is_refused(actions_use_api):
    texts, slots, _ = run(ValidateBookingForm(), form_turn("booking_mode", "上门", "inform",
                                                           {"service": "social_security_enrolment",
                                                            "booking_mode": None}))
    assert slots["booking_mode"] is None and "不能上门" in texts[0]


def test_a_very_long_call_is_still_handed_over_with_its_latest_turns(actions_use_api, api_database_url):
    # 400 exchanges of long answers: far more than the API takes (500 turns, a 256 KiB body).
    long_answer = "您说的这件事要先到社区开证明，" * 20
    events = [e for i in range(400) for e in (user(f"第{i}个问题，我再问一下", "inform", metadata=CALLER),
                                             bot(long_answer))]
    sender = f"CA{uuid.uuid4().hex}"
    texts, slots, _ = run(ActionHandOff(), tracker(*events, user("转人工", "request_human", metadata=CALLER),
                                                   sender=sender))
    assert slots.get("handoff_ticket"), texts
    [(transcript,)] = query(api_database_url, "SELECT transcript_enc FROM handoff_tickets WHERE conversation_id = :c",
                            c=sender)
    turns = json.loads(decrypt(transcript))
    assert "前面还有" in turns[0]["text"] and turns[-1]["text"] == "转人工"
    assert len(turns) <= contract.TRANSCRIPT_MAX_TURNS


def test_handoff_writes_the_ticket_with_the_conversation(actions_use_api, api_database_url):
    sender = f"CA{uuid.uuid4().hex}"
    trk = tracker(user("我社保卡丢了", "ask_social_security", metadata=CALLER), bot("社保卡丢了，先打12333挂失。"),
                  slot("service", "social_security_card"), user("转人工", "request_human", metadata=CALLER),
                  sender=sender, slots={"service": "social_security_card"})
    texts, slots, messages = run(ActionHandOff(), trk)
    [(reference, queue_id, transcript)] = query(
        api_database_url, "SELECT reference, queue_id, transcript_enc FROM handoff_tickets WHERE conversation_id = :c",
        c=sender)
    assert slots["handoff_ticket"] == reference
    turns = json.loads(decrypt(transcript))
    assert [t["speaker"] for t in turns] == ["caller", "bot", "caller"]
    assert turns[0]["text"] == "我社保卡丢了" and "12333" in turns[1]["text"]
    handoff = messages[0]["custom"]["handoff"]
    assert handoff["ticket"] == reference
    if handoff["transfer"]:
        assert "工作人员马上接听" in texts[0]
    else:
        assert "回电话" in texts[0] and handoff["callback_from"]


def test_a_kiosk_handoff_shows_the_desk_and_ends_without_a_transfer(actions_use_api, api_database_url):
    """At a kiosk nobody is called back and no call is moved: the resident is sent to the
    desk of the queue, with the ticket number on the screen."""
    sender = f"kiosk-{uuid.uuid4().hex}"
    kiosk = {"channel": "kiosk"}
    trk = tracker(user("我社保卡丢了", "ask_social_security", metadata=kiosk), slot("service", "social_security_card"),
                  user("/request_human", "request_human", metadata=kiosk), sender=sender,
                  slots={"service": "social_security_card"})
    texts, slots, messages = run(ActionHandOff(), trk)
    [(reference, channel)] = query(api_database_url, "SELECT reference, channel FROM handoff_tickets "
                                                     "WHERE conversation_id = :c", c=sender)
    assert channel == "kiosk" and slots["handoff_ticket"] == reference
    custom = messages[0]["custom"]
    assert custom["handoff"]["ticket"] == reference and custom["handoff"]["transfer"] is False
    assert custom["hangup"] is True
    assert "一楼帮办代办服务台，社保窗口" in texts[0] and "屏幕上的编号" in texts[0]
    assert "回电话" not in texts[0] and "不要挂机" not in texts[0]


def test_handoff_when_the_api_is_down_does_not_pretend(monkeypatch):
    monkeypatch.setattr(settings, "PROXY_SERVICE_URL", "http://127.0.0.1:9")
    texts, _, _ = run(ActionHandOff(), tracker(user("转人工", "request_human")))
    assert "没能转接" in texts[0] and "12345" in texts[0]


def test_distress_tells_to_call_emergency_numbers(actions_use_api):
    texts, _, _ = run(ActionHandOff(), tracker(user("我摔倒了起不来", "distress"), sender=f"CA{uuid.uuid4().hex}"))
    assert texts[0].startswith("如果有危险，请马上拨打120或者110。")


def test_status_lookup_reads_the_booking_back(actions_use_api):
    trk = tracker(user("对", "affirm", metadata=CALLER), slots=filled_booking(), sender=f"c-{uuid.uuid4().hex[:6]}")
    _, slots, _ = run(SubmitBooking(), trk)
    lookup = tracker(user("5678", "inform"), slots={"lookup_reference": slots["booking_reference"],
                                                     "lookup_phone_tail": "5678", "lookup_purpose": "status"})
    texts, _, _ = run(SubmitLookup(), lookup)
    assert texts[0].startswith("您预约了高龄津贴代办") and "请带上" in texts[0]


def test_status_lookup_with_wrong_tail_reveals_nothing(actions_use_api):
    lookup = tracker(user("0000", "inform"), slots={"lookup_reference": "12345678", "lookup_phone_tail": "0000",
                                                     "lookup_purpose": "status"})
    texts, _, _ = run(SubmitLookup(), lookup)
    assert "没有查到" in texts[0]


@pytest.mark.parametrize("said,age,disabled", [
    ("我今年八十五了 腿脚不好", 85, None),
    ("我妈82岁 坐轮椅", 82, True),
    ("转人工", None, None),
])
def test_caller_profile_from_what_they_said(said, age, disabled):
    from actions.handoff import caller_profile

    assert caller_profile(tracker(user(said, "request_human"))) == (age, disabled)


def test_third_misunderstanding_in_a_row_hands_over_without_asking(actions_use_api, api_database_url):
    from actions.conversation import ActionFallback

    sender = f"CA{uuid.uuid4().hex}"
    trk = tracker(user("呜", "nlu_fallback"), bot("没听明白"), user("啊", "nlu_fallback"), bot("转人工好吗？"),
                  user("嗯嗯啊", "nlu_fallback"), sender=sender)
    texts, slots, _ = run(ActionFallback(), trk)
    [(reason, priority)] = query(api_database_url, "SELECT reason, priority FROM handoff_tickets "
                                                   "WHERE conversation_id = :c", c=sender)
    assert (reason, priority) == ("fallback", 1) and slots["handoff_ticket"]


def test_number_questions_tell_the_phone_gateway_to_collect_keys():
    from actions.booking_form import AskPhoneNumber
    from actions.forms import DTMF_HINT
    from actions.lookup_form import LOOKUP_QUESTION_ACTIONS
    from tests.trackers import tracker, user

    phone_call = tracker(user("预约", "book_proxy_service", metadata={"channel": "phone"}))
    web_chat = tracker(user("预约", "book_proxy_service", metadata={"channel": "web"}))
    for tracker, hinted in ((phone_call, True), (web_chat, False)):
        dispatcher = CollectingDispatcher()
        AskPhoneNumber().run(dispatcher, tracker, {})
        [message] = dispatcher.messages
        assert message["custom"] == {"expect": "digits", "collect_digits": {"max": 11, "end": "#"}}
        assert message["text"].endswith(DTMF_HINT) is hinted
    reference = next(a for a in LOOKUP_QUESTION_ACTIONS if a().name() == "action_ask_lookup_reference")
    dispatcher = CollectingDispatcher()
    reference().run(dispatcher, phone_call, {})
    assert dispatcher.messages[0]["custom"]["collect_digits"]["max"] == 8
