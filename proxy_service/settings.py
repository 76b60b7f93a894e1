"""Settings of proxy_service, from environment variables with defaults (see .env.example)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path

from contract import secrets

secrets.load(secrets.SERVICE_TOKEN, secrets.DATA_ENCRYPTION_KEY, secrets.DATA_HMAC_KEY)

ROOT = Path(__file__).resolve().parent.parent


# Every variable the settings read, as os.environ stores its keys (get_settings' fingerprint).
_READ: dict[bytes, None] = {}


def _required(name: str) -> str:
    _READ[os.fsencode(name)] = None
    return os.environ[name]


def _env(name: str, default: str) -> str:
    _READ[os.fsencode(name)] = None
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _hours(text: str) -> tuple[time, time]:
    start, end = text.split("-")
    return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=lambda: _env(
        "DATABASE_URL", f"sqlite:///{ROOT / 'var' / 'helpline.db'}"))
    # Token that services (the action server, the gateway) present as `Authorization: Bearer …`.
    # (Secrets: var/secrets.env on a development machine, the environment in production;
    # see contract/secrets.py.)
    service_token: str = field(default_factory=lambda: _required(secrets.SERVICE_TOKEN))
    # Keys for personal data at rest (Fernet, urlsafe base64 of 32 bytes), newest first: the
    # first encrypts, all decrypt (`python -m proxy_service.rotate_key` re-encrypts).
    data_keys: tuple[str, ...] = field(default_factory=lambda: secrets.data_keys(
        _required(secrets.DATA_ENCRYPTION_KEY)))
    # Key of the hashes phone numbers are looked up by (separate from the encryption keys).
    hmac_key: str = field(default_factory=lambda: _required(secrets.DATA_HMAC_KEY))
    # SQLite: how long a writer waits for the lock. Shorter than the actions' wait for the API
    # (8 s), so a writer stuck behind the lock is answered "busy" (503, retried with the same
    # Idempotency-Key) before its caller gives up on it.
    sqlite_busy_timeout_ms: int = field(default_factory=lambda: int(_env("SQLITE_BUSY_TIMEOUT_MS", "5000")))
    timezone: str = field(default_factory=lambda: _env("TIMEZONE", "Asia/Shanghai"))
    # ISO weekdays the service places open (1 = Monday).
    working_days: tuple[int, ...] = field(default_factory=lambda: tuple(
        int(day) for day in _env("WORKING_DAYS", "1,2,3,4,5").split(",")))
    business_hours: tuple[time, time] = field(default_factory=lambda: _hours(
        _env("BUSINESS_HOURS", "09:00-17:00")))
    # Bookings each half-day slot of a service place can take.
    slot_capacity: int = field(default_factory=lambda: int(_env("SLOT_CAPACITY", "4")))
    # How many working days ahead callers can book.
    booking_horizon_days: int = field(default_factory=lambda: int(_env("BOOKING_HORIZON_DAYS", "10")))
    # Minutes staff have to pick up a ticket, by priority (0 urgent … 2 normal).
    sla_minutes: tuple[int, ...] = field(default_factory=lambda: tuple(
        int(m) for m in _env("TICKET_SLA_MINUTES", "15,60,240").split(",")))
    # Days personal data and transcripts are kept after a case closes.
    retention_days: int = field(default_factory=lambda: int(_env("RETENTION_DAYS", "180")))
    # Hours a stored API response is kept for retries (it repeats names, numbers, transcripts).
    idempotency_keep_hours: int = field(default_factory=lambda: int(_env("IDEMPOTENCY_KEEP_HOURS", "24")))
    max_body_bytes: int = field(default_factory=lambda: int(_env("API_MAX_BODY_BYTES", str(256 * 1024))))
    # Web console: sign-in lock-out, session lifetimes, uploads of signed authorisations.
    login_max_failures: int = field(default_factory=lambda: int(_env("LOGIN_MAX_FAILURES", "5")))
    login_max_failures_per_client: int = field(default_factory=lambda: int(_env("LOGIN_MAX_FAILURES_PER_CLIENT", "20")))
    login_lock_minutes: int = field(default_factory=lambda: int(_env("LOGIN_LOCK_MINUTES", "15")))
    # Look-ups by reference + phone tail: wrong tails per reference and per requester (a
    # conversation, or an API client) before a lock of LOOKUP_LOCK_MINUTES.
    lookup_max_failures: int = field(default_factory=lambda: int(_env("LOOKUP_MAX_FAILURES", "5")))
    lookup_max_failures_per_requester: int = field(default_factory=lambda: int(
        _env("LOOKUP_MAX_FAILURES_PER_REQUESTER", "8")))
    lookup_lock_minutes: int = field(default_factory=lambda: int(_env("LOOKUP_LOCK_MINUTES", "30")))
    session_idle_minutes: int = field(default_factory=lambda: int(_env("SESSION_IDLE_MINUTES", "30")))
    session_max_hours: int = field(default_factory=lambda: int(_env("SESSION_MAX_HOURS", "12")))
    # Send cookies with the Secure flag, and HSTS, even over plain HTTP (behind a TLS proxy).
    secure_cookies: bool = field(default_factory=lambda: _env("SECURE_COOKIES", "false").lower() == "true")
    # Addresses of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed
    # (comma-separated). Empty: the connection's own address is the client's.
    trusted_proxies: frozenset[str] = field(default_factory=lambda: frozenset(
        hop.strip() for hop in _env("TRUSTED_PROXIES", "").split(",") if hop.strip()))
    upload_dir: Path = field(default_factory=lambda: Path(_env("UPLOAD_DIR", str(ROOT / "var" / "uploads"))))
    upload_max_bytes: int = field(default_factory=lambda: int(_env("UPLOAD_MAX_BYTES", str(5 * 1024 * 1024))))
    twilio_account_sid: str = field(default_factory=lambda: _env("TWILIO_ACCOUNT_SID", ""))
    twilio_auth_token: str = field(default_factory=lambda: _env("TWILIO_AUTH_TOKEN", ""))
    sms_from: str = field(default_factory=lambda: _env("SMS_FROM_NUMBER", ""))
    # Seconds one SMS request to the provider may take before it counts as failed.
    sms_timeout_seconds: float = field(default_factory=lambda: float(_env("SMS_TIMEOUT_SECONDS", "10")))


_built: tuple[tuple, Settings] | None = None


def get_settings() -> Settings:
    """The settings for the environment as it is now: rebuilt only when a variable they read
    changed (tests and tools set them at run time; a booking asks a dozen times, so the check
    looks at those variables only, in os.environ's own dict: a few microseconds)."""
    global _built
    stored = os.environ._data       # noqa: SLF001 - CPython's backing dict of os.environ, bytes keys on POSIX
    fingerprint = tuple(map(stored.get, _READ))
    if _built is None or _built[0] != fingerprint:
        settings = Settings()       # records what it reads in _READ
        _built = (tuple(map(stored.get, _READ)), settings)
    return _built[1]
