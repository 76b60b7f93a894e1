"""Proxy applications filed for residents."""
from __future__ import annotations

from fastapi import APIRouter, Request

from proxy_service.api import schemas as s
from proxy_service.api.auth import AUTHENTICATED, api_actor
from proxy_service.api.idempotency import respond_once
from proxy_service.services import applications
from proxy_service.services.residents import ResidentInput

router = APIRouter(dependencies=AUTHENTICATED, tags=["applications"])


@router.post("/api/applications", status_code=201)
def create_application(body: s.ApplicationIn, request: Request):
    req = applications.ApplicationRequest(
        service_code=body.service_code, community=body.community, resident=ResidentInput(**body.resident.dict()),
        agent_name=body.agent_name, relationship=body.relationship, authorisation_scope=body.authorisation_scope,
        valid_from=body.valid_from, valid_until=body.valid_until, consent_given=body.consent.given,
        consent_wording_version=body.consent.wording_version, provided_materials=tuple(body.provided_materials),
        agent_phone=body.agent_phone, agent_id_number=body.agent_id_number,
        sensitive_consent_given=body.consent.sensitive_given)
    return respond_once("application.create", request, body.dict(),
                        lambda uow: applications.file_application(uow, req, actor=api_actor(body.filed_by)))


@router.get("/api/applications")
def list_applications(request: Request, community: str | None = None, status: str | None = None,
                      limit: int = 50, offset: int = 0):
    return applications.list_applications(request.app.state.make_uow(read_only=True), community=community, status=status,
                                          limit=max(1, min(limit, 200)), offset=max(0, offset))


@router.get("/api/applications/{application_id}")
def get_application(application_id: int, request: Request):
    return applications.get_application(request.app.state.make_uow(read_only=True), application_id)


@router.post("/api/applications/{application_id}/actions")
def application_action(application_id: int, body: s.ApplicationActionIn, request: Request):
    return respond_once("application.action", request, {"id": application_id, **body.dict()},
                        lambda uow: applications.change_application(uow, application_id, body.action,
                                                                    actor=api_actor(body.actor), note=body.note))
