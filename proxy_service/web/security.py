"""Who may see a page: the session cookie, role checks and CSRF protection.

Every console route depends on `allow(...)`. For a GET it resolves the signed-in account; for
a POST it also requires the session's CSRF token in the form and refuses a request whose
Origin is another site, so a page elsewhere cannot make a signed-in browser act.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Callable
from urllib.parse import urlsplit

from fastapi import Request

from proxy_service.services import accounts
from proxy_service.services.accounts import Account

SESSION_COOKIE = "helpline_session"
LOGIN_CSRF_COOKIE = "helpline_login_csrf"
DEVICE_COOKIE_PREFIX = "helpline_device_"     # + a digest of the account name
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class SignInRequired(Exception):
    """No live session: the browser is sent to the sign-in page."""


class Forbidden(Exception):
    def __init__(self, message: str = "您没有权限打开这个页面。"):
        super().__init__(message)
        self.message = message


class CsrfRejected(Exception):
    """A state-changing request without this session's token (or from another site)."""


def _peer(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _from_trusted_proxy(request: Request) -> bool:
    return _peer(request) in request.app.state.settings.trusted_proxies


def client_address(request: Request) -> str:
    """Who is asking: the connection's address, or, when it comes from a proxy we were told to
    trust (TRUSTED_PROXIES), the nearest X-Forwarded-For hop that is not one of our proxies.
    Anyone else's X-Forwarded-For is ignored: it is whatever the client wrote."""
    if not _from_trusted_proxy(request):
        return _peer(request)
    trusted = request.app.state.settings.trusted_proxies
    hops = [hop.strip() for hop in request.headers.get("x-forwarded-for", "").split(",") if hop.strip()]
    return next((hop for hop in reversed(hops) if hop not in trusted), _peer(request))


def over_https(request: Request) -> bool:
    """HTTPS to us, or to a trusted proxy that says so (X-Forwarded-Proto); or SECURE_COOKIES."""
    if request.url.scheme == "https" or request.app.state.settings.secure_cookies:
        return True
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return _from_trusted_proxy(request) and forwarded == "https"


def device_cookie_name(username: str) -> str:
    return DEVICE_COOKIE_PREFIX + hashlib.sha256(accounts.account_name(username).encode()).hexdigest()[:16]


def same_origin(request: Request) -> bool:
    """Browsers send Origin on POSTs; if it is there it must be this site."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    return parts.netloc == request.headers.get("host", "") and parts.scheme in ("http", "https")


def tokens_match(expected: str | None, given: object) -> bool:
    return bool(expected) and isinstance(given, str) and hmac.compare_digest(expected.encode(), given.encode())


async def check_csrf(request: Request, expected: str | None) -> None:
    if not same_origin(request):
        raise CsrfRejected()
    form = await request.form()
    if not tokens_match(expected, form.get("csrf_token")):
        raise CsrfRejected()


def allow(*roles: str) -> Callable:
    """Dependency: a signed-in account with one of `roles` (and a valid CSRF token on writes)."""

    async def dependency(request: Request) -> Account:
        signed_in = accounts.current_session(request.app.state.make_uow(), request.cookies.get(SESSION_COOKIE))
        if signed_in is None:
            raise SignInRequired()
        request.state.account, request.state.csrf_token = signed_in.account, signed_in.csrf_token
        if request.method in UNSAFE_METHODS:
            await check_csrf(request, signed_in.csrf_token)
        if signed_in.account.role not in roles:
            raise Forbidden()
        return signed_in.account

    return dependency


STAFF = ("staff", "admin")
EVERYONE = ("staff", "worker", "admin")
