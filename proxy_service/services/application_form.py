"""The console's new-application form: reading it, its upload, filing it exactly once.

Community workers file through a form with the signed authorisation attached. Every problem
is reported at once, keyed by form field; a form_id makes a second submit of the same form
file nothing (see file_console_application).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from datetime import date
from typing import BinaryIO, Callable, Mapping

from sqlalchemy.exc import IntegrityError

from catalogue import load_catalogue
from proxy_service.services import uploads
from proxy_service.services.applications import ApplicationRequest, file_application, period_problem
from proxy_service.services.common import now
from proxy_service.services.consent_texts import require_current_proxy_version
from proxy_service.services.errors import InvalidRequest
from proxy_service.services.residents import ResidentInput, valid_id_number, valid_phone
from proxy_service.uow import AlreadyAnswered

RELATIONSHIPS = ("子女", "配偶", "亲属", "邻居", "社区工作者", "其他")
WEB_CREATE_SCOPE = "web.application.create"
WEB_KEY_PREFIX = "web-application:"
_FORM_ID = re.compile(r"[0-9a-f]{32}")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
FORM_EXPIRED = "这个表单已经失效。请重新打开“新建代办申请”页面再填写。"
# Fields the service names in its errors → fields of the console form.
_FORM_FIELDS = {"name": "resident_name", "phone": "resident_phone", "id_number": "resident_id_number",
                "service_code": "service", "provided_materials": "materials"}


class FormInvalid(InvalidRequest):
    """Everything wrong with a submitted form at once: {form field: Chinese message}."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("有几处需要改正，请看下面标出的地方。", f"invalid fields: {', '.join(errors)}.",
                         fields=sorted(errors))
        self.errors = errors


@dataclass(frozen=True)
class Upload:
    """A file chosen in the form. The browser's file name is never used for where it is stored."""

    filename: str
    stream: BinaryIO


def proxy_services() -> list:
    """Catalogue errands a community worker can file a proxy application for."""
    return [item for item in load_catalogue().items if item.offers.get("proxy")]


def proxy_service(code: str | None):
    item = load_catalogue().get(code)
    if item is None or not item.offers.get("proxy"):
        raise InvalidRequest("请从列表里选择一项可以代办的业务。", f"no proxy service {code!r}.", field="service")
    return item


def _text(values: Mapping, name: str) -> str:
    value = values.get(name)
    return value.strip() if isinstance(value, str) else ""


def _day(values: Mapping, name: str, errors: dict[str, str]) -> date | None:
    text = _text(values, name)
    if not text:
        errors[name] = "请填写日期。"
        return None
    try:
        if not _ISO_DAY.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        errors[name] = "日期不对。请按“年-月-日”填写，例如 2026-03-01。"
        return None


def _phone(values: Mapping, name: str, label: str, errors: dict[str, str]) -> str | None:
    text = _text(values, name)
    if not text:
        errors[name] = f"请填写{label}。"
        return None
    try:
        return valid_phone(text)
    except InvalidRequest:
        errors[name] = f"{label}要是11位数字，以1开头。"
        return None


def _required(values: Mapping, name: str, label: str, limit: int, errors: dict[str, str]) -> str:
    text = _text(values, name)
    if not text:
        errors[name] = f"请填写{label}。"
    elif len(text) > limit:
        errors[name] = f"{label}不能超过{limit}个字。"
    return text


def read_console_form(values: Mapping, materials: list[str], *, community: str) -> ApplicationRequest:
    """The application a worker's form describes; FormInvalid lists every problem at once."""
    errors: dict[str, str] = {}
    try:
        item = proxy_service(_text(values, "service"))
    except InvalidRequest as error:
        item, errors["service"] = None, error.zh
    name = _required(values, "resident_name", "居民姓名", 32, errors)
    phone = _phone(values, "resident_phone", "居民手机号", errors)
    birth_year = None
    if text := _text(values, "birth_year"):
        if text.isascii() and text.isdigit() and 1900 <= int(text) <= now().year:
            birth_year = int(text)
        else:
            errors["birth_year"] = "出生年份要是四位数字，例如 1950。"
    id_number = None
    if text := _text(values, "resident_id_number"):
        try:
            id_number = valid_id_number(text)
        except InvalidRequest:
            errors["resident_id_number"] = "身份证号要是18位，最后一位可以是X。"
    sensitive = values.get("sensitive_consent") == "yes"
    if id_number and not sensitive:
        errors["sensitive_consent"] = "填了身份证号，需要居民另外勾选同意保存身份证号。不想保存，就把身份证号空着。"
    agent_name = _required(values, "agent_name", "代办人姓名", 32, errors)
    agent_phone = _phone(values, "agent_phone", "代办人手机号", errors)
    relationship = _text(values, "relationship")
    if relationship not in RELATIONSHIPS:
        errors["relationship"] = "请选择代办人和居民的关系。"
    scope = _required(values, "authorisation_scope", "委托范围", 500, errors)
    valid_from, valid_until = _day(values, "valid_from", errors), _day(values, "valid_until", errors)
    if valid_from and valid_until and (problem := period_problem(valid_from, valid_until)):
        errors["valid_until"] = problem[0]
    version = _text(values, "consent_version")
    try:
        require_current_proxy_version(version)
        if values.get("consent") != "yes":
            errors["consent"] = "需要居民同意才能代办。请把同意书念给居民听，居民同意后再勾选。"
    except InvalidRequest as error:
        errors["consent"] = error.zh
    if item is not None and set(materials) - set(item.materials):
        errors["materials"] = "勾选的材料不在这项业务的清单里，请重新勾选。"
    if errors:
        raise FormInvalid(errors)
    return ApplicationRequest(
        service_code=item.code, community=community,
        resident=ResidentInput(name=name, phone=phone, id_number=id_number, birth_year=birth_year),
        agent_name=agent_name, relationship=relationship, authorisation_scope=scope,
        valid_from=valid_from, valid_until=valid_until, consent_given=True, consent_wording_version=version,
        provided_materials=tuple(x for x in item.materials if x in materials),
        agent_phone=agent_phone, sensitive_consent_given=bool(id_number))


def _filed_with(uow, key: str, request_hash: str) -> int | None:
    """The application an earlier submit of this form created, if any."""
    with uow:
        record = uow.idempotency_records.get(key)
        if record is None:
            return None
        if record.scope != WEB_CREATE_SCOPE or record.request_hash != request_hash:
            raise FormInvalid({"form": FORM_EXPIRED})
        return int(record.response["id"])


def file_console_application(make_uow: Callable, values: Mapping, materials: list[str], upload: Upload | None, *,
                             community: str, actor: str, upload_dir, max_bytes: int) -> tuple[int, bool]:
    """File a worker's form with its authorisation: (application id, whether it was filed before).

    The form carries a form_id made when it was shown; the application is filed in one
    transaction with an idempotency record under it, so a second submit of the same form
    (double click, back button, a retry racing the first) files nothing and no second file
    is stored. A stored file whose filing fails is removed again.
    """
    form_id = _text(values, "form_id")
    if not _FORM_ID.fullmatch(form_id):
        raise FormInvalid({"form": FORM_EXPIRED})
    key, request_hash = WEB_KEY_PREFIX + form_id, hashlib.sha256(form_id.encode()).hexdigest()
    earlier = _filed_with(make_uow(read_only=True), key, request_hash)
    if earlier is not None:
        return earlier, True
    errors: dict[str, str] = {}
    try:
        request = read_console_form(values, materials, community=community)
    except FormInvalid as invalid:
        request, errors = None, dict(invalid.errors)
    if upload is None:
        errors["authorisation"] = uploads.MISSING
    elif errors:
        try:  # say everything that is wrong at once, the file included
            uploads.check(upload.stream, upload_dir, max_bytes)
        except InvalidRequest as error:
            errors["authorisation"] = error.zh
    if errors:
        raise FormInvalid(errors)
    try:
        stored = uploads.store(upload.stream, upload_dir, max_bytes)
    except InvalidRequest as error:
        raise FormInvalid({"authorisation": error.zh}) from None
    try:
        view = file_application(make_uow((key, WEB_CREATE_SCOPE, request_hash)),
                                replace(request, authorisation_file=stored), actor=actor)
    except (IntegrityError, AlreadyAnswered):
        # The same form committed a moment ago in another request: ours rolled back whole
        # (or, found in its first transaction, never began).
        uploads.delete(upload_dir, stored)
        earlier = _filed_with(make_uow(read_only=True), key, request_hash)
        if earlier is None:
            raise
        return earlier, True
    except InvalidRequest as error:
        uploads.delete(upload_dir, stored)
        field = error.details.get("field")
        raise FormInvalid({_FORM_FIELDS.get(field, field or "form"): error.zh}) from None
    except BaseException:
        uploads.delete(upload_dir, stored)
        raise
    return view["id"], False
