"""Console pages: proxy applications (代办申请).

Community workers file applications for residents of their own community, with the signed
authorisation attached, and follow them; staff review them (accept, ask for materials,
complete, reject). The logic lives in services.applications and services.uploads.
"""
from __future__ import annotations

import uuid
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from proxy_service.services import application_form, applications, consent_texts, uploads
from proxy_service.services.accounts import Account
from proxy_service.services.application_form import FormInvalid
from proxy_service.services.applications import NotPermitted
from proxy_service.services.common import now
from proxy_service.services.errors import Conflict, InvalidRequest
from proxy_service.web import pages
from proxy_service.web.security import EVERYONE, STAFF, Forbidden, allow

router = APIRouter(include_in_schema=False)
workers = allow("worker")
staff = allow(*STAFF)
everyone = allow(*EVERYONE)

# The notice shown after each staff decision (pages.NOTICES).
DONE = {"accept": "accepted", "request_materials": "missing_materials", "complete": "completed",
        "reject": "rejected"}
# Fields of the new-application form in page order: where the error summary's links go.
FORM_FIELDS = [
    ("form", "表单"), ("service", "要代办的业务"), ("resident_name", "居民姓名"), ("resident_phone", "居民手机号"),
    ("birth_year", "出生年份"), ("resident_id_number", "身份证号"), ("materials", "材料清单"),
    ("agent_name", "代办人姓名"), ("agent_phone", "代办人手机号"), ("relationship", "和居民的关系"),
    ("authorisation_scope", "委托范围"), ("valid_from", "委托开始日期"), ("valid_until", "委托截止日期"),
    ("authorisation", "委托书文件"), ("consent", "居民同意"), ("sensitive_consent", "保存身份证号的同意"),
]


def _uow(request: Request):
    return request.app.state.make_uow()


# ---- community workers -----------------------------------------------------------------
@router.get("/applications")
def my_applications(request: Request, account: Account = Depends(everyone)):
    if account.role != "worker":
        return RedirectResponse("/review", status_code=303)
    rows = applications.community_applications(_uow(request), account.community)
    return pages.render(request, "application_list.html", rows=rows)


def _new_page(request: Request, *, service: str | None = None, values: dict | None = None,
              materials: list[str] | None = None, errors: dict[str, str] | None = None, status: int = 200,
              form_id: str | None = None):
    errors = dict(errors or {})
    item = None
    if service:
        try:
            item = application_form.proxy_service(service)
        except InvalidRequest as error:
            errors.setdefault("service", error.zh)
            status = 422
    context = {"services": application_form.proxy_services(), "item": item, "values": values or {},
               "chosen": materials or [], "errors": errors, "error_fields": FORM_FIELDS}
    if item is not None:
        context.update(
            relationships=application_form.RELATIONSHIPS, form_id=form_id or uuid.uuid4().hex,
            consent_version=consent_texts.PROXY_CONSENT_VERSION,
            consent_paragraphs=consent_texts.proxy_consent(item.name),
            sensitive_text=consent_texts.sensitive_consent(), today=now().date().isoformat(),
            max_size=uploads.size_label(request.app.state.settings.upload_max_bytes))
    return pages.render(request, "application_new.html", status_code=status, **context)


@router.get("/applications/new")
def new_application(request: Request, service: str | None = None, _account: Account = Depends(workers)):
    return _new_page(request, service=service, values={"valid_from": now().date().isoformat()})


def _file(request: Request, account: Account, form: FormData):
    values = {key: value for key, value in form.items() if isinstance(value, str)}
    materials = [value for value in form.getlist("materials") if isinstance(value, str)]
    chosen_file = form.get("authorisation")
    upload = None
    # A file input left empty still sends a part, with no name and no content.
    if isinstance(chosen_file, UploadFile) and (chosen_file.filename or chosen_file.size):
        upload = application_form.Upload(chosen_file.filename or "", chosen_file.file)
    settings = request.app.state.settings
    try:
        application_id, again = application_form.file_console_application(
            request.app.state.make_uow, values, materials, upload, community=account.community,
            actor=account.username, upload_dir=settings.upload_dir, max_bytes=settings.upload_max_bytes)
    except FormInvalid as invalid:
        if "consent" in invalid.errors:
            values.pop("consent", None)     # the resident confirms again, to the wording shown now
        form_id = None if "form" in invalid.errors else values.get("form_id")
        return _new_page(request, service=values.get("service") or "", values=values, materials=materials,
                         errors=invalid.errors, status=422, form_id=form_id)
    return pages.back_to(f"/applications/{application_id}", "already_filed" if again else "filed")


@router.post("/applications/new")
async def file_application(request: Request, account: Account = Depends(workers)):
    form = await request.form()
    return await run_in_threadpool(_file, request, account, form)


# ---- one application (both roles) ----------------------------------------------------
def _application_page(request: Request, account: Account, application_id: int, *, detail: dict | None = None,
                      status: int = 200, errors: dict[str, str] | None = None, form: dict | None = None):
    if detail is None:
        try:
            detail = applications.application_page(_uow(request), application_id, role=account.role,
                                                    community=account.community)
        except NotPermitted as refused:
            raise Forbidden(refused.zh) from None
    return pages.render(request, "application.html", status_code=status, a=detail, errors=errors or {},
                        form=form or {}, is_staff=account.role in STAFF, action_labels=applications.ACTION_LABELS)


@router.get("/applications/{application_id:int}")
def show_application(request: Request, application_id: int, account: Account = Depends(everyone)):
    return _application_page(request, account, application_id)


@router.get("/applications/{application_id:int}/authorisation")
def download_authorisation(request: Request, application_id: int, account: Account = Depends(everyone)):
    try:
        found = applications.authorisation_download(
            _uow(request), application_id, actor=account.username, role=account.role, community=account.community,
            upload_dir=request.app.state.settings.upload_dir)
    except NotPermitted as refused:
        raise Forbidden(refused.zh) from None
    disposition = f"attachment; filename*=utf-8''{quote(found['filename'])}"
    return Response(found["content"], media_type=found["media_type"],
                    headers={"Content-Disposition": disposition, "X-Content-Type-Options": "nosniff",
                             "Cache-Control": "no-store"})


# ---- staff -------------------------------------------------------------------------------
@router.get("/review")
def review(request: Request, status: str | None = None, _account: Account = Depends(staff)):
    listing = applications.review_applications(_uow(request), status)
    return pages.render(request, "review.html", filters=applications.REVIEW_FILTERS, **listing)


def _act(request: Request, account: Account, application_id: int, form: FormData):
    action = form.get("action") if isinstance(form.get("action"), str) else ""
    note = form.get("note") if isinstance(form.get("note"), str) else ""
    materials = [value for value in form.getlist("materials") if isinstance(value, str)]
    try:
        applications.act_on_application(_uow(request), application_id, action, actor=account.username,
                                        materials=materials, text=note)
    except (InvalidRequest, Conflict) as error:
        return _application_page(request, account, application_id, status=error.status,
                                 errors={action if action in DONE else "form": error.zh},
                                 form={"action": action, "note": note, "materials": materials})
    return pages.back_to(f"/applications/{application_id}", DONE[action])


@router.post("/applications/{application_id:int}/actions")
async def application_action(request: Request, application_id: int, account: Account = Depends(staff)):
    form = await request.form()
    return await run_in_threadpool(_act, request, account, application_id, form)


@router.post("/applications/{application_id:int}/reveal")
def reveal(request: Request, application_id: int, account: Account = Depends(staff)):
    detail = applications.reveal_application(_uow(request), application_id, actor=account.username,
                                             role=account.role)
    return _application_page(request, account, application_id, detail=detail)
