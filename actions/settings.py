"""Settings of the action server, from environment variables (see .env.example)."""
from __future__ import annotations

import os
from datetime import date, datetime
from zoneinfo import ZoneInfo

PROXY_SERVICE_URL = os.environ.get("PROXY_SERVICE_URL", "http://127.0.0.1:8000")
SERVICE_TOKEN = os.environ.get("SERVICE_TOKEN", "dev-service-token")
API_TIMEOUT_SECONDS = float(os.environ.get("PROXY_SERVICE_TIMEOUT", "8"))
CONSENT_WORDING_VERSION = os.environ.get("CONSENT_WORDING_VERSION", "2026-11")
DEFAULT_PLACE = os.environ.get("DEFAULT_SERVICE_PLACE", "city_hall")
TIMEZONE = os.environ.get("TIMEZONE", "Asia/Shanghai")


def today() -> date:
    return datetime.now(ZoneInfo(TIMEZONE)).date()
