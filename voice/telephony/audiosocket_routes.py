"""The two HTTP calls an Asterisk dialplan makes around `AudioSocket()` (see README, "A PBX
in the city's own network"):

- `POST /asterisk/calls` (form `uuid`, `caller`) before it: AudioSocket carries only the
  call's UUID, so the dialplan hands over the caller number (`${CALLERID(num)}`) first;
- `GET /asterisk/calls/{uuid}/next` after it returns: `transfer,<ticket>,<queue>` when the
  call is to go to staff (the dialplan then dials the queue), else `hangup`.
Both carry `Authorization: Bearer <PBX_TOKEN>` (`CURLOPT(httpheader)`); anything else is 403.
Plain-text answers, so the dialplan reads them with `CUT()`.
"""
from __future__ import annotations

import hmac
import uuid
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from contract import normalize_digits
from voice import settings
from voice.telephony.audiosocket import PbxCalls

FORBIDDEN = {"error": "forbidden", "message_zh": "PBX 令牌不对。", "message_en": "wrong or missing PBX token"}
INVALID = {"error": "invalid", "message_zh": "通话编号不对。", "message_en": "uuid is not a UUID"}


def pbx_router(calls: PbxCalls) -> APIRouter:
    router = APIRouter()

    def authorised(request: Request) -> bool:
        given = request.headers.get("authorization", "")
        expected = f"Bearer {settings.PBX_TOKEN}"
        return bool(settings.PBX_TOKEN) and hmac.compare_digest(given.encode(), expected.encode())

    def call_uuid(value: str) -> str | None:
        try:
            return str(uuid.UUID(value))
        except (ValueError, AttributeError):
            return None

    @router.post("/asterisk/calls")
    async def announce(request: Request):
        if not authorised(request):
            return JSONResponse(FORBIDDEN, status_code=403)
        # CURL() sends a form, but setting a header drops its Content-Type: read the body either way
        try:
            form = dict(parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            form = {}
        call = call_uuid(form.get("uuid", ""))
        if call is None:
            return JSONResponse(INVALID, status_code=400)
        caller = normalize_digits(form.get("caller"))[:20] or None
        await calls.announce(call, caller)
        return PlainTextResponse("ok")

    @router.get("/asterisk/calls/{call}/next")
    async def next_step(call: str, request: Request):
        if not authorised(request):
            return JSONResponse(FORBIDDEN, status_code=403)
        call = call_uuid(call)
        if call is None:
            return JSONResponse(INVALID, status_code=400)
        step = await calls.next_step(call)
        if step.get("action") == "transfer":
            return PlainTextResponse(f"transfer,{step.get('ticket') or ''},{step.get('queue') or ''}")
        return PlainTextResponse("hangup")

    return router
