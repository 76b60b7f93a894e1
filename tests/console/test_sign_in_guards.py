"""Sign-in under attack: an outsider's wrong passwords cannot lock staff out of their own
browsers; client addresses come from a proxy only when it is trusted; HTTPS gets HSTS and
Secure cookies."""
from __future__ import annotations

import dataclasses

from fastapi.testclient import TestClient

from proxy_service.main import create_app
from proxy_service.services import accounts
from proxy_service.web.security import SESSION_COOKIE, device_cookie_name
from tests.console.conftest import PASSWORD, csrf_token, new_account


def attempt(client: TestClient, username: str, password: str, headers: dict | None = None):
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_token(client, "/login")},
                       headers=headers or {}, follow_redirects=False)


def known_browser(app, username: str) -> TestClient:
    """A browser that has signed in to `username` before, then signed out."""
    client = TestClient(app, raise_server_exceptions=False)
    assert attempt(client, username, PASSWORD).status_code == 303
    assert device_cookie_name(username) in client.cookies
    client.cookies.delete(SESSION_COOKIE)
    return client


def test_an_outsider_cannot_lock_an_administrator_out_of_their_usual_browser(app, uow_factory):
    admin = new_account(uow_factory, "admin")
    usual = known_browser(app, admin.username)
    outsider = TestClient(app, raise_server_exceptions=False)
    answers = [attempt(outsider, admin.username, f"guess-{i}").status_code for i in range(8)]
    assert answers[:4] == [401] * 4 and set(answers[4:]) == {429}
    assert attempt(outsider, admin.username, PASSWORD).status_code == 429      # locked for unknown browsers
    assert attempt(TestClient(app), admin.username, PASSWORD).status_code == 429
    assert attempt(usual, admin.username, PASSWORD).status_code == 303          # but not for the usual one


def test_a_known_browser_that_keeps_failing_locks_only_itself(app, uow_factory):
    account = new_account(uow_factory, "staff")
    usual = known_browser(app, account.username)
    answers = [attempt(usual, account.username, f"wrong-{i}").status_code for i in range(5)]
    assert answers == [401, 401, 401, 401, 429]
    assert attempt(usual, account.username, PASSWORD).status_code == 429
    assert attempt(TestClient(app), account.username, PASSWORD).status_code == 303


def test_a_forged_or_borrowed_device_cookie_counts_as_an_unknown_browser(app, uow_factory):
    victim, other = new_account(uow_factory, "admin"), new_account(uow_factory, "staff")
    # A device cookie of another account, and one made up, under the victim's cookie name.
    borrowed = accounts.device_token(other.username)
    for forged in (borrowed, "abc.0123456789abcdef0123456789abcdef"):
        outsider = TestClient(app, raise_server_exceptions=False)
        outsider.cookies.set(device_cookie_name(victim.username), forged)
        for i in range(3):
            attempt(outsider, victim.username, f"guess-{i}")
    assert attempt(TestClient(app), victim.username, PASSWORD).status_code == 429


def test_forwarded_addresses_are_ignored_unless_the_proxy_is_trusted(app, uow_factory):
    with uow_factory() as uow:
        uow.login_throttle.clear("ip:testclient")
        uow.commit()
    client = TestClient(app, raise_server_exceptions=False)
    for i in range(20):                                        # each claims to be someone else
        attempt(client, f"nobody{i}", "wrong-password", {"X-Forwarded-For": f"198.51.100.{i}"})
    with uow_factory() as uow:
        assert uow.login_throttle.get("ip:testclient").locked_until is not None
        assert uow.login_throttle.get("ip:198.51.100.3") is None
        uow.login_throttle.clear("ip:testclient")
        uow.commit()


def test_behind_a_trusted_proxy_each_client_is_counted_by_its_own_address(console_settings, uow_factory):
    proxied = create_app(dataclasses.replace(console_settings, trusted_proxies=frozenset({"testclient"})),
                         uow_factory)
    client = TestClient(proxied, raise_server_exceptions=False)
    for i in range(20):
        attempt(client, f"nobody-p{i}", "wrong-password", {"X-Forwarded-For": "6.6.6.6, 203.0.113.9"})
    account = new_account(uow_factory, "staff")
    locked = attempt(client, account.username, PASSWORD, {"X-Forwarded-For": "203.0.113.9"})
    elsewhere = attempt(client, account.username, PASSWORD, {"X-Forwarded-For": "203.0.113.10"})
    assert locked.status_code == 429 and elsewhere.status_code == 303
    with uow_factory() as uow:
        assert uow.login_throttle.get("ip:6.6.6.6") is None        # the client-written hop is not believed
        assert uow.login_throttle.get("ip:testclient") is None


def test_https_gets_hsts_and_secure_cookies_plain_http_does_not(app, console_settings, uow_factory):
    account = new_account(uow_factory, "staff")
    plain = TestClient(app, raise_server_exceptions=False)
    response = attempt(plain, account.username, PASSWORD)
    assert "strict-transport-security" not in response.headers
    assert all("Secure" not in c for c in response.headers.get_list("set-cookie"))
    secure = TestClient(app, base_url="https://testserver", raise_server_exceptions=False)
    response = attempt(secure, account.username, PASSWORD)
    assert response.headers["strict-transport-security"].startswith("max-age=")
    cookies = response.headers.get_list("set-cookie")
    assert any(c.startswith(SESSION_COOKIE) for c in cookies) and all("Secure" in c for c in cookies)
    # TLS ended at a trusted proxy that says so; an untrusted client saying so changes nothing.
    proxied = create_app(dataclasses.replace(console_settings, trusted_proxies=frozenset({"testclient"})),
                         uow_factory)
    forwarded = TestClient(proxied).get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "strict-transport-security" in forwarded.headers
    assert "strict-transport-security" not in plain.get("/login", headers={"X-Forwarded-Proto": "https"}).headers
