"""Moving a live call to staff with Twilio's REST API (official client).

The handoff ticket already exists when this runs. Without credentials or a staff target
the request is still recorded (outcome `not_configured`) so staff see it and ring back.
"""
from __future__ import annotations

import asyncio
import logging

from twilio.base.exceptions import TwilioException
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from voice import settings

log = logging.getLogger(__name__)
TRANSFER_TIMEOUT_S = 10


def transfer_twiml(target: str, ticket: str | None) -> str:
    """TwiML that dials the staff target; the ticket reference rides along for the agent."""
    response = VoiceResponse()
    dial = response.dial(timeout=30)
    if target.startswith("sip:"):
        dial.sip(target + (f"?X-Ticket={ticket}" if ticket else ""))
    else:
        dial.number(target)
    return str(response)


def twilio_client() -> Client | None:
    if not (settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN):
        return None
    client = Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN)
    if settings.TWILIO_API_BASE_URL:
        client.api.base_url = settings.TWILIO_API_BASE_URL.rstrip("/")
    return client


async def transfer_call(call_sid: str, handoff: dict) -> dict:
    """Ask Twilio to move the call; returns the record of what happened."""
    ticket = handoff.get("ticket")
    target = settings.STAFF_TRANSFER_TARGET
    record = {"ticket": ticket, "target": target or None}
    client = twilio_client()
    if client is None or not target:
        log.warning("transfer for ticket %s recorded, not placed: Twilio credentials or staff target missing", ticket)
        return {**record, "outcome": "not_configured", "detail": "TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN/STAFF_TRANSFER_TARGET"}
    try:
        await asyncio.wait_for(asyncio.to_thread(client.calls(call_sid).update, twiml=transfer_twiml(target, ticket)),
                               timeout=TRANSFER_TIMEOUT_S)
    except (TwilioException, OSError, asyncio.TimeoutError) as error:
        log.error("transfer of a call failed: %s", type(error).__name__)
        return {**record, "outcome": "failed", "detail": type(error).__name__}
    return {**record, "outcome": "transferred"}
