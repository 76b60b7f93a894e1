"""Sign-in, sessions, lock-out, CSRF on every form, accounts — through the real app on SQLite."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from proxy_service.services import accounts, retention
from proxy_service.services.common import now
from proxy_service.web import create_admin
from proxy_service.web.security import SESSION_COOKIE
from tests.console.conftest import PASSWORD, csrf_token, new_account, post_form, sign_in


def login(app, username, password, client=None):
    client = client or TestClient(app, raise_server_exceptions=False)
    return client, client.post("/login", data={"username": username, "password": password,
                                               "csrf_token": csrf_token(client, "/login")}, follow_redirects=False)


def test_sign_in_sets_a_strict_http_only_session_cookie_and_lands_on_the_role_home(app, uow_factory):
    for role, home in (("staff", "/queues"), ("worker", "/applications"), ("admin", "/dashboard")):
        account = new_account(uow_factory, role)
        _, response = login(app, account.username, PASSWORD)
        assert response.status_code == 303 and response.headers["location"] == home
        cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie


def test_the_session_token_is_not_stored_in_the_database(app, uow_factory):
    account = new_account(uow_factory, "staff")
    client, _ = login(app, account.username, PASSWORD)
    token = client.cookies[SESSION_COOKIE]
    with uow_factory() as uow:
        assert uow.web_sessions.get(token) is None
        assert uow.web_sessions.get(accounts.token_hash(token)).user_id == account.id


def test_a_wrong_password_and_an_unknown_name_get_the_same_answer(app, uow_factory):
    account = new_account(uow_factory, "staff")
    _, wrong = login(app, account.username, "not-the-password")
    _, unknown = login(app, "nobody-here", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert "用户名或密码不对。" in wrong.text and "用户名或密码不对。" in unknown.text
    assert account.username in wrong.text          # the name is kept in the form, the password is not
    assert "not-the-password" not in wrong.text


def test_five_failures_lock_the_account_even_for_the_right_password(app, uow_factory):
    account = new_account(uow_factory, "staff")
    answers = [login(app, account.username, f"wrong-{i}")[1].status_code for i in range(5)]
    assert answers == [401, 401, 401, 401, 429]
    _, right = login(app, account.username, PASSWORD)
    assert right.status_code == 429 and "暂时不能登录" in right.text
    with uow_factory() as uow:      # the lock ends by itself after LOGIN_LOCK_MINUTES
        uow.login_throttle.get(f"user:{account.username}").locked_until = now() - timedelta(seconds=1)
        uow.commit()
    assert login(app, account.username, PASSWORD)[1].status_code == 303


def test_an_administrator_unlocks_by_resetting_the_password(app, uow_factory, as_role):
    account = new_account(uow_factory, "worker")
    for i in range(5):
        login(app, account.username, f"wrong-{i}")
    admin = as_role("admin")
    assert "已锁定" in admin.get("/admin/users").text
    response = post_form(admin, f"/admin/users/{account.id}/password", {"password": "a-new-password-2"},
                         token_from="/admin/users")
    assert response.status_code == 303
    assert login(app, account.username, "a-new-password-2")[1].status_code == 303


def test_many_failures_from_one_address_lock_that_address(app, uow_factory):
    with uow_factory() as uow:
        uow.login_throttle.clear("ip:testclient")
        uow.commit()
    for i in range(20):
        login(app, f"guess{i}", "wrong-password")
    account = new_account(uow_factory, "staff")
    assert login(app, account.username, PASSWORD)[1].status_code == 429
    with uow_factory() as uow:
        uow.login_throttle.clear("ip:testclient")
        uow.commit()


def test_login_without_its_form_token_is_refused(app, uow_factory):
    account = new_account(uow_factory, "staff")
    client = TestClient(app, raise_server_exceptions=False)
    response = client.post("/login", data={"username": account.username, "password": PASSWORD},
                           follow_redirects=False)
    assert response.status_code == 403 and SESSION_COOKIE not in client.cookies


@pytest.mark.parametrize("target", ["//attacker.example/x", "https://attacker.example/", "/\\attacker.example"])
def test_sign_in_never_redirects_off_the_site(app, uow_factory, target):
    account = new_account(uow_factory, "staff")
    client = TestClient(app, raise_server_exceptions=False)
    response = client.post("/login", data={"username": account.username, "password": PASSWORD, "next": target,
                                           "csrf_token": csrf_token(client, "/login")}, follow_redirects=False)
    assert response.headers["location"] == "/queues"


def test_sign_out_ends_the_session_on_the_server(app, uow_factory):
    account = new_account(uow_factory, "staff")
    client, _ = login(app, account.username, PASSWORD)
    token = client.cookies[SESSION_COOKIE]
    assert post_form(client, "/logout", token_from="/queues").headers["location"] == "/login?done=signed_out"
    replay = TestClient(app, raise_server_exceptions=False, cookies={SESSION_COOKIE: token})
    assert replay.get("/queues", follow_redirects=False).headers["location"] == "/login?next=/queues"


def test_an_idle_session_expires(app, uow_factory):
    account = new_account(uow_factory, "staff")
    client, _ = login(app, account.username, PASSWORD)
    with uow_factory() as uow:
        session = uow.web_sessions.get(accounts.token_hash(client.cookies[SESSION_COOKIE]))
        session.last_seen_at = now() - timedelta(minutes=31)
        uow.commit()
    assert client.get("/queues", follow_redirects=False).status_code == 303


def test_a_deactivated_account_is_signed_out_and_cannot_sign_in(app, uow_factory, as_role):
    account = new_account(uow_factory, "staff")
    client, _ = login(app, account.username, PASSWORD)
    admin = as_role("admin")
    post_form(admin, f"/admin/users/{account.id}/active", {"active": "false"}, token_from="/admin/users")
    assert client.get("/queues", follow_redirects=False).status_code == 303
    assert login(app, account.username, PASSWORD)[1].status_code == 401


def test_every_console_post_route_requires_the_csrf_token(app, as_role):
    """Each form endpoint, signed in as an administrator, without a token: 403 before anything runs."""
    admin = as_role("admin")
    posts = [route.path for route in app.console.routes
             if "POST" in getattr(route, "methods", ()) and route.path != "/login"]
    assert len(posts) >= 8
    for path in posts:
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        response = admin.post(concrete, data={"action": "claim"}, follow_redirects=False)
        assert response.status_code == 403, (path, response.status_code)
        assert "请求被拒绝" in response.text


def test_pages_carry_security_headers(app, as_role):
    response = as_role("staff").get("/login")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


def test_administrator_account_form_refuses_bad_input_and_keeps_the_answers(as_role):
    admin = as_role("admin")
    cases = [({"username": "Bad Name!", "role": "staff"}, "用户名"),
             ({"username": "short-pw", "role": "staff", "password": "short"}, "密码至少"),
             ({"username": "no-community", "role": "worker"}, "社区工作者要填写所属社区"),
             ({"username": "no-role", "role": "root"}, "请选择角色")]
    for changes, message in cases:
        data = {"display_name": "<script>alert(1)</script>", "password": "long-enough-pw", **changes}
        response = post_form(admin, "/admin/users", data)
        assert response.status_code in (409, 422) and message in response.text
        assert "<script>alert(1)</script>" not in response.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


def test_create_admin_command_makes_an_administrator_who_can_sign_in(app, console_db, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", console_db)
    monkeypatch.setenv("ADMIN_PASSWORD", "first-admin-pass")
    assert create_admin.main(["--username", "first-admin"]) == 0
    assert create_admin.main(["--username", "first-admin"]) == 1       # taken: refused, not overwritten
    client = sign_in(app, "first-admin", "first-admin-pass")
    assert client.get("/admin/users").status_code == 200


def test_every_console_page_needs_a_signed_in_account(app):
    """Signed out, each page (but the sign-in page) sends the browser to sign in; none shows content."""
    client = TestClient(app, raise_server_exceptions=False)
    pages = [route.path for route in app.console.routes if "GET" in getattr(route, "methods", ())
             and route.path != "/login"]
    assert len(pages) >= 10
    for path in pages:
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        response = client.get(concrete, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next="), path


def test_the_retention_job_removes_dead_sessions_and_old_failure_counts(app, uow_factory):
    account = new_account(uow_factory, "staff")
    live, _ = login(app, account.username, PASSWORD)
    stale, _ = login(app, account.username, PASSWORD)
    login(app, "someone-forgotten", "wrong-password")
    with uow_factory() as uow:
        uow.web_sessions.get(accounts.token_hash(stale.cookies[SESSION_COOKIE])).last_seen_at = now() - timedelta(hours=2)
        uow.login_throttle.get("user:someone-forgotten").window_started_at = now() - timedelta(days=2)
        uow.commit()
    assert retention.purge_expired(uow_factory())["sessions"] == 1
    with uow_factory() as uow:
        assert uow.web_sessions.get(accounts.token_hash(live.cookies[SESSION_COOKIE])) is not None
        assert uow.web_sessions.get(accounts.token_hash(stale.cookies[SESSION_COOKIE])) is None
        assert uow.login_throttle.get("user:someone-forgotten") is None
    assert live.get("/queues").status_code == 200
