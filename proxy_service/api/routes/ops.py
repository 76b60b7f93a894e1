"""Operations: health for anyone; the API's own description for service callers only."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse

from proxy_service.api.auth import AUTHENTICATED

router = APIRouter(tags=["ops"])


@router.get("/health")
def health():
    return {"status": "ok"}


@router.get("/openapi.json", dependencies=AUTHENTICATED, include_in_schema=False)
def openapi(request: Request):
    return JSONResponse(request.app.openapi())


@router.get("/docs", dependencies=AUTHENTICATED, include_in_schema=False)
def docs():
    return get_swagger_ui_html(openapi_url="/openapi.json", title="政务帮办热线 proxy_service API")
