"""The action server, behind its own door: `python -m actions.server`.

rasa-sdk's server listens on every address and runs any tracker POSTed to it; our actions
hold the service token, so a forged tracker could read or cancel bookings. This entry
point serves the same actions (rasa_sdk.endpoint.create_app) but only on ACTION_SERVER_HOST
(loopback by default), only for calls carrying `Authorization: Bearer
<ACTION_SERVER_SECRET>` (Rasa sends it, endpoints.yml), with a body limit, and without
echoing the tracker back in an error (rasa-sdk's own handler does). GET /metrics: each action
run by name and outcome, and its time (actions/metrics.py), for the service token.
"""
from __future__ import annotations

import hmac
import logging
import time

from rasa_sdk.endpoint import create_app
from sanic import Sanic, response
from sanic.exceptions import SanicException

from actions import metrics, settings
from contract.metrics import rendered

logger = logging.getLogger(__name__)
OPEN_PATHS = frozenset({"/health", "/metrics"})      # /metrics checks the service token itself


def authorised(header: str | None) -> bool:
    expected = f"Bearer {settings.ACTION_SERVER_SECRET}"
    return hmac.compare_digest((header or "").encode(), expected.encode())


def build_app() -> Sanic:
    app = create_app("actions", cors_origins=None)
    app.config.REQUEST_MAX_SIZE = settings.ACTION_SERVER_MAX_BODY_BYTES

    @app.middleware("request")
    async def require_secret(request):
        request.ctx.started = time.perf_counter()
        if request.path not in OPEN_PATHS and not authorised(request.headers.get("authorization")):
            return response.json({"error": "unauthorised"}, status=401)

    @app.middleware("response")
    async def count_runs(request, answer):
        if request.path != "/webhook" or answer is None or answer.status == 401:
            return
        try:
            action = str((request.json or {}).get("next_action") or "unknown")[:64]
        except Exception:  # noqa: BLE001 - a body that is not JSON names no action
            action = "unknown"
        if answer.status == 404:      # no such action: a name Rasa should not have sent, not a label
            action = "unknown"
        metrics.RUNS.labels(action, metrics.outcome(answer.status)).inc()
        started = getattr(request.ctx, "started", None)
        if started is not None:
            metrics.RUN_SECONDS.labels(action).observe(time.perf_counter() - started)

    @app.get("/metrics")
    async def prometheus(request):
        status, body, content_type = rendered(metrics.REGISTRY, request.headers.get("authorization"),
                                              settings.SERVICE_TOKEN)
        return response.raw(body, status=status, content_type=content_type)

    async def failed(request, exception: Exception):
        if isinstance(exception, SanicException):
            return response.json({"error": str(exception)}, status=exception.status_code)
        logger.error("action call failed", exc_info=exception)
        return response.json({"error": "internal error"}, status=500)

    app.error_handler.add(Exception, failed)
    return app


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logger.info("action server on %s:%s", settings.ACTION_SERVER_HOST, settings.ACTION_SERVER_PORT)
    build_app().run(settings.ACTION_SERVER_HOST, settings.ACTION_SERVER_PORT, workers=1, access_log=False)


if __name__ == "__main__":
    main()
