"""The voice kiosk of a service hall: `GET /kiosk` and its WebSocket, on the same call core.

The page (voice/kiosk/) sends the microphone as 16 kHz PCM16 binary messages and a few
JSON messages (`start`, `played`, `staff`, `end`); it gets the bot's speech as 16 kHz PCM16
and JSON (`mark`, `clear`, `caption`, `checklist`, `handoff`, `state`, `end`). Only kiosks
on KIOSK_NETWORKS (a hall's LAN; loopback by default) may open it, and the WebSocket only
from the page's own origin. Each press of the start button is a new conversation.
"""
from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import uuid
from pathlib import Path
from typing import Callable

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from starlette.websockets import WebSocketDisconnect

from voice import settings
from voice.audio import ASR_RATE, SAMPLE_WIDTH, resample
from voice.call import CallSession
from voice.telephony import AUDIO, PERSON, PLAYED, START, STOP, CallEvent, Intake, MalformedMessage

log = logging.getLogger(__name__)
PAGE_DIR = Path(__file__).resolve().parent.parent / "kiosk"   # the page, its style and scripts
STATIC = {"kiosk.css": "text/css", "kiosk.js": "text/javascript", "capture-worklet.js": "text/javascript"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
       "media-src 'self'; worker-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "Cache-Control": "no-store", "Permissions-Policy": "microphone=(self)"}
MAX_AUDIO_BYTES = ASR_RATE * SAMPLE_WIDTH   # one message: at most a second of microphone audio
MAX_TEXT_BYTES = 1024
PLAY_CHUNK_BYTES = ASR_RATE * SAMPLE_WIDTH // 2
NOT_HERE = {"error": "forbidden", "message_zh": "自助机页面只能在服务大厅的自助机上打开。",
            "message_en": "the kiosk is served to the service hall's network only"}


def allowed(address: str | None, networks: str = "") -> bool:
    """Is `address` (the peer's, not a forwarded header) on one of the kiosk networks?"""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net.strip(), strict=False)
               for net in (networks or settings.KIOSK_NETWORKS).split(",") if net.strip())


class KioskLine:
    """One kiosk WebSocket as a `Line`: wideband audio, a screen, staff a few steps away."""

    channel, narrowband, prompts_on_silence = "kiosk", False, False

    def __init__(self, websocket: WebSocket):
        self.websocket = websocket
        self.closed = False

    def parse(self, message: dict) -> CallEvent | None:
        data, text = message.get("bytes"), message.get("text")
        if data is not None:
            if len(data) > MAX_AUDIO_BYTES or len(data) % SAMPLE_WIDTH:
                raise MalformedMessage(f"audio message of {len(data)} bytes")
            return CallEvent(AUDIO, pcm=data)
        if text is None or len(text) > MAX_TEXT_BYTES:
            raise MalformedMessage("empty or oversized text message")
        try:
            body = json.loads(text)
        except ValueError as error:
            raise MalformedMessage("not JSON") from error
        kind = body.get("type") if isinstance(body, dict) else None
        if kind == "start":
            return CallEvent(START, call_id=f"kiosk-{uuid.uuid4().hex}")
        if kind == "played" and isinstance(body.get("mark"), str):
            return CallEvent(PLAYED, mark=body["mark"])
        if kind == "staff":
            return CallEvent(PERSON)
        if kind == "end":
            return CallEvent(STOP)
        raise MalformedMessage(f"unknown kiosk message {kind!r}")

    async def _send(self, message: str | bytes) -> None:
        if self.closed:
            return
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await (self.websocket.send_bytes(message) if isinstance(message, bytes) else self.websocket.send_text(message))

    async def play(self, pcm: bytes, rate: int) -> None:
        wide = resample(pcm, rate, ASR_RATE)
        for start in range(0, len(wide), PLAY_CHUNK_BYTES):
            await self._send(wide[start:start + PLAY_CHUNK_BYTES])

    async def mark(self, name: str) -> None:
        await self.show("mark", {"name": name})

    async def clear(self) -> None:
        await self.show("clear", {})

    async def show(self, kind: str, content: dict) -> None:
        await self._send(json.dumps({"type": kind, **content}, ensure_ascii=False))

    async def transfer(self, call_id: str, handoff: dict) -> dict:
        """The ticket waits in its queue and the screen shows where its staff sit."""
        return {"ticket": handoff.get("ticket"), "outcome": "transferred", "via": "desk"}

    async def hang_up(self) -> None:
        if self.closed:
            return
        await self.show("end", {})
        self.closed = True
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await self.websocket.close()


def same_origin(websocket: WebSocket) -> bool:
    origin = websocket.headers.get("origin")
    host = websocket.headers.get("host")
    return bool(origin and host) and origin.split("://", 1)[-1] == host


def kiosk_router(open_call: Callable[[KioskLine], CallSession]) -> APIRouter:
    router = APIRouter()

    def peer(request_or_socket) -> str | None:
        return request_or_socket.client.host if request_or_socket.client else None

    @router.get("/kiosk")
    def page(request: Request):
        if not allowed(peer(request)):
            return JSONResponse(NOT_HERE, status_code=403)
        html = (PAGE_DIR / "kiosk.html").read_text(encoding="utf-8")
        html = html.replace("__IDLE_SECONDS__", f"{settings.KIOSK_IDLE_SECONDS:g}")
        html = html.replace("__PROMPT_SECONDS__", f"{settings.KIOSK_PROMPT_SECONDS:g}")
        return HTMLResponse(html, headers=HEADERS)

    @router.get("/kiosk/static/{name}")
    def static(name: str, request: Request):
        if name not in STATIC:
            return JSONResponse({"error": "not_found", "message_zh": "没有这个文件。"}, status_code=404)
        if not allowed(peer(request)):
            return JSONResponse(NOT_HERE, status_code=403)
        return FileResponse(PAGE_DIR / name, media_type=STATIC[name], headers=HEADERS)

    @router.websocket("/kiosk/stream")
    async def stream(websocket: WebSocket):
        if not allowed(peer(websocket)) or not same_origin(websocket):
            log.warning("kiosk stream refused: not a kiosk or not its page")
            await websocket.close(code=1008)
            return
        await websocket.accept()
        line = KioskLine(websocket)
        session = open_call(line)
        intake = Intake(session, line.parse, "kiosk")
        try:
            while not session.ended and not intake.hopeless:
                try:
                    message = await asyncio.wait_for(websocket.receive(), settings.KIOSK_IDLE_SECONDS
                                                     + settings.KIOSK_PROMPT_SECONDS)
                except asyncio.TimeoutError:   # the page sends audio all the time: it has gone
                    break
                if message["type"] == "websocket.disconnect":
                    break
                event = intake.parse(message)
                if event is not None:
                    await intake.deliver(event)
        except WebSocketDisconnect:
            pass
        finally:
            await session.end("kiosk closed")

    return router
