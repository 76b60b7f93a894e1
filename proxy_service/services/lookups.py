"""Finding a booking or an application by its reference and the phone's last four digits,
with a limit on guessing.

Four digits are 10 000 guesses at most; without a limit a script finds any booking in
seconds and may cancel it. Failures are counted per reference (whoever guesses) and per
requester (the conversation, or the API client); at the limit the key is locked for
LOOKUP_LOCK_MINUTES, even for the right digits, the lock is audited against the record it
protects, and the caller is told to ask a person (the assistant offers one).
"""
from __future__ import annotations

import logging

from proxy_service import models as m
from proxy_service.crypto import normalize_digits
from proxy_service.services import throttle
from proxy_service.services.common import audit, now
from proxy_service.services.errors import NotFound, TooManyAttempts
from proxy_service.settings import get_settings

log = logging.getLogger(__name__)

NOT_FOUND = ("没有查到，请核对编号和手机尾号。", "nothing with that reference and phone.")
LOCKED = ("核对不上的次数太多了，这个编号暂时不能再查。我帮您转人工，好吗？",
          "too many wrong phone tails; look-ups are locked for a while.")


def _keys(reference: str, requester: str) -> dict[str, int]:
    settings = get_settings()
    return {f"lookup-ref:{reference}": settings.lookup_max_failures,
            f"lookup-from:{requester[:140]}": settings.lookup_max_failures_per_requester}


def owned(uow, reference: str, phone_last4: str, requester: str, kinds=(m.Booking, m.ProxyApplication),
          not_found: tuple[str, str] = NOT_FOUND):
    """The booking or application with this reference whose resident's phone ends in these
    digits; a failure is counted (and committed) before NotFound. Call inside `with uow:`
    before any change of the use case."""
    reference, tail, stamp = normalize_digits(reference), normalize_digits(phone_last4), now()
    keys = _keys(reference, requester)
    if any(throttle.locked(uow, key, stamp) for key in keys):
        raise TooManyAttempts(*LOCKED)
    repositories = {m.Booking: uow.bookings, m.ProxyApplication: uow.applications}
    records = [record for kind in kinds if (record := repositories[kind].by_reference(reference)) is not None]
    match = next((record for record in records if record.resident.phone_last4 == tail), None)
    if match is not None:
        counted = f"lookup-ref:{reference}"
        if uow.login_throttle.get(counted) is not None:      # the resident got it right: forgiven
            throttle.clear(uow, counted)
            uow.commit()
        return match
    settings, locked_now = get_settings(), False
    for key, limit in keys.items():
        locked_now |= throttle.count_failure(uow, key, limit, settings.lookup_lock_minutes, stamp)
    if locked_now:
        for record in records:
            audit(uow, actor=requester[:64], entity=record, action="lookup_locked")
        log.warning("phone-tail look-ups locked after repeated failures (%s)", "known reference" if records else "unknown reference")
    uow.commit()
    raise (TooManyAttempts(*LOCKED) if locked_now else NotFound(*not_found))
