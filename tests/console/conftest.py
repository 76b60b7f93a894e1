"""The console in-process (Starlette's TestClient) on a migrated SQLite file, with signed-in
clients per role. Browser tests (Playwright + Debian's Chromium) have their own fixtures in
tests/console/browser/."""
from __future__ import annotations

import itertools
import re

import pytest
from fastapi.testclient import TestClient

from proxy_service.main import create_app
from proxy_service.migrate import upgrade
from proxy_service.services import accounts
from proxy_service.settings import Settings
from tests.proxy.builders import uow_factory_for

PASSWORD = "test-password-1"
COMMUNITY = "幸福社区"
OTHER_COMMUNITY = "和平社区"
_names = itertools.count(1)


@pytest.fixture(scope="module")
def console_db(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('console') / 'console.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="module")
def uow_factory(console_db):
    return uow_factory_for(console_db)


@pytest.fixture(scope="module")
def console_settings(tmp_path_factory):
    return Settings(upload_dir=tmp_path_factory.mktemp("uploads"), upload_max_bytes=200 * 1024,
                    max_body_bytes=64 * 1024)


@pytest.fixture(scope="module")
def app(console_settings, uow_factory):
    return create_app(console_settings, uow_factory)


def new_account(uow_factory, role: str, community: str | None = None) -> accounts.Account:
    name = f"{role}{next(_names)}"
    return accounts.create_user(uow_factory(), username=name, display_name=f"测试{name}", role=role,
                                password=PASSWORD, community=community or (COMMUNITY if role == "worker" else None),
                                actor="test")


def csrf_token(client: TestClient, path: str) -> str:
    """The CSRF token from the form on `path` (as a browser would have it)."""
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def sign_in(app, username: str, password: str = PASSWORD) -> TestClient:
    client = TestClient(app, raise_server_exceptions=False)
    response = client.post("/login", data={"username": username, "password": password,
                                           "csrf_token": csrf_token(client, "/login")}, follow_redirects=False)
    assert response.status_code == 303, response.text[:500]
    return client


@pytest.fixture(scope="module")
def as_role(app, uow_factory):
    """as_role("staff") → a client signed in as a fresh account with that role."""

    def make(role: str, community: str | None = None) -> TestClient:
        account = new_account(uow_factory, role, community)
        client = sign_in(app, account.username)
        client.account = account
        return client

    return make


def post_form(client: TestClient, path: str, data: dict | None = None, *, token_from: str | None = None,
              files=None, follow: bool = False):
    """POST a console form the way the browser does: with the CSRF token of the page it sits on."""
    token = csrf_token(client, token_from or path)
    return client.post(path, data={**(data or {}), "csrf_token": token}, files=files, follow_redirects=follow)
