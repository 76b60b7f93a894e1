"""Adds the web console to the service's FastAPI app: pages, static files, error pages, headers."""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from proxy_service.services.errors import ServiceError
from proxy_service.web import pages
from proxy_service.web.routes import admin, applications, auth, bookings, dashboard, tickets
from proxy_service.web.security import CsrfRejected, Forbidden, SignInRequired

STATIC = Path(__file__).resolve().parent / "static"
# Pages may only load what this server serves; no inline script, no framing, forms post here only.
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def is_console(request: Request) -> bool:
    path = request.url.path
    return not (path.startswith("/api/") or path in ("/docs", "/openapi.json", "/health", "/redoc"))


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    return pages.render(request, "error.html", status_code=status, title=title, message=message)


def install_console(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (auth, tickets, bookings, applications, dashboard, admin):
        app.include_router(module.router)

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        if is_console(request):
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            if not request.url.path.startswith("/static/"):
                # Pages carry personal data: never kept in a shared or back-button cache.
                response.headers.setdefault("Cache-Control", "no-store")
        return response

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
