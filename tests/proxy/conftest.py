"""Real databases for the proxy_service tests: a fresh SQLite file and a fresh PostgreSQL
database per test module, both migrated with Alembic exactly as `make run` does."""
from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text

from fastapi.testclient import TestClient

from proxy_service.main import create_app
from proxy_service.db import engine_for
from proxy_service.migrate import upgrade
from proxy_service.settings import Settings
from tests.proxy.builders import TOKEN, uow_factory_for

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _postgres_database() -> tuple[str, callable]:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", future=True)
    name = f"helpline_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # noqa: BLE001
        pytest.fail(f"PostgreSQL is needed for these tests and is not reachable at {PG_ADMIN_URL} "
                    f"({type(error).__name__}). Start it (see .ci/run) or set TEST_PG_ADMIN_URL.", pytrace=False)
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"

    def drop() -> None:
        engine_for(url).dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'helpline.db'}"
        drop = lambda: engine_for(url).dispose()  # noqa: E731
    else:
        url, drop = _postgres_database()
    upgrade(url)
    yield url
    drop()


@pytest.fixture(scope="module")
def uow_factory(database_url):
    return uow_factory_for(database_url)


@pytest.fixture(scope="module")
def client(uow_factory):
    """The API in-process, on this module's database, with a small body limit."""
    settings = Settings(service_token=TOKEN, max_body_bytes=64 * 1024)
    return TestClient(create_app(settings, uow_factory), raise_server_exceptions=False)
