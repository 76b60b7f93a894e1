"""Valid requests to start from; each test changes what it is about."""
from __future__ import annotations

import dataclasses
import random
from datetime import date, timedelta

from proxy_service.services import calendar
from proxy_service.services.applications import ApplicationRequest
from proxy_service.services.bookings import BookingRequest
from proxy_service.services.common import now
from proxy_service.services.residents import ResidentInput
from proxy_service.services.tickets import TicketRequest
from proxy_service.uow import unit_of_work_factory

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def bookable_day(index: int = 0) -> date:
    return calendar.bookable_days(now().date())[index]


def random_phone() -> str:
    return "139" + "".join(random.choice("0123456789") for _ in range(8))


def booking_request(**changes) -> BookingRequest:
    request = BookingRequest(
        service_code="elderly_allowance", mode="proxy", place_code="city_hall", day=bookable_day(0),
        half_day="am", resident=ResidentInput(name="王秀英", phone=random_phone(), birth_year=1941),
        consent_wording_version="2026-11", consent_given=True,
    )
    return dataclasses.replace(request, **changes)


def ticket_request(**changes) -> TicketRequest:
    request = TicketRequest(
        conversation_id="CA" + "".join(random.choice("0123456789abcdef") for _ in range(32)),
        reason="request_human", channel="phone", topic="ask_social_security", caller_phone=random_phone(),
        transcript=[{"speaker": "bot", "text": "您好，请问您想办什么事？"},
                    {"speaker": "caller", "text": "我社保卡丢了，转人工"}],
        filled_slots={"service": "social_security_card"},
    )
    return dataclasses.replace(request, **changes)


def application_request(**changes) -> ApplicationRequest:
    request = ApplicationRequest(
        service_code="elderly_allowance", community="幸福里社区",
        resident=ResidentInput(name="孙奶奶", phone=random_phone(), birth_year=1938),
        agent_name="孙小红", relationship="女儿", authorisation_scope="代为申请高龄津贴并领取结果",
        valid_from=date.today(), valid_until=date.today() + timedelta(days=90), consent_given=True,
        consent_wording_version="2026-11", provided_materials=("老人身份证", "户口本"),
    )
    return dataclasses.replace(request, **changes)


def uow_factory_for(url: str):
    """Units of work on one database, as the app's `make_uow` takes them."""
    return unit_of_work_factory(url)
