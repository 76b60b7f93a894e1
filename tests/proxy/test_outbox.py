"""The SMS outbox on SQLite and PostgreSQL: sent outside transactions, claimed once, retried
with backoff, never resent after a crash, provider errors kept without numbers."""
from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from sqlalchemy import text
from twilio.base.exceptions import TwilioRestException
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response

from proxy_service.crypto import decrypt
from proxy_service.models import Notification
from proxy_service.services import applications, notifications, tickets
from proxy_service.settings import Settings
from proxy_service.services.common import notify
from tests.proxy.builders import application_request, random_phone, ticket_request

TWILIO = Settings(twilio_account_sid="AC" + "1" * 32, twilio_auth_token="secret", sms_from="+15005550006")


class RecordingTwilioHttp(HttpClient):
    """Stands in for Twilio's cloud (unreachable here); the real client builds the request."""

    def __init__(self, status: int = 201):
        super().__init__(logging.getLogger("twilio.test"), is_async=False)
        self.requests, self.status = [], status

    def request(self, method, uri, params=None, data=None, headers=None, auth=None, timeout=None,
                allow_redirects=False):
        self.requests.append({"method": method, "uri": uri, "data": data, "auth": auth})
        body = {"sid": "SM" + "0" * 32, "status": "queued"} if self.status < 300 else {"message": "down", "code": 20500}
        return Response(self.status, json.dumps(body))


class CountingClient:
    """An SMS client that records every message it was asked to send."""

    def __init__(self, pause: float = 0.0, fail: Exception | None = None):
        self.sent: list[tuple[str, str]] = []
        self.pause, self.fail = pause, fail
        self._lock = threading.Lock()

    def send(self, to: str, body: str) -> str:
        time.sleep(self.pause)
        with self._lock:
            self.sent.append((to, body))
        if self.fail:
            raise self.fail
        return "SM1"


@pytest.fixture()
def clean_outbox(uow_factory):
    """Earlier tests in the module leave messages behind: settle them first."""
    with uow_factory() as uow:
        uow.session.execute(text("UPDATE notifications SET status = 'not_sent' WHERE status IN ('pending', 'sending')"))
        uow.commit()


def _queue_messages(uow_factory, count: int) -> list[int]:
    """`count` callback messages about one ticket, queued as the services queue them."""
    ticket_id = tickets.create_ticket(uow_factory(), ticket_request(), actor="a")["id"]
    with uow_factory() as uow:
        ticket = uow.tickets.get(ticket_id)
        for _ in range(count):
            notify(uow, kind="callback_scheduled", phone=random_phone(), body="工作人员会在明天上午给您回电。",
                   entity=ticket)
        uow.commit()
    with uow_factory() as uow:
        return [n.id for n in uow.outbox.pending(1000)]


def _rows(uow_factory, ids):
    with uow_factory() as uow:
        return {n.id: (n.status, n.attempts, n.next_attempt_at, n.last_error)
                for n in uow.outbox.pending(1000) + [uow.outbox.get(i) for i in ids] if n.id in ids}


def _make_due(uow_factory, minutes: float = 600) -> None:
    """Move every scheduled retry and claim into the past, as if time had passed."""
    gap = timedelta(minutes=minutes)
    with uow_factory() as uow:
        for note in uow.session.query(Notification).all():
            note.next_attempt_at = note.next_attempt_at and note.next_attempt_at - gap
            note.claimed_at = note.claimed_at and note.claimed_at - gap
        uow.commit()


def test_the_text_is_encrypted_at_rest(uow_factory, clean_outbox):
    [note_id] = _queue_messages(uow_factory, 1)
    with uow_factory() as uow:
        stored = uow.session.execute(text("SELECT body_enc FROM notifications WHERE id = :id"), {"id": note_id}).scalar()
    assert "回电" not in stored and "回电" in decrypt(stored)


def test_without_credentials_messages_are_recorded_as_not_sent(uow_factory, clean_outbox):
    ids = _queue_messages(uow_factory, 2)
    counts = notifications.deliver_pending(uow_factory, client_factory=lambda: None, limit=1000)
    assert counts["not_sent"] == len(ids)
    assert all(status == "not_sent" and "not configured" in error
               for status, _, _, error in _rows(uow_factory, ids).values())


def test_sends_through_the_twilio_client(uow_factory, clean_outbox):
    view = applications.file_application(uow_factory(), application_request(), actor="w")
    applications.change_application(uow_factory(), view["id"], "accept", actor="staff")
    http = RecordingTwilioHttp()
    counts = notifications.deliver_pending(uow_factory, lambda: notifications.TwilioSms(TWILIO, http), 1000)
    assert counts["sent"] >= 1
    request = http.requests[-1]
    assert request["method"] == "POST" and request["uri"].endswith(f"/Accounts/{TWILIO.twilio_account_sid}/Messages.json")
    assert request["data"]["From"] == "+15005550006" and request["data"]["To"].startswith("+861")
    with uow_factory() as uow:
        [note] = uow.outbox.for_entity("proxy_applications", view["id"])
        assert note.status == "sent" and note.sent_at and note.claimed_at is None


def test_failures_are_retried_with_growing_pauses_over_hours_then_marked_failed(uow_factory, clean_outbox):
    [note_id] = _queue_messages(uow_factory, 1)
    failing = lambda: notifications.TwilioSms(TWILIO, RecordingTwilioHttp(status=500))  # noqa: E731
    pauses = []
    for attempt in range(1, notifications.MAX_ATTEMPTS + 1):
        before = notifications.now()
        notifications.deliver_pending(uow_factory, failing, 1000)
        status, attempts, next_at, error = _rows(uow_factory, [note_id])[note_id]
        assert attempts == attempt and error
        if attempt < notifications.MAX_ATTEMPTS:
            assert status == "pending"
            pauses.append(next_at - before)
            # Not due yet: another round leaves it alone.
            assert notifications.deliver_pending(uow_factory, failing, 1000)["retry"] == 0
            _make_due(uow_factory)
    assert status == "failed" and next_at is None
    assert pauses == sorted(pauses) and sum(pauses, timedelta()) >= timedelta(hours=6)


def test_two_workers_at_once_send_each_message_once(uow_factory, clean_outbox):
    ids = _queue_messages(uow_factory, 12)
    client = CountingClient(pause=0.05)
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda _: notifications.deliver_pending(uow_factory, lambda: client, 5), range(6)))
    assert len(client.sent) == len(ids)
    assert all(count == 1 for count in Counter(client.sent).values())
    assert {status for status, *_ in _rows(uow_factory, ids).values()} == {"sent"}


def test_a_second_worker_skips_rows_another_holds_instead_of_waiting(uow_factory, database_url, clean_outbox):
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite has no row locks: its claim transactions take the write lock in turn (previous test)")
    ids = _queue_messages(uow_factory, 4)
    with uow_factory() as first:
        held = [n.id for n in first.outbox.claim_due(notifications.now(), 2)]
        started = time.monotonic()
        with uow_factory() as second:
            other = [n.id for n in second.outbox.claim_due(notifications.now(), 10)]
        assert time.monotonic() - started < 1
    assert set(held).isdisjoint(other) and set(held) | set(other) == set(ids)


def test_a_hung_provider_stalls_no_write(uow_factory, clean_outbox):
    _queue_messages(uow_factory, 1)
    client = CountingClient(pause=3.0)
    worker = threading.Thread(target=notifications.deliver_pending, args=(uow_factory, lambda: client, 10))
    worker.start()
    time.sleep(0.5)                                   # the worker is inside send() now
    started = time.monotonic()
    tickets.create_ticket(uow_factory(), ticket_request(), actor="a")
    took = time.monotonic() - started
    worker.join()
    assert client.sent and took < 2.0          # it did not wait for the provider's remaining 2.5 s


def test_a_crash_after_sending_never_sends_again(uow_factory, clean_outbox):
    [note_id] = _queue_messages(uow_factory, 1)
    dying = CountingClient(fail=KeyboardInterrupt())   # the message went out, then the worker died
    with pytest.raises(KeyboardInterrupt):
        notifications.deliver_pending(uow_factory, lambda: dying, 10)
    assert _rows(uow_factory, [note_id])[note_id][0] == "sending"
    later = CountingClient()
    assert notifications.deliver_pending(uow_factory, lambda: later, 10)["uncertain"] == 0  # within the lease
    _make_due(uow_factory, minutes=notifications.CLAIM_LEASE.total_seconds() / 60 + 1)
    counts = notifications.deliver_pending(uow_factory, lambda: later, 10)
    status, _, _, error = _rows(uow_factory, [note_id])[note_id]
    assert counts["uncertain"] == 1 and status == "uncertain" and "没有重发" in error
    assert later.sent == [] and len(dying.sent) == 1


def test_provider_errors_are_kept_without_the_number(uow_factory, clean_outbox):
    [note_id] = _queue_messages(uow_factory, 1)
    refusal = TwilioRestException(400, "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json",
                                  "The 'To' number +86 139 1234 5678 is not a valid phone number.", code=21211)
    notifications.deliver_pending(uow_factory, lambda: CountingClient(fail=refusal), 10)
    error = _rows(uow_factory, [note_id])[note_id][3]
    assert "21211" in error and "not a valid phone number" in error
    assert not any(run in error.replace(" ", "") for run in ("13912345678", "1234", "5678"))


def test_the_twilio_http_client_gives_up_on_a_provider_that_never_answers():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()                                   # accepts the connection, never replies
    settings = Settings(twilio_account_sid="AC" + "3" * 32, twilio_auth_token="t", sms_from="+1",
                        sms_timeout_seconds=0.5)
    http = notifications.TwilioSms(settings)._client.http_client
    assert isinstance(http, TwilioHttpClient) and http.timeout == 0.5
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        http.request("POST", f"http://127.0.0.1:{silent.getsockname()[1]}/Messages.json", data={"Body": "x"})
    assert time.monotonic() - started < 3
    silent.close()
