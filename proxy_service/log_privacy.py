"""No personal data in logs from database errors.

`hide_parameters` keeps bound values out of SQLAlchemy's messages, but the database's own
message can still carry them: PostgreSQL's DETAIL line ("Key (phone_hash)=(…) already
exists"), SQLite's failing CHECK. Every log record in the process that carries a database
error is rewritten to name the error kind, its SQLSTATE and the statement (placeholders
only), without the database's message or the traceback that repeats it.
"""
from __future__ import annotations

import logging

from sqlalchemy.exc import DBAPIError


def describe(error: DBAPIError) -> str:
    original = error.orig
    code = getattr(original, "pgcode", None) or getattr(original, "sqlite_errorname", None) or "-"
    statement = " ".join((error.statement or "").split())[:160]
    return f"{type(error).__name__}/{type(original).__name__} sqlstate={code} statement={statement!r}"


def _scrub(record: logging.LogRecord) -> None:
    error = record.exc_info[1] if record.exc_info else None
    if isinstance(error, DBAPIError):
        record.msg, record.args = f"{record.getMessage()} [{describe(error)}]", ()
        record.exc_info, record.exc_text = None, None


def install() -> None:
    """Wrap the process's log-record factory once (every logger, whatever its handlers)."""
    base = logging.getLogRecordFactory()
    if getattr(base, "hides_database_values", False):
        return

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = base(*args, **kwargs)
        _scrub(record)
        return record

    factory.hides_database_values = True
    logging.setLogRecordFactory(factory)
