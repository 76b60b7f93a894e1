"""Settings of the action server, from environment variables (see .env.example)."""
from __future__ import annotations

import os
from datetime import date, datetime
from zoneinfo import ZoneInfo

from contract import secrets

secrets.load(secrets.SERVICE_TOKEN, secrets.ACTION_SERVER_SECRET)

PROXY_SERVICE_URL = os.environ.get("PROXY_SERVICE_URL", "http://127.0.0.1:8000")
SERVICE_TOKEN = os.environ[secrets.SERVICE_TOKEN]
# The action server answers only calls that carry this secret (Rasa sends it, endpoints.yml),
# and listens on loopback unless told otherwise.
ACTION_SERVER_SECRET = os.environ[secrets.ACTION_SERVER_SECRET]
ACTION_SERVER_HOST = os.environ.get("ACTION_SERVER_HOST", "127.0.0.1")
ACTION_SERVER_PORT = int(os.environ.get("ACTION_SERVER_PORT", "5055"))
# A tracker of a long call is large; anything beyond this is not a tracker.
ACTION_SERVER_MAX_BODY_BYTES = int(os.environ.get("ACTION_SERVER_MAX_BODY_BYTES", str(4 * 1024 * 1024)))
API_TIMEOUT_SECONDS = float(os.environ.get("PROXY_SERVICE_TIMEOUT", "8"))
# A write that timed out or met a server error is sent again with the same Idempotency-Key
# (so it happens at most once) this many times in all, before the caller is told.
API_WRITE_ATTEMPTS = int(os.environ.get("PROXY_SERVICE_WRITE_ATTEMPTS", "3"))
CONSENT_WORDING_VERSION = os.environ.get("CONSENT_WORDING_VERSION", "2026-11")
DEFAULT_PLACE = os.environ.get("DEFAULT_SERVICE_PLACE", "city_hall")
TIMEZONE = os.environ.get("TIMEZONE", "Asia/Shanghai")


def today() -> date:
    return datetime.now(ZoneInfo(TIMEZONE)).date()
