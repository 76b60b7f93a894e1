"""Proxy (代办) applications filed by community workers on a resident's behalf."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from catalogue import load_catalogue
from proxy_service import models as m
from proxy_service.crypto import decrypt, encrypt, mask_phone, normalize_digits
from proxy_service.services.common import audit, finish, new_reference, notify, now
from proxy_service.services.errors import Conflict, InvalidRequest, NotFound
from proxy_service.services.residents import (
    ResidentInput,
    find_or_add_resident,
    record_consent,
    valid_id_number,
    valid_phone,
)

MAX_AUTHORISATION_DAYS = 366
STATUS_LABELS = {"submitted": "已提交，等待审核", "accepted": "已受理，正在办理", "missing_materials": "还缺材料",
                 "completed": "已办结", "rejected": "没有通过"}
TRANSITIONS = {
    "accept": ({"submitted", "missing_materials"}, "accepted"),
    "request_materials": ({"submitted", "accepted"}, "missing_materials"),
    "complete": ({"accepted"}, "completed"),
    "reject": ({"submitted", "accepted", "missing_materials"}, "rejected"),
}


@dataclass(frozen=True)
class ApplicationRequest:
    service_code: str
    community: str
    resident: ResidentInput
    agent_name: str
    relationship: str
    authorisation_scope: str
    valid_from: date
    valid_until: date
    consent_given: bool
    consent_wording_version: str
    provided_materials: tuple[str, ...] = ()
    agent_phone: str | None = None
    agent_id_number: str | None = None
    sensitive_consent_given: bool = False
    authorisation_file: str | None = None


def _check(request: ApplicationRequest):
    item = load_catalogue().get(request.service_code)
    if item is None:
        raise InvalidRequest("没有这项业务。", f"unknown service {request.service_code!r}.", field="service_code")
    if not item.offers.get("proxy"):
        raise InvalidRequest(f"{item.name}不能代办。", f"{item.code} does not allow proxy handling.",
                             field="service_code")
    for name, value, limit in (("community", request.community, 64), ("agent_name", request.agent_name, 32),
                               ("relationship", request.relationship, 32),
                               ("authorisation_scope", request.authorisation_scope, 500)):
        if not (value or "").strip() or len(value) > limit:
            raise InvalidRequest(f"请填写{name}（不超过{limit}个字）。", f"{name} is required (at most {limit}).",
                                 field=name)
    if request.valid_until < request.valid_from:
        raise InvalidRequest("委托截止日期不能早于开始日期。", "valid_until is before valid_from.", field="valid_until")
    if (request.valid_until - request.valid_from).days > MAX_AUTHORISATION_DAYS:
        raise InvalidRequest("委托期限最长一年。", "authorisation may last at most one year.", field="valid_until")
    if request.valid_until < now().date():
        raise InvalidRequest("委托已经过期。", "authorisation has already expired.", field="valid_until")
    if not request.consent_given:
        raise InvalidRequest("需要居民同意才能代办。", "the resident's consent is required.", field="consent")
    unknown = set(request.provided_materials) - set(item.materials)
    if unknown:
        raise InvalidRequest("材料不在这项业务的清单里。", f"unknown materials: {sorted(unknown)}.",
                             field="provided_materials")
    return item


def application_view(application: m.ProxyApplication) -> dict:
    item = load_catalogue().get(application.service_code)
    return {
        "id": application.id, "reference": application.reference, "status": application.status,
        "status_label": STATUS_LABELS[application.status], "status_note": application.status_note,
        "service_code": application.service_code, "service_name": item.name if item else application.service_code,
        "community": application.community, "relationship": application.relationship_to_resident,
        "authorisation_scope": application.authorisation_scope,
        "valid_from": application.authorisation_valid_from.isoformat(),
        "valid_until": application.authorisation_valid_until.isoformat(),
        "materials": application.materials,
        "missing_materials": [x["name"] for x in application.materials if not x["provided"]],
        "resident_phone": mask_phone(decrypt(application.resident.phone_enc)),
        "filed_by": application.filed_by, "created_at": application.created_at.isoformat(),
    }


def file_application(uow, request: ApplicationRequest, *, actor: str) -> dict:
    item = _check(request)
    agent_phone = valid_phone(request.agent_phone)
    agent_id = valid_id_number(request.agent_id_number)
    if agent_id and not request.sensitive_consent_given:
        raise InvalidRequest("保存代办人身份证号需要单独同意。", "agent_id_number needs sensitive-data consent.",
                             field="consent")
    with uow:
        resident = find_or_add_resident(uow, request.resident, sensitive_consent=request.sensitive_consent_given)
        consent = record_consent(uow, resident, purpose="proxy", wording_version=request.consent_wording_version,
                                 channel="web")
        stamp = now()
        application = uow.applications.add(m.ProxyApplication(
            reference=new_reference(lambda ref: uow.applications.by_reference(ref) is not None),
            resident_id=resident.id, service_code=item.code, community=request.community.strip(),
            agent_name_enc=encrypt(request.agent_name.strip()), agent_phone_enc=encrypt(agent_phone),
            agent_id_number_enc=encrypt(agent_id), relationship_to_resident=request.relationship.strip(),
            authorisation_scope=request.authorisation_scope.strip(),
            authorisation_valid_from=request.valid_from, authorisation_valid_until=request.valid_until,
            authorisation_file=request.authorisation_file, consent_id=consent.id,
            materials=[{"name": name, "provided": name in request.provided_materials} for name in item.materials],
            status="submitted", filed_by=actor, created_at=stamp, updated_at=stamp,
        ))
        application.resident = resident
        audit(uow, actor=actor, entity=application, action="create", to_state="submitted",
              details={"service": item.code})
        return finish(uow, application_view(application), 201)


def change_application(uow, application_id: int, action: str, *, actor: str, note: str | None = None,
                       community: str | None = None) -> dict:
    """Move an application on; the resident hears of it through the outbox."""
    if action not in TRANSITIONS:
        raise InvalidRequest("不支持这个操作。", f"action must be one of {', '.join(TRANSITIONS)}.", field="action")
    if action in ("request_materials", "reject") and not (note or "").strip():
        raise InvalidRequest("请写明缺什么材料或不通过的原因。", "a note is required for this action.", field="note")
    allowed_from, to_state = TRANSITIONS[action]
    with uow:
        application = uow.applications.get(application_id)
        if application is None or (community and application.community != community):
            raise NotFound("没有这个申请。", f"no application {application_id}.")
        if application.status not in allowed_from:
            raise Conflict(f"申请现在是“{STATUS_LABELS[application.status]}”，不能这样操作。",
                           f"cannot {action} an application in status {application.status}.")
        from_state = application.status
        application.status, application.status_note, application.updated_at = to_state, note, now()
        audit(uow, actor=actor, entity=application, action=action, from_state=from_state, to_state=to_state)
        item = load_catalogue().get(application.service_code)
        message = f"【示例市政务帮办】您的{item.name if item else '申请'}（编号{application.reference}）{STATUS_LABELS[to_state]}。"
        if note:
            message += f"说明：{note}"
        notify(uow, kind="application_status", phone=decrypt(application.resident.phone_enc), body=message,
               entity=application)
        return finish(uow, application_view(application))


def get_application(uow, application_id: int, *, community: str | None = None) -> dict:
    with uow:
        application = uow.applications.get(application_id)
        if application is None or (community and application.community != community):
            raise NotFound("没有这个申请。", f"no application {application_id}.")
        return application_view(application)


def list_applications(uow, *, community: str | None = None, status: str | None = None,
                      limit: int = 50, offset: int = 0) -> list[dict]:
    with uow:
        return [application_view(a) for a in uow.applications.list(community, status, limit, offset)]


def find_application_status(uow, reference: str, phone_last4: str) -> dict:
    with uow:
        application = uow.applications.by_reference(normalize_digits(reference))
        if application is None or application.resident.phone_last4 != normalize_digits(phone_last4):
            raise NotFound("没有查到这个申请，请核对编号和手机尾号。", "no application with that reference and phone.")
        return application_view(application)
