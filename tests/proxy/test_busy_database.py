"""A database busy with a long writer: reads go on, writes are told "busy" (503, nothing
changed) in time for the caller's retry, and read-only units of work cannot write."""
from __future__ import annotations

import sqlite3

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import DBAPIError

from proxy_service import models as m
from proxy_service.main import create_app
from proxy_service.migrate import upgrade
from proxy_service.settings import Settings
from tests.proxy.builders import TOKEN, uow_factory_for

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture()
def busy_api(tmp_path, monkeypatch):
    """The API on its own SQLite file whose writers wait 0.3 s for the lock (5 s by default)."""
    monkeypatch.setenv("SQLITE_BUSY_TIMEOUT_MS", "300")
    path = tmp_path / "busy.db"
    upgrade(f"sqlite:///{path}")
    client = TestClient(create_app(Settings(service_token=TOKEN), uow_factory_for(f"sqlite:///{path}")),
                        raise_server_exceptions=False)
    return client, path


def _ticket() -> dict:
    return {"conversation_id": "CA" + "7" * 32, "reason": "request_human", "channel": "phone",
            "caller_phone": "13700001111", "transcript": [{"speaker": "caller", "text": "转人工"}]}


def test_writes_are_told_busy_and_reads_go_on_while_another_writer_holds_the_lock(busy_api):
    client, path = busy_api
    headers = {**AUTH, "Idempotency-Key": "busy-1"}
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        busy = client.post("/api/tickets", json=_ticket(), headers=headers)
        assert busy.status_code == 503 and busy.json()["error"] == "busy" and busy.headers["Retry-After"] == "1"
        assert client.get("/api/queues", headers=AUTH).status_code == 200     # deferred read: no wait
    finally:
        blocker.execute("COMMIT")
        blocker.close()
    created = client.post("/api/tickets", json=_ticket(), headers=headers)
    again = client.post("/api/tickets", json=_ticket(), headers=headers)
    assert created.status_code == 201 and again.json()["reference"] == created.json()["reference"]
    assert sum(q["open_tickets"] for q in client.get("/api/queues", headers=AUTH).json()) == 1


def test_a_writer_kept_waiting_for_this_process_s_writing_connection_is_told_busy(busy_api):
    client, path = busy_api
    headers = {**AUTH, "Idempotency-Key": "turns-1"}
    with uow_factory_for(f"sqlite:///{path}")() as holder:
        holder.session.connection()          # the process's one writing connection, in a transaction
        busy = client.post("/api/tickets", json=_ticket(), headers=headers)
        assert busy.status_code == 503 and busy.json()["error"] == "busy" and busy.headers["Retry-After"] == "1"
        assert client.get("/api/queues", headers=AUTH).status_code == 200     # reads have their own
    assert client.post("/api/tickets", json=_ticket(), headers=headers).status_code == 201


def test_a_read_only_unit_of_work_cannot_write(uow_factory):
    with uow_factory(read_only=True) as uow, pytest.raises(DBAPIError):
        uow.places.add(m.ServicePlace(code="nowhere", name="不存在", district="-", address="-"))
        uow.session.flush()
    with uow_factory() as uow:          # a writing unit of work still writes
        uow.places.add(m.ServicePlace(code="somewhere", name="测试", district="-", address="-"))
        uow.rollback()
