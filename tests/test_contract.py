"""The contract between the assistant, the voice gateway and the service: one definition
each, and every side using it."""
from __future__ import annotations

import pytest
import yaml

import contract
from tools.model import ROOT


def test_control_json_for_questions_and_hand_offs():
    assert contract.listen_for(contract.YES_NO) == {"expect": "yes_no"}
    assert contract.listen_for(contract.DIGITS, 11) == {"expect": "digits", "collect_digits": {"max": 11, "end": "#"}}
    with pytest.raises(ValueError):
        contract.listen_for("colours")
    control = contract.handoff("T1", "social", transfer=True, callback_from=None, callback_until=None)
    assert control["handoff"]["ticket"] == "T1" and control["handoff"]["transfer"] is True


def test_every_side_uses_the_same_words():
    from proxy_service.services import tickets
    from voice.asr.vocabularies import VOCABULARIES
    from voice.dialogue import bot_turn

    assert set(VOCABULARIES) == set(contract.ANSWER_KINDS)
    turn = bot_turn([{"text": "好", "custom": {**contract.listen_for(contract.DIGITS, 4), **contract.HANG_UP}}])
    assert turn.expect == "digits" and turn.collect_digits == {"max": 4, "end": "#"} and turn.hangup
    responses = yaml.safe_load((ROOT / "assistant" / "domain" / "responses.yml").read_text(encoding="utf-8"))
    assert responses["responses"]["utter_goodbye"][0]["custom"] == contract.HANG_UP
    assert tickets._slots({"booking_mode": "proxy"})[0]["label"] == contract.TICKET_SLOTS["booking_mode"]


def test_digits_and_ordinals():
    assert contract.normalize_digits("幺三八 1234-5678") == "13812345678"
    assert contract.normalize_digits("11010519491231002x") == "11010519491231002X"
    assert "".join(contract.SPOKEN_DIGITS[d] for d in "2017") == "二零幺七"
    assert contract.ordinal("就第二个吧", 3) == 1 and contract.ordinal("最后一个", 3) == 2
    assert contract.ordinal("第三个", 2) is None and contract.ordinal("随便", 3) is None
    assert all(contract.ordinal(p, 3) is not None for p in contract.ORDINAL_PHRASES)


def test_a_transcript_is_fitted_newest_first_with_a_note_of_what_was_left_out():
    turns = [{"speaker": "caller", "text": f"第{i}句" + "很长" * 3000, "at": None} for i in range(1000)]
    fitted = contract.fit_transcript(turns)
    assert fitted[0]["text"] == contract.EARLIER_TURNS_LEFT_OUT.format(count=1000 - (len(fitted) - 1))
    assert fitted[-1]["text"].startswith("第999句") and all(len(t["text"]) <= contract.TURN_MAX_CHARS for t in fitted)
    assert sum(len(t["text"].encode()) for t in fitted) <= contract.TRANSCRIPT_MAX_BYTES
    short = turns[:3]
    assert [t["text"][:3] for t in contract.fit_transcript(short)] == ["第0句", "第1句", "第2句"]
    # A list that already holds only the latest turns says how many came before them.
    assert contract.fit_transcript(short, said=10)[0]["text"] == contract.EARLIER_TURNS_LEFT_OUT.format(count=7)
