"""Proxy (代办) applications filed by community workers on a resident's behalf."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date


from catalogue import load_catalogue
from proxy_service import models as m
from proxy_service.crypto import decrypt, encrypt, mask_name, mask_phone
from proxy_service.services import lookups, uploads
from proxy_service.services.common import audit, finish, new_reference, notify, now
from proxy_service.services.errors import Conflict, InvalidRequest, NotFound, ServiceError
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


def period_problem(valid_from: date, valid_until: date) -> tuple[str, str] | None:
    """What is wrong with an authorisation period, in Chinese and English (None if nothing)."""
    if valid_until < valid_from:
        return "委托截止日期不能早于开始日期。", "valid_until is before valid_from."
    if (valid_until - valid_from).days > MAX_AUTHORISATION_DAYS:
        return "委托期限最长一年。", "authorisation may last at most one year."
    if valid_until < now().date():
        return "委托已经过期。", "authorisation has already expired."
    return None


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
    problem = period_problem(request.valid_from, request.valid_until)
    if problem:
        raise InvalidRequest(*problem, field="valid_until")
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
        if request.sensitive_consent_given:
            record_consent(uow, resident, purpose="sensitive", wording_version=request.consent_wording_version,
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


def find_application_status(uow, reference: str, phone_last4: str, *, requester: str = "internal") -> dict:
    with uow:
        return application_view(lookups.owned(uow, reference, phone_last4, requester, kinds=(m.ProxyApplication,),
                                              not_found=("没有查到这个申请，请核对编号和手机尾号。",
                                                         "no application with that reference and phone.")))


# ---- the web console ------------------------------------------------------------------
# What the staff and worker pages show and do (filing through the form: application_form).

OPEN_STATUSES = ("submitted", "missing_materials", "accepted")


def erase_agent_details(application: m.ProxyApplication) -> str | None:
    """Retention and consent withdrawal: the agent's name, phone and ID number, the status
    note and the authorisation go; returns the stored file to delete once committed."""
    application.agent_name_enc = application.agent_phone_enc = application.agent_id_number_enc = None
    application.status_note = None
    stored, application.authorisation_file = application.authorisation_file, None
    return stored
ACTION_LABELS = {
    "create": "提交申请", "accept": "受理", "request_materials": "要求补材料", "complete": "办结",
    "reject": "不通过", "reveal_personal_data": "查看完整个人信息", "view_authorisation": "下载委托书",
    "purge_personal_data": "按保存期限删除个人信息",
}
MAX_NOTE_CHARS = 500


class NotPermitted(ServiceError):
    status, code = 403, "forbidden"


def _visible(application: m.ProxyApplication | None, application_id: int, role: str,
             community: str | None) -> m.ProxyApplication:
    if application is None:
        raise NotFound("没有这个申请。", f"no application {application_id}.")
    if role not in ("staff", "admin", "worker") or (role == "worker" and application.community != community):
        raise NotPermitted("这个申请不是您所在社区的，您没有权限查看。", "application of another community.")
    return application


def _row(application: m.ProxyApplication) -> dict:
    return {**application_view(application), "resident_name": mask_name(decrypt(application.resident.name_enc)),
            "created": application.created_at, "updated": application.updated_at}


def _detail(uow, application: m.ProxyApplication, *, personal: bool = False) -> dict:
    resident = application.resident
    consent = uow.consents.get(application.consent_id)
    trail = [{"at": event.at, "actor": event.actor, "action": ACTION_LABELS.get(event.action, event.action),
              "to_state": STATUS_LABELS.get(event.to_state or "", "")}
             for event in uow.audit.for_entity(application.__tablename__, application.id)]
    agent_phone = decrypt(application.agent_phone_enc)
    detail = {
        **_row(application),
        "agent_name": mask_name(decrypt(application.agent_name_enc)), "agent_phone": mask_phone(agent_phone),
        "has_id_number": bool(resident.id_number_enc), "trail": trail,
        "file_kind": uploads.KIND_LABELS.get(uploads.kind_of_name(application.authorisation_file))
        if application.authorisation_file else None,
        "consent_version": consent.wording_version if consent else None,
        "consent_at": consent.granted_at if consent else None,
        "expired": application.authorisation_valid_until < now().date(),
        "actions": [action for action, (allowed_from, _) in TRANSITIONS.items() if application.status in allowed_from],
        "personal": None,
    }
    if personal:
        detail["personal"] = {
            "resident_name": decrypt(resident.name_enc), "resident_phone": decrypt(resident.phone_enc),
            "resident_id_number": decrypt(resident.id_number_enc), "birth_year": resident.birth_year,
            "agent_name": decrypt(application.agent_name_enc), "agent_phone": agent_phone,
            "agent_id_number": decrypt(application.agent_id_number_enc),
        }
    return detail


def application_page(uow, application_id: int, *, role: str, community: str | None) -> dict:
    """An application as its page shows it: personal data masked, with its audit trail."""
    with uow:
        application = _visible(uow.applications.get(application_id), application_id, role, community)
        return _detail(uow, application)


def reveal_application(uow, application_id: int, *, actor: str, role: str) -> dict:
    """The page with the full personal data, for staff; who looked is written to the audit trail."""
    with uow:
        application = _visible(uow.applications.get(application_id), application_id, role, None)
        if role not in ("staff", "admin"):
            raise NotPermitted("只有工作人员可以查看完整信息。", "only staff may see the full personal data.")
        audit(uow, actor=actor, entity=application, action="reveal_personal_data",
              details={"shown": ["resident_name", "resident_phone", "resident_id_number", "agent_name",
                                 "agent_phone"]})
        page = _detail(uow, application, personal=True)
        uow.commit()
        return page


def authorisation_download(uow, application_id: int, *, actor: str, role: str, community: str | None,
                           upload_dir) -> dict:
    """The signed authorisation (decrypted), its type and a download name; the look is audited."""
    with uow:
        application = _visible(uow.applications.get(application_id), application_id, role, community)
        if not application.authorisation_file:
            raise NotFound("这个申请没有上传委托书。", "no authorisation file.")
        if not uploads.stored_path(upload_dir, application.authorisation_file).is_file():
            raise NotFound("委托书文件找不到了，请联系管理员。", "authorisation file is missing.")
        content = uploads.read_stored(upload_dir, application.authorisation_file)
        kind = uploads.kind_of_name(application.authorisation_file)
        audit(uow, actor=actor, entity=application, action="view_authorisation")
        uow.commit()
        return {"content": content, "media_type": uploads.MEDIA_TYPES[kind],
                "filename": f"委托书-{application.reference}.{kind}"}


def community_applications(uow, community: str, limit: int = 200) -> list[dict]:
    """A community's applications, newest first (for its workers)."""
    with uow:
        return [_row(a) for a in uow.applications.newest_first(community=community, limit=limit)]


REVIEW_FILTERS = {"open": "待处理（已提交、还缺材料、已受理）", **STATUS_LABELS, "all": "全部"}


def review_applications(uow, status: str | None = None, limit: int = 200) -> dict:
    """Applications for staff to review: still open ones by default, newest first, with counts."""
    chosen = status if status in REVIEW_FILTERS else "open"
    statuses = OPEN_STATUSES if chosen == "open" else None if chosen == "all" else (chosen,)
    with uow:
        counts = uow.applications.count_by_status()
        rows = [_row(a) for a in uow.applications.newest_first(statuses, limit=limit)]
    counts = {code: counts.get(code, 0) for code in STATUS_LABELS}
    return {"filter": chosen, "rows": rows, "counts": counts, "limit": limit,
            "open_count": sum(counts[code] for code in OPEN_STATUSES), "total": sum(counts.values())}


def act_on_application(uow, application_id: int, action: str, *, actor: str, materials: list[str] | tuple = (),
                       text: str | None = None) -> dict:
    """A staff decision from the application page. Asking for materials sends the chosen
    material names and the text; a rejection needs its reason."""
    text = (text or "").strip()
    if len(text) > MAX_NOTE_CHARS:
        raise InvalidRequest(f"说明不能超过{MAX_NOTE_CHARS}个字。", "note too long.", field="note")
    note = None
    if action == "request_materials":
        with uow:
            application = uow.applications.get(application_id)
            if application is None:
                raise NotFound("没有这个申请。", f"no application {application_id}.")
            listed = [x["name"] for x in application.materials]
        if set(materials) - set(listed):
            raise InvalidRequest("勾选的材料不在这项业务的清单里。", "unknown materials.", field="note")
        chosen = [name for name in listed if name in materials]
        note = (f"请补交{'、'.join(chosen)}。" if chosen else "") + text
        if not note:
            raise InvalidRequest("请勾选缺少的材料，或者写明还要补什么。", "a note is required.", field="note")
    elif action == "reject":
        if not text:
            raise InvalidRequest("请写明不通过的原因。", "a reason is required.", field="note")
        note = text
    return change_application(uow, application_id, action, actor=actor, note=note)
