"""The web console app: pages, static files, error pages, security headers, its body limit.

A separate app from the JSON API (proxy_service/api/app.py), so each can listen where it
belongs (the console for staff, the API for the services only); proxy_service/main.py
composes both on one listener by default.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from contract.body_limit import BodyLimit, header
from proxy_service.services.errors import ServiceError
from proxy_service.settings import Settings, get_settings
from proxy_service.uow import SqlUnitOfWork, new_unit_of_work
from proxy_service.web import pages
from proxy_service.web.routes import admin, applications, auth, bookings, dashboard, tickets
from proxy_service.web.security import CsrfRejected, Forbidden, SignInRequired, over_https

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
# Pages may only load what this server serves; no inline script, no framing, forms post here only.
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    return pages.render(request, "error.html", status_code=status, title=title, message=message)


def too_large(scope: dict, limit: int) -> Response:
    """Refused before the page ran (the body limit sits outside every other layer)."""
    page = error_page(Request(scope), 413, "内容太大",
                      f"提交的内容超过了{limit // (1024 * 1024) or 1} MB。请返回上一页，换一个小一点的文件再提交。")
    page.headers.update({**SECURITY_HEADERS, "Cache-Control": "no-store"})
    return page


def create_console_app(settings: Settings | None = None,
                       uow_factory: Callable[..., SqlUnitOfWork] | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(title="政务帮办热线 web console", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings, app.state.make_uow = settings, uow_factory or new_unit_of_work
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (auth, tickets, bookings, applications, dashboard, admin):
        app.include_router(module.router)

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if over_https(request):
            # Browsers that once came over HTTPS never fall back to plain HTTP (a year).
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if not request.url.path.startswith("/static/"):
            # Pages carry personal data: never kept in a shared or back-button cache.
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    install_console_errors(app)
    # Form posts with an upload may be larger than other posts: room for a file twice the
    # limit, so a too-big file is refused by the form itself, with the other answers kept.
    upload_limit, form_limit = 2 * settings.upload_max_bytes + 1024 * 1024, settings.max_body_bytes

    def limit(scope: dict) -> int:
        return upload_limit if header(scope, b"content-type").startswith("multipart/form-data") else form_limit

    app.add_middleware(BodyLimit, limit=limit, refuse=too_large)
    return app


def install_console_errors(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError):
        return console_error(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        title = {404: "没有这个页面", 405: "不能这样打开这个页面"}.get(exc.status_code, "出错了")
        return error_page(request, exc.status_code, title, "请从菜单重新进入。")

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, _exc: RequestValidationError):
        return error_page(request, 422, "填写有误", "提交的内容不完整或格式不对。请返回上一页检查后再提交。")

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception):
        log.exception("unhandled error: %s", type(exc).__name__)
        return error_page(request, 500, "系统出错了", "系统出错了，刚才的操作没有保存。请稍后再试。")

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, _exc: SignInRequired):
        if request.method == "GET":
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return error_page(request, 401, "请先登录", "您的登录已经过期。请重新登录后再提交。")

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden):
        return error_page(request, 403, "没有权限", exc.message)

    @app.exception_handler(CsrfRejected)
    async def csrf_rejected(request: Request, _exc: CsrfRejected):
        return error_page(request, 403, "请求被拒绝",
                          "这个表单已经失效，或者不是从本系统提交的。请回到上一页，刷新后再提交。")


def console_error(request: Request, exc: ServiceError) -> Response:
    """A service error on a page that did not handle it itself."""
    return error_page(request, exc.status, "没有办成", exc.zh)
