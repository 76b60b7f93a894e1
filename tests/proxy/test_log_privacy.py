"""A database error logged anywhere in proxy_service carries no value from the row."""
from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import IntegrityError

from proxy_service import models as m
from proxy_service.services.common import now

SECRET = "id-110101193801011234"


def _user(username: str) -> m.StaffUser:
    return m.StaffUser(username=username, display_name="测试", role="staff", password_hash="x", active=True,
                       created_at=now())


def test_a_failed_statement_is_logged_without_the_values_the_database_echoes(uow_factory, caplog):
    with uow_factory() as uow:
        uow.users.add(_user(SECRET))
        uow.commit()
    log = logging.getLogger("proxy_service.test")
    with uow_factory() as uow, caplog.at_level(logging.ERROR):
        try:
            uow.users.add(_user(SECRET))
            uow.session.flush()
        except IntegrityError as error:
            said = str(error.orig)
            log.exception("could not save")
        else:
            pytest.fail("a duplicate username was accepted")
    # The database said it (PostgreSQL's DETAIL line names the key); the log must not.
    assert SECRET in said or "UNIQUE" in said
    [record] = caplog.records
    assert record.getMessage().startswith("could not save [IntegrityError/")
    assert "sqlstate=" in record.getMessage() and record.exc_info is None
    assert SECRET not in caplog.text
