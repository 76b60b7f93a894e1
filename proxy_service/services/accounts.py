"""Console accounts: argon2 passwords, sign-in with lock-out, server-side sessions.

A session cookie holds 32 random bytes; the database keeps only their SHA-256, so a copy of
the database cannot be used to sign in.

Failed sign-ins lock for a while, even for the right password, but an outsider must not be
able to lock staff out by typing wrong passwords for their account names. So a browser that
has signed in to an account before carries a "known device" cookie for that account (a
random nonce with a keyed MAC, nothing stored), and is counted on its own: its failures lock
only itself. Every other attempt is counted per account name and per client address: five
wrong passwords for "admin" from elsewhere lock "admin" for unknown browsers only, and the
administrator at their usual browser still signs in.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from proxy_service import models as m
from proxy_service.services import throttle
from proxy_service.services.common import audit, now
from proxy_service.services.errors import Conflict, InvalidRequest, NotFound, ServiceError
from proxy_service.settings import get_settings

ROLE_LABELS = {"staff": "窗口/热线工作人员", "worker": "社区工作者", "admin": "主管/管理员"}
MIN_PASSWORD_LENGTH = 10
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-")
# A hash to verify against when the account does not exist, so both cases take as long.
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class LoginLocked(ServiceError):
    status, code = 429, "locked"


class LoginFailed(ServiceError):
    status, code = 401, "login_failed"


@dataclass(frozen=True)
class Account:
    """What a request needs to know about who is signed in (no password hash)."""

    id: int
    username: str
    display_name: str
    role: str
    community: str | None

    @property
    def role_label(self) -> str:
        return ROLE_LABELS[self.role]


def account_name(typed: str | None) -> str:
    """An account name as stored and compared: trimmed, lower case, at most 64 characters."""
    return (typed or "").strip().lower()[:64]


def _account(user: m.StaffUser) -> Account:
    return Account(user.id, user.username, user.display_name, user.role, user.community)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH or len(password) > 128:
        raise InvalidRequest(f"密码至少{MIN_PASSWORD_LENGTH}位，最多128位。",
                             f"password must be {MIN_PASSWORD_LENGTH}-128 characters.", field="password")


def create_user(uow, *, username: str, display_name: str, role: str, password: str,
                community: str | None = None, actor: str) -> Account:
    username = (username or "").strip().lower()
    display_name = (display_name or "").strip()
    community = (community or "").strip() or None
    if not (2 <= len(username) <= 64) or set(username) - USERNAME_CHARS:
        raise InvalidRequest("用户名用2到64个小写字母、数字或 . _ -。",
                             "username: 2-64 of a-z 0-9 . _ -", field="username")
    if not display_name or len(display_name) > 64:
        raise InvalidRequest("请填写姓名（不超过64个字）。", "display_name is required (at most 64).",
                             field="display_name")
    if role not in ROLE_LABELS:
        raise InvalidRequest("请选择角色。", f"role must be one of {', '.join(ROLE_LABELS)}.", field="role")
    if role == "worker" and not community:
        raise InvalidRequest("社区工作者要填写所属社区。", "a community worker needs a community.", field="community")
    if community and len(community) > 64:
        raise InvalidRequest("社区名称不超过64个字。", "community: at most 64 characters.", field="community")
    _check_password(password)
    with uow:
        if uow.users.by_username(username) is not None:
            raise Conflict("这个用户名已经有人用了。", "username taken.", field="username")
        user = uow.users.add(m.StaffUser(username=username, display_name=display_name, role=role,
                                         community=community if role == "worker" else None,
                                         password_hash=_hasher.hash(password), active=True, created_at=now()))
        audit(uow, actor=actor, entity=user, action="create", to_state="active", details={"role": role})
        uow.commit()
        return _account(user)


def list_users(uow) -> list[dict]:
    with uow:
        return [{"id": u.id, "username": u.username, "display_name": u.display_name, "role": u.role,
                 "role_label": ROLE_LABELS[u.role], "community": u.community, "active": u.active,
                 "locked": throttle.locked(uow, f"user:{u.username}", now()),
                 "last_login_at": u.last_login_at} for u in uow.users.list()]


def set_active(uow, user_id: int, active: bool, *, actor: str) -> None:
    """Deactivating also signs the account out everywhere."""
    with uow:
        user = uow.users.get(user_id)
        if user is None:
            raise NotFound("没有这个账号。", f"no user {user_id}.")
        if user.username == actor and not active:
            raise Conflict("不能停用自己的账号。", "cannot deactivate yourself.")
        before = "active" if user.active else "inactive"
        user.active = active
        if not active:
            uow.web_sessions.delete_for_user(user.id)
        audit(uow, actor=actor, entity=user, action="activate" if active else "deactivate", from_state=before,
              to_state="active" if active else "inactive")
        uow.commit()


def reset_password(uow, user_id: int, password: str, *, actor: str) -> None:
    """A new password from an administrator: unlocks the account and ends its sessions."""
    _check_password(password)
    with uow:
        user = uow.users.get(user_id)
        if user is None:
            raise NotFound("没有这个账号。", f"no user {user_id}.")
        user.password_hash = _hasher.hash(password)
        uow.web_sessions.delete_for_user(user.id)
        uow.login_throttle.clear(f"user:{user.username}")
        audit(uow, actor=actor, entity=user, action="reset_password")
        uow.commit()


# ---- sign-in -------------------------------------------------------------------------
def _device_mac(username: str, nonce: str) -> str:
    message = f"known-device|{username}|{nonce}".encode()
    return hmac.new(get_settings().hmac_key.encode(), message, hashlib.sha256).hexdigest()[:32]


def device_token(username: str) -> str:
    """A new known-device cookie value for this account."""
    nonce = secrets.token_urlsafe(12)
    return f"{nonce}.{_device_mac(username, nonce)}"


def known_device(username: str, token: str | None) -> str | None:
    """The device's nonce if `token` is a known-device cookie for this account."""
    nonce, _, mac = (token or "")[:100].partition(".")
    if nonce and mac and hmac.compare_digest(mac, _device_mac(username, nonce)):
        return nonce
    return None


def _throttle_keys(username: str, client: str, device: str | None) -> dict[str, int]:
    settings = get_settings()
    if device is not None:
        return {f"device:{username}:{device}": settings.login_max_failures}
    return {f"user:{username}": settings.login_max_failures, f"ip:{client}": settings.login_max_failures_per_client}


def sign_in(uow, username: str, password: str, client: str, device_cookie: str | None = None) -> tuple[Account, str]:
    """Check the password; return the account and a new session token (for the cookie).
    `device_cookie` is this browser's known-device cookie for the account, if it has one."""
    settings = get_settings()
    username = account_name(username)
    keys = _throttle_keys(username, client, known_device(username, device_cookie))
    stamp = now()
    locked_message = (f"登录失败次数太多，暂时不能登录。请{settings.login_lock_minutes}分钟后再试，或请管理员重置密码。",
                      "too many failed sign-ins; locked for a while.")
    with uow:
        if any(throttle.locked(uow, key, stamp) for key in keys):
            raise LoginLocked(*locked_message)
        user = uow.users.by_username(username)
        try:
            _hasher.verify(user.password_hash if user else _DUMMY_HASH, password or "")
            good = user is not None and user.active
        except (VerificationError, InvalidHashError):
            good = False
        if not good:
            for key, limit in keys.items():
                throttle.count_failure(uow, key, limit, settings.login_lock_minutes, stamp)
            uow.commit()
            if any(throttle.locked(uow, key, stamp) for key in keys):
                raise LoginLocked(*locked_message)
            raise LoginFailed("用户名或密码不对。", "wrong username or password.")
        for key in keys:
            if not key.startswith("ip:"):
                uow.login_throttle.clear(key)
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
        token = secrets.token_urlsafe(32)
        uow.web_sessions.add(m.WebSession(token_hash=token_hash(token), user_id=user.id,
                                          csrf_token=secrets.token_urlsafe(32), created_at=stamp,
                                          last_seen_at=stamp))
        user.last_login_at = stamp
        audit(uow, actor=user.username, entity=user, action="sign_in")
        uow.commit()
        return _account(user), token


@dataclass(frozen=True)
class SignedIn:
    account: Account
    csrf_token: str


def current_session(uow, token: str | None) -> SignedIn | None:
    """The account behind a session cookie, if the session is still alive (idle and absolute limits)."""
    if not token or len(token) > 100:
        return None
    settings = get_settings()
    stamp = now()
    with uow:
        session = uow.web_sessions.get(token_hash(token))
        if session is None:
            return None
        expired = (stamp - session.last_seen_at > timedelta(minutes=settings.session_idle_minutes)
                   or stamp - session.created_at > timedelta(hours=settings.session_max_hours))
        if expired or not session.user.active:
            uow.web_sessions.delete(session)
            uow.commit()
            return None
        if stamp - session.last_seen_at > timedelta(minutes=1):
            session.last_seen_at = stamp
            uow.commit()
        return SignedIn(_account(session.user), session.csrf_token)


def sign_out(uow, token: str | None) -> None:
    if not token:
        return
    with uow:
        session = uow.web_sessions.get(token_hash(token))
        if session is not None:
            audit(uow, actor=session.user.username, entity=session.user, action="sign_out")
            uow.web_sessions.delete(session)
            uow.commit()
