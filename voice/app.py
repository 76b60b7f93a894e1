"""HTTP side of the voice gateway (port 8080): Twilio's voice webhook.

Unsigned or forged requests get 403 and nothing else; a signed call gets TwiML that
connects its audio to our media stream with the caller number and CallSid attached.
"""
from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from voice import settings
from voice.telephony.twilio import connect_stream_twiml, signature_is_valid

log = logging.getLogger(__name__)


def create_app() -> FastAPI:
    app = FastAPI(title="政务帮办热线 voice gateway")

    async def signed_form(request: Request, path: str) -> dict[str, str] | None:
        body = await request.body()
        if len(body) > settings.MAX_FORM_BYTES:
            return None
        try:
            params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            return None
        url = f"{settings.PUBLIC_URL}{path}"
        if not signature_is_valid(settings.TWILIO_AUTH_TOKEN, url, params, request.headers.get("x-twilio-signature")):
            return None
        return params

    @app.post("/twilio/voice")
    async def voice(request: Request):
        params = await signed_form(request, "/twilio/voice")
        if params is None:
            log.warning("voice webhook refused: missing or wrong signature")
            return JSONResponse({"error": "forbidden", "message_zh": "签名无效。", "message_en": "invalid signature"},
                                status_code=403)
        twiml = connect_stream_twiml(settings.stream_url(), caller=params.get("From"), call_sid=params.get("CallSid"))
        return Response(twiml, media_type="application/xml")

    @app.get("/health")
    def health():
        return {"status": "ok"}

    return app


app = create_app()
