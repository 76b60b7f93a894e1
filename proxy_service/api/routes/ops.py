"""Operations: health for anyone; metrics and the API's own description for service callers only."""
from __future__ import annotations

import time

from fastapi import APIRouter, Header, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse
from sqlalchemy import text

from contract.metrics import metrics_response
from proxy_service.api.auth import AUTHENTICATED

router = APIRouter(tags=["ops"])


@router.get("/health")
def health(request: Request):
    """Each dependency, and 503 when the database does not answer (the balancer then sends
    requests to an instance that can serve them)."""
    started = time.perf_counter()
    try:
        with request.app.state.make_uow(read_only=True) as uow:
            uow.session.execute(text("SELECT 1"))
        database = {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}
    except Exception as error:  # noqa: BLE001 - any failure is "down", named by its kind
        database = {"ok": False, "error": type(error).__name__}
    ok = database["ok"]
    return JSONResponse({"status": "ok" if ok else "down", "checks": {"database": database}},
                        status_code=200 if ok else 503)


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request, authorization: str = Header(None)):
    return metrics_response(request.app.state.metrics.registry, authorization, request.app.state.settings.service_token)


@router.get("/openapi.json", dependencies=AUTHENTICATED, include_in_schema=False)
def openapi(request: Request):
    return JSONResponse(request.app.openapi())


@router.get("/docs", dependencies=AUTHENTICATED, include_in_schema=False)
def docs():
    return get_swagger_ui_html(openapi_url="/openapi.json", title="政务帮办热线 proxy_service API")
