"""In Chromium: a community worker files a proxy application with the signed authorisation,
staff ask for a missing material, the worker sees it; another community is refused (403).
Every page on the way passes the axe check and holds at 200 % zoom."""
from __future__ import annotations

import re
from datetime import date, timedelta

from proxy_service.crypto import decrypt
from tests.console.browser.chromium import axe_violations, describe, overflows_horizontally
from tests.console.browser.conftest import screenshot

PDF = (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [] "
       b"/Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")


# Breaks out of an attribute and opens a script element if the page ever stops escaping it.
MARKUP = '"><script>window.__xss = 1</script>'


def assert_accessible(page) -> None:
    violations = axe_violations(page)
    assert violations == [], f"{page.url}\n{describe(violations)}"
    width = page.viewport_size["width"]
    page.set_viewport_size({"width": 640, "height": 900})          # 1280 px at 200 % zoom
    assert not overflows_horizontally(page), page.url
    page.set_viewport_size({"width": width, "height": 900})


def file_application(page, tmp_path, *, resident: str = "王秀英") -> int:
    page.goto("/applications/new")
    assert_accessible(page)
    page.get_by_label("要代办的业务").select_option(value="elderly_allowance")
    page.get_by_role("button", name="显示材料清单").click()
    page.get_by_label("居民姓名").fill(resident)
    page.get_by_label("居民手机号").fill("13812345678")
    page.get_by_label("出生年份（选填）").fill("1938")
    page.get_by_label("老人身份证").check()
    page.get_by_label("户口本").check()
    page.get_by_label("代办人姓名").fill("王建国")
    page.get_by_label("代办人手机号").fill("13987654321")
    page.get_by_label("代办人和居民的关系").select_option("子女")
    page.get_by_label("委托范围").fill("代为申请高龄津贴，提交和领取材料")
    page.get_by_label("委托开始日期").fill(date.today().isoformat())
    page.get_by_label("委托截止日期").fill((date.today() + timedelta(days=180)).isoformat())
    signed = tmp_path / "委托书.pdf"
    signed.write_bytes(PDF)
    page.get_by_label("居民签字的委托书").set_input_files(signed)
    page.get_by_label("居民已经听完上面的同意书，同意代办，也同意保存这些信息").check()
    assert_accessible(page)
    screenshot(page, "worker-new-application")
    page.get_by_role("button", name="提交申请").click()
    assert page.get_by_role("status").inner_text() == "申请已提交。"
    return int(re.search(r"/applications/(\d+)", page.url).group(1))


def test_worker_files_with_an_upload_and_sees_what_staff_asked_for(open_as, tmp_path, console_uow):
    worker = open_as("worker")
    application_id = file_application(worker, tmp_path)
    assert "已提交" in worker.locator(".lead").inner_text()
    assert_accessible(worker)
    with console_uow() as uow:
        stored = uow.applications.get(application_id)
        assert stored.authorisation_file.endswith(".pdf") and stored.community == "幸福社区"
        reference = stored.reference

    staff = open_as("staff")
    staff.goto("/review")
    assert_accessible(staff)
    staff.get_by_role("link", name=reference).click()
    assert_accessible(staff)
    staff.get_by_label("老人社保卡").check()
    staff.get_by_label(re.compile("还要补什么")).fill("请带原件来核对")
    staff.get_by_role("button", name="通知居民补材料").click()
    assert staff.get_by_role("status").inner_text() == "已通知补材料。"
    screenshot(staff, "staff-application-review")
    with console_uow() as uow:
        [sms] = uow.outbox.for_entity("proxy_applications", application_id)
        assert "还缺材料" in decrypt(sms.body_enc) and "老人社保卡" in decrypt(sms.body_enc)

    worker.goto("/applications")
    assert_accessible(worker)
    worker.get_by_role("link", name=reference).click()
    page_text = worker.locator("main").inner_text()
    assert "还缺材料" in page_text and "老人社保卡" in page_text and "请带原件来核对" in page_text
    screenshot(worker, "worker-application")


def test_a_worker_cannot_open_another_communitys_application(open_as, tmp_path):
    application_id = file_application(open_as("worker"), tmp_path, resident="张桂兰")
    other = open_as("other_worker")
    page = other.goto(f"/applications/{application_id}")
    assert page.status == 403
    assert "张" not in other.locator("main").inner_text()
    assert other.request.get(f"/applications/{application_id}/authorisation").status == 403
    assert_accessible(other)


def test_a_bad_upload_is_explained_and_the_answers_are_kept(open_as, tmp_path):
    page = open_as("worker")
    page.goto("/applications/new?service=elderly_allowance")
    page.get_by_label("居民姓名").fill(MARKUP)
    page.get_by_label("委托开始日期").fill(date.today().isoformat())
    fake = tmp_path / "委托书.pdf"
    fake.write_text("这不是PDF")
    page.get_by_label("居民签字的委托书").set_input_files(fake)
    page.get_by_role("button", name="提交申请").evaluate("b => b.form.noValidate = true")
    page.get_by_role("button", name="提交申请").click()
    summary = page.locator(".error-summary").inner_text()
    assert "只能上传 PDF、JPG 或 PNG 格式的文件。" in summary
    assert page.get_by_label("居民姓名").input_value() == MARKUP        # kept, as text
    assert page.locator("main script").count() == 0                   # it never became an element
    assert_accessible(page)
    screenshot(page, "worker-application-errors")
