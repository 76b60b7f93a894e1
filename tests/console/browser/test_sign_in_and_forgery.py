"""In Chromium: each role signs in and sees only its own menu; forged and token-less posts
are refused; the accessibility checker is itself able to fail."""
from __future__ import annotations

import pytest

from tests.console.browser.chromium import axe_violations, describe, overflows_horizontally
from tests.console.browser.conftest import screenshot

MENUS = {
    "staff": {"转人工工单", "预约", "代办审核"},
    "worker": {"我的代办申请", "新建代办申请"},
    "admin": {"统计", "转人工工单", "预约", "代办审核", "账号管理"},
}


def menu_of(page) -> set[str]:
    return {text.strip() for text in page.get_by_role("navigation", name="主菜单").get_by_role("link").all_inner_texts()}


def test_the_accessibility_check_reports_a_real_violation(browser):
    """Guard against a checker that passes everything: a button without a name must be caught."""
    page = browser.new_page()
    page.set_content('<html lang="zh-CN"><title>t</title><main><button></button><img src="x.png"></main></html>')
    rules = {v["rule"] for v in axe_violations(page)}
    page.close()
    assert {"button-name", "image-alt"} <= rules


def test_login_page_is_accessible_and_a_wrong_password_is_explained(browser, api_url, console_users):
    context = browser.new_context(base_url=api_url, locale="zh-CN")
    page = context.new_page()
    page.goto("/login")
    assert axe_violations(page) == [], describe(axe_violations(page))
    screenshot(page, "login")
    page.get_by_label("用户名").fill(console_users["staff"])
    page.get_by_label("密码").fill("wrong-password-here")
    page.get_by_role("button", name="登录").click()
    assert page.get_by_role("alert").inner_text().strip() == "用户名或密码不对。"
    assert "/login" in page.url
    context.close()


@pytest.mark.parametrize("role", ["staff", "worker", "admin"])
def test_each_role_signs_in_to_its_own_work_and_menu(open_as, role):
    page = open_as(role)
    assert menu_of(page) == MENUS[role]
    assert page.locator("h1").count() == 1
    assert axe_violations(page) == [], describe(axe_violations(page))
    page.set_viewport_size({"width": 640, "height": 900})      # 1280 px at 200 % zoom
    assert not overflows_horizontally(page)


@pytest.mark.parametrize("path", ["/queues", "/bookings", "/review", "/dashboard", "/admin/users"])
def test_a_community_worker_is_refused_staff_pages(open_as, path):
    page = open_as("worker")
    response = page.goto(path)
    assert response.status == 403
    assert page.locator("h1").inner_text() == "没有权限"


def test_staff_cannot_open_the_supervisor_pages(open_as):
    page = open_as("staff")
    assert page.goto("/dashboard").status == 403
    assert page.goto("/admin/users").status == 403


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(open_as, console_users, console_uow):
    page = open_as("admin")
    page.goto("/admin/users")
    status = page.evaluate("""async () => {
        const body = new URLSearchParams({display_name: "伪造", username: "forged-no-token", role: "admin",
                                          password: "forged-password-1"});
        return (await fetch("/admin/users", {method: "POST", body})).status;
    }""")
    wrong = page.evaluate("""async () => {
        const body = new URLSearchParams({display_name: "伪造", username: "forged-bad-token", role: "admin",
                                          password: "forged-password-1", csrf_token: "not-the-token"});
        return (await fetch("/admin/users", {method: "POST", body})).status;
    }""")
    assert (status, wrong) == (403, 403)
    with console_uow() as uow:
        assert uow.users.by_username("forged-no-token") is None
        assert uow.users.by_username("forged-bad-token") is None


def test_a_form_posted_from_another_site_is_refused(open_as, api_url, console_uow):
    """A page elsewhere auto-submits a form to the console in a signed-in browser."""
    page = open_as("admin")
    evil = ("<html><body><form id=f method=post action='{url}/admin/users'>"
            "<input name=display_name value=x><input name=username value=forged-cross-site>"
            "<input name=role value=admin><input name=password value=forged-password-1>"
            "<input name=csrf_token value=guess></form><script>f.submit()</script></body></html>").format(url=api_url)
    page.route("http://attacker.example/**", lambda route: route.fulfill(body=evil, content_type="text/html"))
    with page.expect_response(f"{api_url}/admin/users") as answer:
        page.goto("http://attacker.example/page")
    assert answer.value.status in (401, 403)
    with console_uow() as uow:
        assert uow.users.by_username("forged-cross-site") is None
