"""Counting failed attempts and locking a key for a while: sign-ins and phone-tail look-ups.

A key ("user:<name>", "ip:<address>", "lookup-ref:<reference>", "lookup-from:<caller>")
collects failures in a window; at the limit it is locked until the window has passed
again. Failures older than the window are forgiven.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from proxy_service import models as m


def locked(uow, key: str, stamp: datetime) -> bool:
    row = uow.login_throttle.get(key)
    return bool(row and row.locked_until and row.locked_until > stamp)


def count_failure(uow, key: str, limit: int, minutes: int, stamp: datetime) -> bool:
    """One more failure; True when this one locked the key."""
    window = timedelta(minutes=minutes)
    row = uow.login_throttle.get(key)
    if row is None:
        row = uow.login_throttle.add(m.LoginThrottle(key=key, failures=0, window_started_at=stamp))
    elif stamp - row.window_started_at > window:        # a new window: earlier failures are forgiven
        row.failures, row.window_started_at, row.locked_until = 0, stamp, None
    row.failures += 1
    if row.failures >= limit and not (row.locked_until and row.locked_until > stamp):
        row.locked_until = stamp + window
        return True
    return False


def clear(uow, key: str) -> None:
    uow.login_throttle.clear(key)
