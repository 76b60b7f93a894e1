"""Whole conversations through Rasa's REST channel that end in the database."""
from __future__ import annotations

import json
import uuid

from sqlalchemy import text

from actions.speech import spoken_digits
from proxy_service.crypto import decrypt, lookup_hash
from proxy_service.db import session_factory

CALLER = {"caller": "+8613812345678", "channel": "phone"}


def rows(database_url, sql, **params):
    with session_factory(database_url)() as session:
        return session.execute(text(sql), params).all()


class Call:
    def __init__(self, rasa):
        self.rasa, self.sender, self.heard = rasa, f"CA{uuid.uuid4().hex}", []

    def say(self, words: str) -> str:
        replies = " ".join(self.rasa.texts(self.sender, words, CALLER))
        self.heard.append((words, replies))
        return replies

    def __str__(self) -> str:  # the whole call, for assertion messages
        return "\n".join(f"caller: {c}\n   bot: {b}" for c, b in self.heard)


def test_booking_by_phone_with_a_correction_ends_in_the_database(rasa, api_database_url):
    call = Call(rasa)
    assert "您要哪个" in call.say("我想给我妈预约一个高龄津贴的代办"), call
    assert "名字" in call.say("第一个"), call
    assert "尾号五六七八" in call.say("王秀英"), call
    assert "同意" in call.say("好的"), call
    read_back = call.say("同意")
    assert read_back.startswith("我跟您核对一下：给王秀英预约高龄津贴代办") and "幺三八，幺二三四，五六七八" in read_back, call
    assert "尾号" in call.say("电话不对"), call
    second = call.say("不是这个 是幺三九幺二三四五六七八")
    assert "幺三九，幺二三四，五六七八" in second and "王秀英" in second, call   # the rest was kept
    done = call.say("对的")
    assert done.startswith("预约好了"), call
    [(reference, status, mode, phone_hash)] = rows(
        api_database_url, "SELECT b.reference, b.status, b.mode, r.phone_hash FROM bookings b "
                          "JOIN residents r ON r.id = b.resident_id ORDER BY b.id DESC LIMIT 1")
    assert spoken_digits(reference) in done
    assert (status, mode, phone_hash) == ("confirmed", "proxy", lookup_hash("13912345678"))
    trail = rows(api_database_url, "SELECT action FROM audit_events WHERE entity_type = 'bookings' AND "
                                   "entity_id = (SELECT id FROM bookings WHERE reference = :r)", r=reference)
    assert [a for (a,) in trail] == ["create"]

    # The same caller checks on it, then cancels it.
    assert "八位" in call.say("我想查一下我那个预约"), call
    assert "四位" in call.say(" ".join(reference)), call
    assert "高龄津贴代办" in call.say("五六七八"), call
    assert "八位" in call.say("那个预约我不要了 帮我取消"), call
    call.say(" ".join(reference))
    assert "取消" in call.say("五六七八") and "对吗" in call.heard[-1][1], call
    assert "已经取消" in call.say("对"), call
    assert rows(api_database_url, "SELECT status FROM bookings WHERE reference = :r", r=reference)[0][0] == "cancelled"


def test_asking_for_a_person_writes_a_ticket_with_the_transcript(rasa, api_database_url):
    call = Call(rasa)
    call.say("我想问一下社保卡丢了怎么办")
    reply = call.say("转人工")
    [(reference, transcript, queue)] = rows(
        api_database_url, "SELECT t.reference, t.transcript_enc, q.code FROM handoff_tickets t "
                          "JOIN staff_queues q ON q.id = t.queue_id WHERE t.conversation_id = :c", c=call.sender)
    turns = json.loads(decrypt(transcript))
    assert [t["text"] for t in turns if t["speaker"] == "caller"] == ["我想问一下社保卡丢了怎么办", "转人工"]
    assert queue == "social_security"
    assert "工作人员马上接听" in reply or "回电话" in reply, call


def test_a_complaint_goes_to_the_complaints_queue(rasa, api_database_url):
    call = Call(rasa)
    call.say("我要投诉 你们窗口让我跑了三趟都没办好")
    [(queue, reason)] = rows(api_database_url, "SELECT q.code, t.reason FROM handoff_tickets t JOIN staff_queues q "
                                               "ON q.id = t.queue_id WHERE t.conversation_id = :c", c=call.sender)
    assert (queue, reason) == ("complaints", "complaint")


def test_no_personal_data_in_the_service_logs(rasa, api_url):
    """Runs after the conversations above: their names and numbers must not be in any log."""
    from tests.conftest import TEST_VAR

    secrets = ["13812345678", "13912345678", "王秀英", "幺三九幺二三四五六七八", "phone_last4="]
    logs = {path.name: path.read_text(encoding="utf-8", errors="replace") for path in TEST_VAR.rglob("*.log")}
    assert {"actions.log", "rasa.log", "api.log"} <= set(logs)
    leaks = [(name, secret) for name, body in logs.items() for secret in secrets if secret in body]
    assert leaks == []


def test_a_caller_guessing_phone_tails_is_stopped_and_offered_a_person(rasa, api_database_url):
    call = Call(rasa)
    for attempt in range(5):
        assert "八位" in call.say("我想查一下我的预约"), call
        assert "四位" in call.say("八 七 六 五 四 三 二 一"), call
        reply = call.say(f"一二三{'零一二三四'[attempt]}")
        if attempt < 4:
            assert "没有查到" in reply, call
    assert "次数太多" in reply and "转人工" in reply, call
    assert "工作人员" in call.say("好的"), call
    [(reason,)] = rows(api_database_url, "SELECT reason FROM handoff_tickets WHERE conversation_id = :c", c=call.sender)
    assert reason
