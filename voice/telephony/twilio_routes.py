"""Twilio's door into the gateway: its webhooks and its Media Streams WebSocket.

- `POST /twilio/voice`: the call webhook → TwiML connecting the call to our stream; when the
  gateway takes no more calls (voice/admission.py), TwiML playing the turned-away message
  (`GET /prompts/<name>.wav`) after the callback ticket was filed, and hanging up.
- `WS /twilio/stream`: the call's audio both ways, one call each; its `start` must come
  within VOICE_STREAM_START_TIMEOUT_SECONDS and carry the ticket the webhook signed for
  that call (caller number and CallSid come from there, not the stream).
- `POST /twilio/status`: the status callback → the call record's end and duration.
Every Twilio request is signed: unsigned or forged ones get 403 and nothing else.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Callable
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from starlette.websockets import WebSocketDisconnect

from voice import records, settings, shedding
from voice.admission import Admission
from voice.call import CallSession
from voice.metrics import CALLS
from voice.telephony import START, Intake
from voice.shared import SharedStore
from voice.telephony.twilio import (StreamTickets, TwilioMediaStream, connect_stream_twiml, goodbye_twiml,
                                    signature_is_valid)

log = logging.getLogger(__name__)
FORBIDDEN = {"error": "forbidden", "message_zh": "签名无效。", "message_en": "invalid signature"}
FINAL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")


def twilio_router(open_call: Callable[[TwilioMediaStream], CallSession], admission: Admission,
                  prompts: shedding.Prompts, store: SharedStore | None = None) -> APIRouter:
    router = APIRouter()
    tickets = StreamTickets(settings.TWILIO_AUTH_TOKEN, settings.STREAM_TICKET_SECONDS, store)

    async def signed_form(request: Request, path: str) -> dict[str, str] | None:
        body = await request.body()
        try:
            params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            return None
        url = f"{settings.PUBLIC_URL}{path}"
        if not signature_is_valid(settings.TWILIO_AUTH_TOKEN, url, params, request.headers.get("x-twilio-signature")):
            log.warning("%s refused: missing or wrong signature", path)
            return None
        return params

    @router.post("/twilio/voice")
    async def voice(request: Request):
        params = await signed_form(request, "/twilio/voice")
        if params is None:
            return JSONResponse(FORBIDDEN, status_code=403)
        if not params.get("CallSid"):
            return JSONResponse({"error": "invalid", "message_zh": "缺少通话编号。", "message_en": "CallSid missing"},
                                status_code=400)
        call_sid, caller = params["CallSid"], params.get("From") or None
        refused = admission.refusal()
        if refused:
            log.warning("call turned away at the webhook: %s", refused)
            CALLS.labels("phone", "busy").inc()
            words, _ = await asyncio.gather(
                shedding.turn_away(call_sid, caller=caller, channel="phone"),
                records.report(call_sid, channel="phone", caller_phone=caller, started=True, ended=True))
            name = prompts.name(words)
            return Response(goodbye_twiml(words, f"{settings.PUBLIC_URL}/prompts/{name}.wav" if name else None),
                            media_type="application/xml")
        admission.promise(call_sid)
        ticket = tickets.issue(call_sid, caller)
        return Response(connect_stream_twiml(settings.stream_url(), ticket), media_type="application/xml")

    @router.get("/prompts/{name}.wav")
    async def prompt(name: str):
        """The turned-away messages, for Twilio's <Play> (public: the same words for everyone)."""
        audio = prompts.audio(name)
        if audio is None:
            return JSONResponse({"error": "not_found", "message_zh": "没有这段录音。", "message_en": "no such prompt"},
                                status_code=404)
        return Response(audio, media_type="audio/wav", headers={"Cache-Control": "public, max-age=3600"})

    @router.post("/twilio/status")
    async def status(request: Request):
        params = await signed_form(request, "/twilio/status")
        if params is None:
            return JSONResponse(FORBIDDEN, status_code=403)
        call_sid, call_status = params.get("CallSid", ""), params.get("CallStatus", "")
        duration = params.get("CallDuration", "")
        if call_sid:
            await records.report(call_sid, channel="phone", status=call_status or None,
                                 ended=call_status in FINAL_STATUSES,
                                 duration_seconds=int(duration) if duration.isdigit() else None)
        return Response(status_code=204)

    @router.websocket("/twilio/stream")
    async def stream(websocket: WebSocket):
        if not signature_is_valid(settings.TWILIO_AUTH_TOKEN, settings.stream_url(), {},
                                  websocket.headers.get("x-twilio-signature")):
            log.warning("media stream refused: missing or wrong signature")
            await websocket.close(code=1008)   # before accept: the handshake gets HTTP 403
            return
        await websocket.accept()

        async def close() -> None:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await websocket.close()

        line = TwilioMediaStream(websocket.send_text, close)
        session = open_call(line)
        intake = Intake(session, line.parse, "stream")
        loop = asyncio.get_running_loop()
        start_by = loop.time() + settings.STREAM_START_TIMEOUT
        try:
            while not session.ended and not intake.hopeless:
                try:
                    message = await (websocket.receive() if session.call_id else asyncio.wait_for(
                        websocket.receive(), max(0.0, start_by - loop.time())))
                except asyncio.TimeoutError:
                    log.warning("media stream closed: no start within %.0f s", settings.STREAM_START_TIMEOUT)
                    break
                if message["type"] == "websocket.disconnect":
                    break
                event = intake.parse(message.get("text") if message.get("text") is not None
                                     else message.get("bytes") or b"")
                if event is None:
                    continue
                if event.kind == START and session.call_id is None:
                    refused = await tickets.redeem(event.call_id, line.parameters)
                    if refused:
                        log.warning("media stream closed: %s", refused)
                        break
                await intake.deliver(event)
        except WebSocketDisconnect:
            pass
        finally:
            await session.end("stream closed")

    return router
