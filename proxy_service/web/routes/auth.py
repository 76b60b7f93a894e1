"""Sign in and out; the start page sends each role to its own work."""
from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from proxy_service.services import accounts
from proxy_service.services.accounts import LoginFailed, LoginLocked
from proxy_service.web import pages
from proxy_service.web.security import (
    EVERYONE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    allow,
    client_address,
    device_cookie_name,
    over_https,
    same_origin,
    tokens_match,
)

router = APIRouter(include_in_schema=False)
HOME = {"staff": "/queues", "worker": "/applications", "admin": "/dashboard"}


KNOWN_DEVICE_DAYS = 365


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site (no //host, no scheme): no open redirect through sign-in."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


def _login_page(request: Request, status: int = 200, error: str | None = None, username: str = "",
                next_path: str | None = None) -> Response:
    token = secrets.token_urlsafe(32)
    response = pages.render(request, "login.html", status_code=status, error=error, username=username,
                            next_path=_safe_next(next_path) or "", login_csrf=token)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=over_https(request),
                        max_age=3600)
    return response


@router.get("/login")
def login_form(request: Request, next: str | None = None):  # noqa: A002 - the query parameter's name
    return _login_page(request, next_path=next)


@router.post("/login")
async def login(request: Request, username: str = Form(""), password: str = Form(""), next: str = Form("")):  # noqa: A002
    form = await request.form()
    if not same_origin(request) or not tokens_match(request.cookies.get(LOGIN_CSRF_COOKIE), form.get("csrf_token")):
        return _login_page(request, 403, "登录页面已经过期，请再试一次。", username, next)
    device_cookie = device_cookie_name(username)
    try:
        account, token = accounts.sign_in(request.app.state.make_uow(), username, password, client_address(request),
                                          request.cookies.get(device_cookie))
    except (LoginFailed, LoginLocked) as failure:
        return _login_page(request, failure.status, failure.zh, username, next)
    response = RedirectResponse(_safe_next(next) or HOME[account.role], status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", secure=over_https(request))
    # This browser is now a known device for the account: others' failures cannot lock it out.
    response.set_cookie(device_cookie, accounts.device_token(account.username), httponly=True, samesite="strict",
                        secure=over_https(request), max_age=KNOWN_DEVICE_DAYS * 86400, path="/login")
    response.delete_cookie(LOGIN_CSRF_COOKIE, secure=over_https(request), httponly=True, samesite="strict")
    return response


@router.post("/logout")
def logout(request: Request, _account=Depends(allow(*EVERYONE))):
    accounts.sign_out(request.app.state.make_uow(), request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login?done=signed_out", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/")
def home(account=Depends(allow(*EVERYONE))):
    return RedirectResponse(HOME[account.role], status_code=303)
