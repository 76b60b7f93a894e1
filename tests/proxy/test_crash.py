"""A booking process killed (SIGKILL) mid-way leaves no half-written booking, and one
killed right after its commit has not lost the confirmed booking."""
from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

from sqlalchemy import text

from proxy_service.crypto import decrypt
from tests.proxy.builders import bookable_day
from tools.model import ROOT

SCRIPT = textwrap.dedent("""
    import os, signal, sys
    from proxy_service.db import session_factory
    from proxy_service.services import bookings, common
    from proxy_service.services.residents import ResidentInput
    from proxy_service.uow import SqlUnitOfWork
    from tests.proxy.builders import booking_request, bookable_day

    url, where, name = sys.argv[1], sys.argv[2], sys.argv[3]
    die = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
    if where == "before_commit":
        # The slot is reserved and the booking row flushed; the audit event is next.
        bookings.audit = die
    else:
        # Die the moment the booking's transaction has committed, before any reply.
        original = SqlUnitOfWork.commit
        def commit_and_die(self):
            original(self)
            if getattr(self, "_booking_done", False):
                die()
        SqlUnitOfWork.commit = commit_and_die
        original_finish = bookings.finish
        def finish(uow, view, status=200):
            uow._booking_done = True
            return original_finish(uow, view, status)
        bookings.finish = finish
    request = booking_request(day=bookable_day(8), half_day="am", resident=ResidentInput(name=name, phone="13700000000"))
    bookings.create_booking(SqlUnitOfWork(session_factory(url)), request, actor="crash-test")
    print("survived")
""")


def run_and_kill(database_url: str, where: str, name: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT, database_url, where, name], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def state(uow_factory, name: str):
    with uow_factory() as uow:
        place = uow.places.by_code("city_hall")
        slot = uow.slots.find(place.id, bookable_day(8), "am")
        booked = slot.booked if slot else 0
        bookings = uow.session.execute(text("SELECT count(*) FROM bookings WHERE slot_id = :s"),
                                       {"s": slot.id if slot else -1}).scalar()
        named = sum(decrypt(r) == name for r in uow.session.execute(text("SELECT name_enc FROM residents")).scalars())
    return booked, bookings, named


def test_killed_before_commit_leaves_nothing_half_written(uow_factory, database_url):
    before = state(uow_factory, "中途断电")
    result = run_and_kill(database_url, "before_commit", "中途断电")
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    booked, bookings, named = state(uow_factory, "中途断电")
    assert (booked, bookings) == before[:2]      # the reserved place went back with the rollback
    assert booked == bookings                    # capacity and rows always agree
    assert named == 0                            # no orphan resident either


def test_killed_right_after_commit_keeps_the_confirmed_booking(uow_factory, database_url):
    booked_before, bookings_before, _ = state(uow_factory, "刚确认")
    result = run_and_kill(database_url, "after_commit", "刚确认")
    assert result.returncode == -signal.SIGKILL and "survived" not in result.stdout, result.stderr[-2000:]
    booked, bookings, named = state(uow_factory, "刚确认")
    assert (booked, bookings, named) == (booked_before + 1, bookings_before + 1, 1)
