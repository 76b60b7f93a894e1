"""The JSON API's answers to bad input: a code, a Chinese and an English message."""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError, TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from proxy_service.log_privacy import describe
from proxy_service.services.errors import ServiceError

log = logging.getLogger(__name__)


def error(status: int, code: str, zh: str, en: str, headers: dict | None = None, **details) -> JSONResponse:
    return JSONResponse({"error": code, "message_zh": zh, "message_en": en, **details}, status_code=status,
                        headers=headers)


def too_large(_scope: dict, limit: int) -> JSONResponse:
    return error(413, "too_large", "请求内容太大。", f"request body over {limit} bytes.")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(_request: Request, exc: ServiceError):
        return JSONResponse(exc.as_dict(), status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError):
        fields = [{"field": ".".join(str(p) for p in e["loc"][1:]), "problem": e["msg"]} for e in exc.errors()]
        return error(422, "invalid", "请求内容有误，请检查这些字段。", "invalid request: see fields.", fields=fields)

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeout)
    async def database_unavailable(_request: Request, exc: Exception):
        # Locked past the busy timeout (or no connection free as long), or the database is down:
        # the transaction did not commit.
        log.error("database unavailable: %s",
                  describe(exc) if isinstance(exc, OperationalError) else "no connection free in time")
        return error(503, "busy", "系统正忙，请稍后再试。", "database busy or unreachable; nothing was changed.",
                     headers={"Retry-After": "1"})

    @app.exception_handler(Exception)
    async def crash(_request: Request, exc: Exception):
        log.exception("unhandled error: %s", type(exc).__name__)
        return error(500, "internal", "系统出错了，请稍后再试。", "internal error; nothing was changed.")
