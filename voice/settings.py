"""Settings of the voice gateway, from environment variables (see .env.example)."""
from __future__ import annotations

import os

# The public base URL Twilio calls (the gateway sits behind a proxy): signatures are
# computed over it, not over the address the request arrives at.
PUBLIC_URL = os.environ.get("VOICE_PUBLIC_URL", "http://localhost:8080").rstrip("/")
TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "")
MAX_FORM_BYTES = int(os.environ.get("VOICE_MAX_FORM_BYTES", str(64 * 1024)))


def stream_url() -> str:
    """wss:// URL of the media stream, derived from the public URL."""
    scheme, _, rest = PUBLIC_URL.partition("://")
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/twilio/stream"
