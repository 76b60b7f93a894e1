"""A real browser on the real console: Debian's Chromium driven by Playwright against the
session's uvicorn server (tests/conftest.py `api_url`), with one account per role."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from proxy_service.db import session_factory
from proxy_service.services import accounts
from proxy_service.uow import SqlUnitOfWork
from tests.conftest import TEST_VAR
from tests.console.browser.chromium import CHROMIUM, FLAGS, missing_tools
from tests.console.conftest import COMMUNITY, OTHER_COMMUNITY, PASSWORD

# `make screenshots` points this at docs/screenshots; otherwise they stay out of the tree.
SCREENSHOTS = Path(os.environ.get("CONSOLE_SCREENSHOTS") or TEST_VAR / "screenshots")
ACCOUNTS = {
    "staff": ("staff", None, "陈静"),
    "worker": ("worker", COMMUNITY, "刘芳"),
    "other_worker": ("worker", OTHER_COMMUNITY, "赵磊"),
    "admin": ("admin", None, "周主任"),
}


# Package scope: Playwright's sync API keeps an event loop running in this thread while it
# is open, which would break later tests that call asyncio.run(); it closes after this package.
@pytest.fixture(scope="package")
def browser():
    problem = missing_tools()
    if problem:
        pytest.fail(f"browser tests cannot run: {problem}", pytrace=False)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def console_uow(api_database_url):
    factory = session_factory(api_database_url)
    return lambda: SqlUnitOfWork(factory)


@pytest.fixture(scope="session")
def console_users(console_uow) -> dict[str, str]:
    """Role key → username, created once in the session's database."""
    names = {}
    for key, (role, community, display_name) in ACCOUNTS.items():
        username = f"browser-{key.replace('_', '-')}"
        accounts.create_user(console_uow(), username=username, display_name=display_name, role=role,
                             community=community, password=PASSWORD, actor="test")
        names[key] = username
    return names


@pytest.fixture
def open_as(browser, api_url, console_users):
    """open_as("staff") → a page in a fresh browser context, signed in through the login form."""
    contexts = []

    def sign_in(key: str, *, width: int = 1280) -> Page:
        context = browser.new_context(base_url=api_url, locale="zh-CN", viewport={"width": width, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.goto("/login")
        page.get_by_label("用户名").fill(console_users[key])
        page.get_by_label("密码").fill(PASSWORD)
        page.get_by_role("button", name="登录").click()
        page.wait_for_load_state()
        assert "/login" not in page.url, page.content()[:2000]
        return page

    yield sign_in
    for context in contexts:
        context.close()


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
