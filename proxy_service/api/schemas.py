"""Request bodies of the JSON API (pydantic 1.10, as pinned by Rasa)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Dict, List, Optional

from pydantic import BaseModel, Extra, Field, conint, conlist, constr

from proxy_service.services.tickets import REASONS as TICKET_REASONS

Text32 = constr(strip_whitespace=True, min_length=1, max_length=32)
Text64 = constr(strip_whitespace=True, min_length=1, max_length=64)
Phone = constr(strip_whitespace=True, min_length=7, max_length=32)
CallSid = constr(regex=r"^[A-Za-z0-9_-]{1,64}$")


class Strict(BaseModel):
    class Config:
        extra = Extra.forbid
        anystr_strip_whitespace = True


class ResidentIn(Strict):
    name: Text32
    phone: Optional[Phone] = None
    id_number: Optional[constr(max_length=32)] = None
    birth_year: Optional[conint(ge=1900, le=2100)] = None
    disabled: Optional[bool] = None


class ConsentIn(Strict):
    given: bool = Field(..., description="the resident agreed to the storage and use of their data for this errand")
    wording_version: Text32
    sensitive_given: bool = Field(False, description="separate consent for ID number / disability status")


class BookingIn(Strict):
    service_code: Text64
    mode: constr(regex=r"^(assisted|proxy|home_visit)$")
    place_code: Text32
    day: date
    half_day: constr(regex=r"^(am|pm)$")
    resident: ResidentIn
    consent: ConsentIn
    address: Optional[constr(max_length=200)] = None
    channel: constr(regex=r"^(phone|kiosk|web|chat)$") = "phone"


class PhoneTailIn(Strict):
    phone_last4: constr(regex=r"^\d{4}$")
    # Who is asking (the assistant sends the conversation): wrong tails are counted per
    # requester as well as per reference. Without it, the client's address is the requester.
    conversation_id: Optional[constr(min_length=1, max_length=128)] = None


class RescheduleIn(PhoneTailIn):
    day: date
    half_day: constr(regex=r"^(am|pm)$")


class StatusIn(PhoneTailIn):
    reference: constr(regex=r"^\d{8}$")


class TranscriptTurn(Strict):
    speaker: constr(regex=r"^(caller|bot)$")
    text: constr(max_length=2000)
    at: Optional[datetime] = None


class TicketIn(Strict):
    conversation_id: constr(strip_whitespace=True, min_length=1, max_length=128)
    reason: constr(regex=f"^({'|'.join(TICKET_REASONS)})$")
    channel: constr(regex=r"^(phone|kiosk|web|chat)$") = "phone"
    topic: Optional[Text64] = None
    caller_phone: Optional[Phone] = None
    caller_age: Optional[conint(ge=0, le=130)] = None
    caller_disabled: Optional[bool] = None
    failed_turns: conint(ge=0, le=1000) = 0
    transcript: List[TranscriptTurn] = Field(default_factory=list, max_items=500)
    filled_slots: Dict[constr(max_length=64), Any] = Field(default_factory=dict)


class TicketActionIn(Strict):
    action: constr(regex=r"^(claim|release|resolve|schedule_callback)$")
    actor: Text64
    callback_from: Optional[datetime] = None
    note: Optional[constr(max_length=1000)] = None


class ApplicationIn(Strict):
    service_code: Text64
    community: Text64
    resident: ResidentIn
    agent_name: Text32
    agent_phone: Optional[Phone] = None
    agent_id_number: Optional[constr(max_length=32)] = None
    relationship: Text32
    authorisation_scope: constr(strip_whitespace=True, min_length=1, max_length=500)
    valid_from: date
    valid_until: date
    consent: ConsentIn
    provided_materials: List[Text64] = Field(default_factory=list, max_items=50)
    filed_by: Text64


class ApplicationActionIn(Strict):
    action: constr(regex=r"^(accept|request_materials|complete|reject)$")
    actor: Text64
    note: Optional[constr(max_length=1000)] = None


class CallTransferIn(Strict):
    ticket: Optional[constr(regex=r"^\d{8}$")] = Field(None, description="reference of the handoff ticket")
    target: Optional[constr(strip_whitespace=True, min_length=1, max_length=128)] = None
    outcome: Optional[constr(regex=r"^(transferred|not_configured|failed)$")] = None
    detail: Optional[constr(strip_whitespace=True, min_length=1, max_length=500)] = None


class CallReportIn(Strict):
    """One report about a call; a field left out (or null) leaves what is stored as it is."""

    channel: Optional[constr(regex=r"^(phone|kiosk)$")] = Field(None, description="required on the first report")
    caller_phone: Optional[Phone] = None
    started_at: Optional[datetime] = None
    ended_at: Optional[datetime] = None
    status: Optional[constr(regex=r"^(initiated|queued|ringing|in-progress|completed|busy|no-answer|failed|canceled)$")] = None
    duration_seconds: Optional[conint(ge=0, le=86_400)] = None
    transfer: Optional[CallTransferIn] = None
    lease_seconds: Optional[conint(ge=0, le=600)] = Field(
        None, description="the gateway holds the call this long unless renewed (0 ends the lease)")


class CallLeasesIn(Strict):
    """A gateway's round: calls it still holds, and calls that ended well."""

    renew: conlist(CallSid, max_items=1000) = []
    release: conlist(CallSid, max_items=1000) = []
    seconds: conint(ge=1, le=600)
