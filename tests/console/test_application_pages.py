"""Proxy application pages: community workers file with the signed authorisation attached,
staff review; uploads are checked by content and stored outside the package."""
from __future__ import annotations

import io
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from PIL import Image

import proxy_service
from proxy_service.crypto import decrypt
from proxy_service import models as m
from proxy_service.services import application_form, consent_texts, retention, uploads
from proxy_service.services.common import now
from proxy_service.services.errors import InvalidRequest
from tests.console.conftest import COMMUNITY, OTHER_COMMUNITY, post_form

SERVICE = "elderly_allowance"        # materials: 老人身份证, 户口本, 老人社保卡, 代办的带代办人身份证
PDF = (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [] "
       b"/Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
WRONG_TYPE = "只能上传 PDF、JPG 或 PNG 格式的文件。"
XSS = "<script>alert(1)</script>"
_phones = iter(range(10_000, 99_999))


def image_bytes(kind: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (60, 40), (250, 250, 240)).save(buffer, kind)
    return buffer.getvalue()


PNG = image_bytes("PNG")


def phone() -> str:
    return f"138000{next(_phones)}"


def stored_files(settings) -> set[str]:
    directory = Path(settings.upload_dir)
    return {p.name for p in directory.iterdir()} if directory.exists() else set()


def application_count(uow_factory) -> int:
    with uow_factory() as uow:
        return uow.session.query(m.ProxyApplication).count()


def open_form(client, service: str = SERVICE) -> str:
    page = client.get(f"/applications/new?service={service}")
    assert page.status_code == 200, page.text[:300]
    return re.search(r'name="form_id" value="([0-9a-f]{32})"', page.text).group(1)


def form_data(form_id: str, **changes) -> dict:
    today = date.today()
    data = {
        "service": SERVICE, "form_id": form_id, "consent_version": consent_texts.PROXY_CONSENT_VERSION,
        "resident_name": "王小英", "resident_phone": phone(), "birth_year": "1940",
        "agent_name": "李大明", "agent_phone": "13900139000", "relationship": "子女",
        "authorisation_scope": "代为申请高龄津贴，代为提交材料", "valid_from": today.isoformat(),
        "valid_until": (today + timedelta(days=90)).isoformat(), "consent": "yes",
        "materials": ["老人身份证", "户口本"],
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def submit(client, *, file=("委托书.pdf", PDF, "application/pdf"), form_id: str | None = None, **changes):
    form_id = form_id or open_form(client)
    files = {"authorisation": file} if file is not None else None
    return post_form(client, "/applications/new", form_data(form_id, **changes),
                     token_from=f"/applications/new?service={SERVICE}", files=files)


def act(client, application_id: int, data: dict):
    return post_form(client, f"/applications/{application_id}/actions", data,
                     token_from=f"/applications/{application_id}")


def filed_id(response) -> int:
    assert response.status_code == 303, response.text[:800]
    match = re.fullmatch(r"/applications/(\d+)\?done=(filed|already_filed)", response.headers["location"])
    assert match, response.headers["location"]
    return int(match.group(1))


@pytest.fixture(scope="module")
def worker(as_role):
    return as_role("worker")


@pytest.fixture(scope="module")
def staff(as_role):
    return as_role("staff")


@pytest.fixture
def filed(worker):
    """A fresh application of the worker's community (PDF authorisation)."""
    return filed_id(submit(worker))


# ---- pages and filing ----------------------------------------------------------------------
def test_step_one_lists_proxy_errands_then_the_form_shows_the_checklist_and_consent(worker):
    first = worker.get("/applications/new")
    assert first.status_code == 200 and "显示材料清单" in first.text
    assert 'value="elderly_allowance"' in first.text and 'value="hukou_transfer"' not in first.text  # no proxy
    page = worker.get(f"/applications/new?service={SERVICE}")
    for material in ("老人身份证", "户口本", "老人社保卡", "代办的带代办人身份证"):
        assert f'value="{material}"' in page.text
    assert 'accept=".pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png"' in page.text
    assert 'enctype="multipart/form-data"' in page.text
    assert f'name="consent_version" value="{consent_texts.PROXY_CONSENT_VERSION}"' in page.text
    assert consent_texts.proxy_consent("高龄津贴")[0] in page.text
    consent_box = re.search(r'<input type="checkbox" id="f-consent"[^>]*>', page.text, re.S).group(0)
    assert "checked" not in consent_box
    for relationship in application_form.RELATIONSHIPS:
        assert f'<option value="{relationship}"' in page.text
    assert worker.get("/applications/new?service=hukou_transfer").status_code == 422


def test_worker_files_with_a_pdf(worker, uow_factory, console_settings):
    before = stored_files(console_settings)
    application_id = filed_id(submit(worker, resident_name="王小英"))
    with uow_factory() as uow:
        application = uow.applications.get(application_id)
        assert application.community == COMMUNITY and application.filed_by == worker.account.username
        assert application.status == "submitted"
        assert [x["provided"] for x in application.materials] == [True, True, False, False]
        consent = uow.consents.get(application.consent_id)
        assert (consent.purpose, consent.wording_version, consent.channel) == (
            "proxy", consent_texts.PROXY_CONSENT_VERSION, "web")
        name = application.authorisation_file
    assert re.fullmatch(r"[0-9a-f]{32}\.pdf", name) and "委托书" not in name
    assert stored_files(console_settings) - before == {name}
    path = Path(console_settings.upload_dir) / name
    assert uploads.read_stored(console_settings.upload_dir, name) == PDF and b"%PDF" not in path.read_bytes()
    package = Path(proxy_service.__file__).resolve().parent
    assert package not in path.resolve().parents
    assert Path(console_settings.upload_dir).stat().st_mode & 0o777 == 0o700
    assert not [n for n in stored_files(console_settings) if n.endswith(".part")]

    page = worker.get(f"/applications/{application_id}?done=filed")
    assert page.status_code == 200 and "申请已提交" in page.text
    assert "王*英" in page.text and "王小英" not in page.text
    assert "还缺" in page.text and "已交" in page.text and "老人社保卡" in page.text
    assert f'href="/applications/{application_id}/authorisation"' in page.text
    assert "显示完整信息" not in page.text and "受理这份申请" not in page.text   # staff only
    listing = worker.get("/applications")
    assert listing.status_code == 200 and f"/applications/{application_id}" in listing.text


def test_worker_files_with_a_png_and_downloads_it(worker, uow_factory):
    application_id = filed_id(submit(worker, file=("scan.PNG", PNG, "image/png")))
    with uow_factory() as uow:
        assert re.fullmatch(r"[0-9a-f]{32}\.png", uow.applications.get(application_id).authorisation_file)
    download = worker.get(f"/applications/{application_id}/authorisation")
    assert download.status_code == 200 and download.content == PNG
    assert download.headers["content-type"] == "image/png"
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.headers["x-content-type-options"] == "nosniff"


def test_a_jpeg_is_accepted(worker, uow_factory):
    application_id = filed_id(submit(worker, file=("photo.jpg", image_bytes("JPEG"), "image/jpeg")))
    with uow_factory() as uow:
        assert uow.applications.get(application_id).authorisation_file.endswith(".jpg")


def test_staff_are_sent_to_review_and_workers_cannot_review(staff, worker):
    response = staff.get("/applications", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/review"
    assert worker.get("/review").status_code == 403
    assert staff.get("/applications/new").status_code == 403


# ---- staff review ------------------------------------------------------------------------
def test_staff_requests_materials_then_accepts_and_completes(staff, worker, filed, uow_factory):
    review = staff.get("/review")
    assert review.status_code == 200 and f'href="/applications/{filed}"' in review.text
    assert "还缺材料（" in review.text     # counts per status
    page = staff.get(f"/applications/{filed}")
    assert "受理这份申请" in page.text and "通知居民补材料" in page.text and "王*英" in page.text
    assert 'name="materials" value="老人社保卡"' in page.text

    asked = act(staff, filed, {
        "action": "request_materials", "materials": ["老人社保卡"], "note": "复印件要清楚"})
    assert asked.status_code == 303 and asked.headers["location"] == f"/applications/{filed}?done=missing_materials"
    worker_page = worker.get(f"/applications/{filed}")
    assert "还缺材料" in worker_page.text and "请补交老人社保卡。复印件要清楚" in worker_page.text
    assert "请补交老人社保卡。复印件要清楚" in worker.get("/applications").text
    with uow_factory() as uow:
        sms = uow.outbox.for_entity("proxy_applications", filed)
        assert [n.status for n in sms] == ["pending"] and "老人社保卡" in decrypt(sms[0].body_enc)

    assert act(staff, filed, {"action": "accept"}).status_code == 303
    done = act(staff, filed, {"action": "complete"})
    assert done.headers["location"] == f"/applications/{filed}?done=completed"
    page = staff.get(f"/applications/{filed}?done=completed")
    assert "已办结" in page.text
    for action in ("提交申请", "要求补材料", "受理", "办结"):
        assert f"<td>{action}</td>" in page.text
    assert f'href="/applications/{filed}"' not in staff.get("/review").text          # no longer open
    assert f'href="/applications/{filed}"' in staff.get("/review?status=completed").text
    with uow_factory() as uow:
        assert len(uow.outbox.for_entity("proxy_applications", filed)) == 3


def test_request_materials_needs_a_material_or_a_note(staff, filed):
    response = act(staff, filed, {"action": "request_materials", "note": " "})
    assert response.status_code == 422 and "请勾选缺少的材料，或者写明还要补什么" in response.text


def test_reject_needs_a_reason(staff, worker, filed):
    refused = act(staff, filed, {"action": "reject", "note": ""})
    assert refused.status_code == 422 and "请写明不通过的原因" in refused.text
    assert 'aria-invalid="true"' in refused.text
    rejected = act(staff, filed, {"action": "reject", "note": "委托书没有居民签字"})
    assert rejected.headers["location"] == f"/applications/{filed}?done=rejected"
    page = worker.get(f"/applications/{filed}")
    assert "没有通过" in page.text and "委托书没有居民签字" in page.text


def test_a_repeated_decision_is_refused_with_the_reason(staff, filed):
    assert act(staff, filed, {"action": "accept"}).status_code == 303
    again = act(staff, filed, {"action": "accept"})
    assert again.status_code == 409 and "不能这样操作" in again.text
    odd = act(staff, filed, {"action": "delete"})
    assert odd.status_code == 422


def test_workers_cannot_decide(worker, filed):
    assert act(worker, filed, {"action": "accept"}).status_code == 403


def test_reveal_shows_full_data_and_is_audited(staff, worker, uow_factory):
    resident_phone = phone()
    application_id = filed_id(submit(worker, resident_phone=resident_phone, resident_id_number="11010519400101123X",
                                     sensitive_consent="yes"))
    assert "11010519400101123X" not in staff.get(f"/applications/{application_id}").text
    page = post_form(staff, f"/applications/{application_id}/reveal", token_from=f"/applications/{application_id}")
    assert page.status_code == 200
    for value in ("王小英", resident_phone, "11010519400101123X", "李大明", "13900139000"):
        assert value in page.text
    with uow_factory() as uow:
        events = [(e.actor, str(e.details)) for e in uow.audit.for_entity("proxy_applications", application_id)
                  if e.action == "reveal_personal_data"]
        purposes = {c.purpose for c in uow.session.query(m.Consent).filter_by(
            resident_id=uow.applications.get(application_id).resident_id)}
    assert [actor for actor, _ in events] == [staff.account.username]
    assert not any(value in events[0][1] for value in ("王小英", resident_phone, "1101051940"))
    assert {"proxy", "sensitive"} <= purposes
    assert post_form(worker, f"/applications/{application_id}/reveal",
                     token_from=f"/applications/{application_id}").status_code == 403


def test_staff_download_is_audited(staff, filed, uow_factory):
    download = staff.get(f"/applications/{filed}/authorisation")
    assert download.status_code == 200 and download.content == PDF
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.headers["x-content-type-options"] == "nosniff"
    with uow_factory() as uow:
        events = [(e.action, e.actor) for e in uow.audit.for_entity("proxy_applications", filed)]
    assert ("view_authorisation", staff.account.username) in events
    assert "下载委托书" in staff.get(f"/applications/{filed}").text


def test_a_worker_of_another_community_is_refused(as_role, filed, uow_factory):
    other = as_role("worker", community=OTHER_COMMUNITY)
    assert other.get(f"/applications/{filed}").status_code == 403
    assert other.get(f"/applications/{filed}/authorisation").status_code == 403
    assert f'href="/applications/{filed}"' not in other.get("/applications").text
    with uow_factory() as uow:
        actors = {e.actor for e in uow.audit.for_entity("proxy_applications", filed)}
    assert other.account.username not in actors
    assert other.get("/applications/999999").status_code == 404


# ---- refused forms keep what was typed -----------------------------------------------------
def test_an_oversized_file_is_refused_and_the_answers_kept(worker, uow_factory, console_settings):
    before, count = stored_files(console_settings), application_count(uow_factory)
    big = PDF[:-7] + b"0" * (201 * 1024) + b"\n%%EOF\n"
    response = submit(worker, file=("big.pdf", big, "application/pdf"), resident_name="赵桂兰",
                      authorisation_scope="代为领取高龄津贴")
    assert response.status_code == 422
    assert "文件太大了，最大 0.2 MB" in response.text
    assert 'value="赵桂兰"' in response.text and "代为领取高龄津贴</textarea>" in response.text
    assert re.search(r'value="户口本" checked', response.text) and not re.search(r'value="老人社保卡" checked', response.text)
    assert re.search(r'id="f-consent"[^>]*checked', response.text)
    assert 'id="f-authorisation-error"' in response.text and 'aria-invalid="true"' in response.text
    assert stored_files(console_settings) == before and application_count(uow_factory) == count


def test_a_body_far_over_the_limit_is_refused_before_it_is_read(worker, uow_factory, console_settings):
    """Past twice the file limit (+1 MiB for the other fields) the whole post is refused at once, with a page."""
    before, count = stored_files(console_settings), application_count(uow_factory)
    huge = PDF[:-7] + b"0" * (2 * console_settings.upload_max_bytes + 1024 * 1024) + b"\n%%EOF\n"
    response = submit(worker, file=("huge.pdf", huge, "application/pdf"))
    assert response.status_code == 413
    assert "<h1>内容太大</h1>" in response.text and "换一个小一点的文件" in response.text
    assert stored_files(console_settings) == before and application_count(uow_factory) == count


@pytest.mark.parametrize("file", [
    ("note.pdf", b"this is plain text, not a PDF", "application/pdf"),
    ("scan.png", b"\x89PNG\r\n\x1a\n" + b"junk" * 100, "image/png"),
    ("cut.png", PNG[: len(PNG) // 2], "image/png"),
    ("photo.jpg", b"\xff\xd8\xff\xe0" + b"junk" * 100, "image/jpeg"),
    ("cut.jpg", image_bytes("JPEG")[:300], "image/jpeg"),
    ("cut.pdf", PDF[:-8], "application/pdf"),
    ("setup.exe", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200, "application/octet-stream"),
], ids=["text-as-pdf", "png-header-junk", "truncated-png", "jpeg-header-junk", "truncated-jpeg", "pdf-without-eof",
        "exe"])
def test_files_that_are_not_pdf_jpeg_or_png_are_refused(worker, uow_factory, console_settings, file):
    before, count = stored_files(console_settings), application_count(uow_factory)
    response = submit(worker, file=file)
    assert response.status_code == 422 and WRONG_TYPE in response.text
    assert stored_files(console_settings) == before and application_count(uow_factory) == count


def test_an_empty_or_missing_file_is_refused(worker):
    empty = submit(worker, file=("empty.pdf", b"", "application/pdf"))
    assert empty.status_code == 422 and uploads.EMPTY in empty.text
    none_chosen = submit(worker, file=("", b"", "application/octet-stream"))
    assert none_chosen.status_code == 422 and uploads.MISSING in none_chosen.text


def test_several_problems_are_reported_together(worker):
    response = submit(worker, resident_name="", agent_phone="123", file=("x.txt", b"hello", "text/plain"))
    assert response.status_code == 422
    for message in ("请填写居民姓名", "代办人手机号要是11位数字", WRONG_TYPE):
        assert message in response.text
    assert 'href="#f-resident_name"' in response.text and 'id="error-summary"' in response.text


def test_markup_typed_into_the_form_is_shown_as_text(worker, staff):
    application_id = filed_id(submit(worker, resident_name=XSS, authorisation_scope=f"范围{XSS}"))
    for page in (worker.get(f"/applications/{application_id}"),
                 post_form(staff, f"/applications/{application_id}/reveal",
                           token_from=f"/applications/{application_id}")):
        assert page.status_code == 200
        assert XSS not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    refused = submit(worker, resident_name=XSS, valid_until="abc")
    assert refused.status_code == 422 and XSS not in refused.text and "&lt;script&gt;" in refused.text


@pytest.mark.parametrize("valid_from,valid_until,message", [
    (None, "2026-02-30", "日期不对"),
    (None, "abc", "日期不对"),
    ("abc", None, "日期不对"),
    ((date.today() + timedelta(days=30)).isoformat(), (date.today() + timedelta(days=5)).isoformat(),
     "委托截止日期不能早于开始日期"),
    ((date.today() - timedelta(days=100)).isoformat(), (date.today() - timedelta(days=10)).isoformat(),
     "委托已经过期"),
    (None, (date.today() + timedelta(days=400)).isoformat(), "委托期限最长一年"),
], ids=["no-such-day", "not-a-date", "bad-start", "until-before-from", "expired", "over-a-year"])
def test_invalid_dates_are_refused_and_kept(worker, uow_factory, valid_from, valid_until, message):
    count = application_count(uow_factory)
    changes = {key: value for key, value in (("valid_from", valid_from), ("valid_until", valid_until)) if value}
    response = submit(worker, resident_name="钱多多", **changes)
    assert response.status_code == 422 and message in response.text
    for value in changes.values():
        assert f'value="{value}"' in response.text
    assert 'value="钱多多"' in response.text
    assert application_count(uow_factory) == count


def test_consent_is_required(worker, uow_factory):
    count = application_count(uow_factory)
    response = submit(worker, consent=None, resident_name="孙小梅")
    assert response.status_code == 422 and "需要居民同意才能代办" in response.text
    assert 'value="孙小梅"' in response.text
    assert application_count(uow_factory) == count


def test_an_old_consent_wording_is_refused(worker, uow_factory):
    count = application_count(uow_factory)
    response = submit(worker, consent_version="proxy-2025-01")
    assert response.status_code == 422 and consent_texts.OUTDATED in response.text
    assert f'name="consent_version" value="{consent_texts.PROXY_CONSENT_VERSION}"' in response.text
    assert not re.search(r'id="f-consent"[^>]*checked', response.text)
    assert application_count(uow_factory) == count


def test_an_id_number_needs_its_own_consent(worker):
    response = submit(worker, resident_id_number="11010519400101123X")
    assert response.status_code == 422 and "另外勾选同意保存身份证号" in response.text


# ---- double submits, forged posts, stored names ---------------------------------------------
def test_a_double_submit_files_once(worker, uow_factory, console_settings):
    form_id = open_form(worker)
    before, count = stored_files(console_settings), application_count(uow_factory)
    first = submit(worker, form_id=form_id)
    second = submit(worker, form_id=form_id)
    application_id = filed_id(first)
    assert second.status_code == 303
    assert second.headers["location"] == f"/applications/{application_id}?done=already_filed"
    assert application_count(uow_factory) == count + 1 and len(stored_files(console_settings) - before) == 1
    assert "这份申请已经提交过了" in worker.get(second.headers["location"]).text


def test_a_racing_second_submit_finds_the_first(worker, uow_factory, console_settings, monkeypatch):
    form_id = open_form(worker)
    application_id = filed_id(submit(worker, form_id=form_id))
    before, count = stored_files(console_settings), application_count(uow_factory)
    real = application_form._filed_with
    calls = []

    def not_yet_committed(uow, key, request_hash):
        calls.append(key)
        return None if len(calls) == 1 else real(uow, key, request_hash)   # the first look misses it

    monkeypatch.setattr(application_form, "_filed_with", not_yet_committed)
    second = submit(worker, form_id=form_id)
    assert second.headers["location"] == f"/applications/{application_id}?done=already_filed"
    assert len(calls) == 2
    assert stored_files(console_settings) == before and application_count(uow_factory) == count


def test_a_forged_form_id_is_refused(worker):
    response = submit(worker, form_id="../../etc")
    assert response.status_code == 422 and "表单已经失效" in response.text


def test_a_post_without_the_csrf_token_is_refused_and_stores_nothing(worker, uow_factory, console_settings):
    before, count = stored_files(console_settings), application_count(uow_factory)
    response = worker.post("/applications/new", data=form_data(open_form(worker)),
                           files={"authorisation": ("委托书.pdf", PDF, "application/pdf")}, follow_redirects=False)
    assert response.status_code == 403
    assert stored_files(console_settings) == before and application_count(uow_factory) == count


@pytest.mark.parametrize("name", [
    "../secret.pdf", "../../etc/passwd", "/etc/passwd", "a" * 32 + ".exe", "A" * 32 + ".pdf",
    "0" * 32 + ".pdf/../x", "..", "", None, "0" * 31 + ".pdf",
])
def test_only_names_the_store_gave_out_can_be_opened(console_settings, name):
    with pytest.raises(InvalidRequest):
        uploads.read_stored(console_settings.upload_dir, name)


def test_a_stored_file_is_encrypted_on_disk_and_opens_by_its_name(console_settings):
    name = uploads.store(io.BytesIO(PDF), console_settings.upload_dir, console_settings.upload_max_bytes)
    on_disk = uploads.stored_path(console_settings.upload_dir, name).read_bytes()
    assert uploads.PDF_MAGIC not in on_disk and b"%%EOF" not in on_disk
    assert uploads.read_stored(console_settings.upload_dir, name) == PDF
    uploads.delete(console_settings.upload_dir, name)
    assert name not in stored_files(console_settings)


def test_retention_deletes_the_signed_authorisation_of_an_old_closed_application(
        staff, filed, uow_factory, console_settings, monkeypatch):
    act(staff, filed, {"action": "reject", "note": "委托书过期"})
    with uow_factory() as uow:
        application = uow.applications.get(filed)
        name = application.authorisation_file
        application.updated_at = now() - timedelta(days=400)
        uow.commit()
    assert name in stored_files(console_settings)
    monkeypatch.setenv("UPLOAD_DIR", str(console_settings.upload_dir))
    retention.purge_expired(uow_factory())
    assert name not in stored_files(console_settings)
    with uow_factory() as uow:
        assert uow.applications.get(filed).authorisation_file is None
