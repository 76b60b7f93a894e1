"""The JSON API: thin routes over the service functions (the web console's pages are added
by proxy_service.web; both share the service layer).

Every route needs the service token. Every write accepts an `Idempotency-Key` header: a
retried request (Rasa retries actions, people double-submit) gets the first response
back and changes nothing. Bad input is answered 4xx with a Chinese and an English message.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Callable

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from proxy_service.api import schemas as s
from proxy_service.services import applications, bookings, calendar, calls, tickets
from proxy_service.services.common import now
from proxy_service.services.errors import Conflict, ServiceError, Unauthorized
from proxy_service.services.residents import ResidentInput
from proxy_service.settings import Settings, get_settings
from proxy_service.uow import SqlUnitOfWork
from proxy_service.web.app import console_error, error_page, install_console, is_console

log = logging.getLogger(__name__)
MAX_KEY_LENGTH = 128


def error(status: int, code: str, zh: str, en: str, **details) -> JSONResponse:
    return JSONResponse({"error": code, "message_zh": zh, "message_en": en, **details}, status_code=status)


def create_app(settings: Settings | None = None, uow_factory: Callable[..., SqlUnitOfWork] | None = None) -> FastAPI:
    settings = settings or get_settings()
    make_uow = uow_factory or (lambda idempotency=None: SqlUnitOfWork(idempotency=idempotency))
    app = FastAPI(title="政务帮办热线 proxy_service API", version="1.0",
                  description="Bookings, proxy applications, handoff tickets and calls of the helpline.")
    app.state.settings, app.state.make_uow = settings, make_uow
    install_console(app)
    # Form posts with an upload may be larger than API bodies: room for a file twice the
    # limit, so a too-big file is refused by the form itself, with the other answers kept.
    upload_body_limit = 2 * settings.upload_max_bytes + 1024 * 1024

    def too_large(request: Request, limit: int):
        if is_console(request):
            return error_page(request, 413, "内容太大",
                              f"提交的内容超过了{limit // (1024 * 1024) or 1} MB。请返回上一页，换一个小一点的文件再提交。")
        return error(413, "too_large", "请求内容太大。", f"request body over {limit} bytes.")

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        multipart = request.headers.get("content-type", "").startswith("multipart/form-data")
        limit = upload_body_limit if multipart and is_console(request) else settings.max_body_bytes
        length = request.headers.get("content-length")
        if length and (not length.isdigit() or int(length) > limit):
            return too_large(request, limit)
        body = await request.body()
        if len(body) > limit:
            return too_large(request, limit)
        return await call_next(request)

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError):
        if is_console(request):
            return console_error(request, exc)
        return JSONResponse(exc.as_dict(), status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if is_console(request):
            title = {404: "没有这个页面", 405: "不能这样打开这个页面"}.get(exc.status_code, "出错了")
            return error_page(request, exc.status_code, title, "请从菜单重新进入。")
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        if is_console(request):
            return error_page(request, 422, "填写有误", "提交的内容不完整或格式不对。请返回上一页检查后再提交。")
        fields = [{"field": ".".join(str(p) for p in e["loc"][1:]), "problem": e["msg"]} for e in exc.errors()]
        return error(422, "invalid", "请求内容有误，请检查这些字段。", "invalid request: see fields.", fields=fields)

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception):
        log.exception("unhandled error: %s", type(exc).__name__)
        if is_console(request):
            return error_page(request, 500, "系统出错了", "系统出错了，刚才的操作没有保存。请稍后再试。")
        return error(500, "internal", "系统出错了，请稍后再试。", "internal error; nothing was changed.")

    def authorised(authorization: str = Header(None)) -> None:
        token = (authorization or "").removeprefix("Bearer ").strip()
        if not token or not hmac.compare_digest(token.encode(), settings.service_token.encode()):
            raise Unauthorized("没有权限。", "missing or wrong service token.") from None

    def idempotent(scope: str, request: Request, body: dict, run: Callable) -> JSONResponse:
        """Run a write once per Idempotency-Key; replay the stored response for repeats."""
        key = request.headers.get("idempotency-key")
        success = 201 if scope.endswith(".create") else 200
        if key is None:
            return JSONResponse(run(make_uow()), status_code=success)
        if not key.strip() or len(key) > MAX_KEY_LENGTH:
            return error(422, "invalid", "请求编号（Idempotency-Key）不对。", "Idempotency-Key must be 1-128 characters.")
        request_hash = hashlib.sha256(json.dumps([scope, body], sort_keys=True, default=str).encode()).hexdigest()

        def replay() -> JSONResponse | None:
            with make_uow() as uow:
                record = uow.idempotency_records.get(key)
                if record is None:
                    return None
                if record.scope != scope or record.request_hash != request_hash:
                    raise Conflict("这个请求编号已经用在别的请求上了。",
                                   "Idempotency-Key was already used for a different request.")
                return JSONResponse(record.response, status_code=record.status_code,
                                    headers={"Idempotent-Replay": "true"})

        stored = replay()
        if stored is not None:
            return stored
        try:
            result = run(make_uow((key, scope, request_hash)))
        except IntegrityError:
            # A concurrent request with the same key committed first: ours rolled back whole.
            stored = replay()
            if stored is None:
                raise
            return stored
        return JSONResponse(result, status_code=success)

    auth = [Depends(authorised)]

    # ---- bookings -------------------------------------------------------------------
    @app.get("/api/slots", dependencies=auth, tags=["bookings"])
    def free_slots(place_code: str, limit: int = 6):
        with make_uow() as uow:
            slots = calendar.free_slots(uow, place_code, now().date(), max(1, min(limit, 40)))
        return [{"place_code": x.place_code, "day": x.day.isoformat(), "half_day": x.half_day,
                 "half_day_label": calendar.HALF_DAY_LABELS[x.half_day], "remaining": x.remaining} for x in slots]

    @app.post("/api/bookings", dependencies=auth, status_code=201, tags=["bookings"])
    def create_booking(body: s.BookingIn, request: Request):
        req = bookings.BookingRequest(
            service_code=body.service_code, mode=body.mode, place_code=body.place_code, day=body.day,
            half_day=body.half_day, resident=ResidentInput(**body.resident.dict()),
            consent_wording_version=body.consent.wording_version, consent_given=body.consent.given,
            sensitive_consent_given=body.consent.sensitive_given, address=body.address, channel=body.channel)
        return idempotent("booking.create", request, body.dict(),
                          lambda uow: bookings.create_booking(uow, req, actor=f"api:{body.channel}"))

    # Look-ups by phone tail are POSTs: the digits stay out of URLs and access logs.
    @app.post("/api/bookings/{reference}/lookup", dependencies=auth, tags=["bookings"])
    def get_booking(reference: str, body: s.PhoneTailIn):
        return bookings.find_booking(make_uow(), reference, body.phone_last4)

    @app.post("/api/bookings/{reference}/cancel", dependencies=auth, tags=["bookings"])
    def cancel_booking(reference: str, body: s.PhoneTailIn, request: Request):
        return idempotent("booking.cancel", request, {"ref": reference, **body.dict()},
                          lambda uow: bookings.cancel_booking(uow, reference, body.phone_last4, actor="api"))

    @app.post("/api/bookings/{reference}/reschedule", dependencies=auth, tags=["bookings"])
    def reschedule_booking(reference: str, body: s.RescheduleIn, request: Request):
        return idempotent("booking.reschedule", request, {"ref": reference, **body.dict()},
                          lambda uow: bookings.reschedule_booking(uow, reference, body.phone_last4, body.day,
                                                                  body.half_day, actor="api"))

    # ---- tickets --------------------------------------------------------------------
    @app.get("/api/queues", dependencies=auth, tags=["tickets"])
    def queues():
        return tickets.list_queues(make_uow())

    @app.get("/api/queues/{code}/tickets", dependencies=auth, tags=["tickets"])
    def queue_tickets(code: str, limit: int = 50, offset: int = 0):
        return tickets.list_queue(make_uow(), code, limit=max(1, min(limit, 200)), offset=max(0, offset))

    @app.post("/api/tickets", dependencies=auth, status_code=201, tags=["tickets"])
    def create_ticket(body: s.TicketIn, request: Request):
        data = body.dict()
        data["transcript"] = [{**turn, "at": turn["at"].isoformat() if turn["at"] else None}
                              for turn in data["transcript"]]
        req = tickets.TicketRequest(**data)
        return idempotent("ticket.create", request, data,
                          lambda uow: tickets.create_ticket(uow, req, actor=f"api:{body.channel}"))

    @app.get("/api/tickets/{ticket_id}", dependencies=auth, tags=["tickets"])
    def get_ticket(ticket_id: int):
        return tickets.get_ticket(make_uow(), ticket_id)

    @app.post("/api/tickets/{ticket_id}/actions", dependencies=auth, tags=["tickets"])
    def ticket_action(ticket_id: int, body: s.TicketActionIn, request: Request):
        return idempotent("ticket.action", request, {"id": ticket_id, **body.dict()},
                          lambda uow: tickets.change_ticket(uow, ticket_id, body.action, actor=body.actor,
                                                            callback_from=body.callback_from, note=body.note))

    # ---- calls (reported by the voice gateway) ------------------------------------
    # `:path` so that a call_sid with a slash is refused like any other bad one (422), not 404.
    @app.put("/api/calls/{call_sid:path}", dependencies=auth, tags=["calls"])
    def report_call(call_sid: str, body: s.CallReportIn, request: Request):
        """Upsert: the first report creates the call (channel required), later ones fill in
        or overwrite only the fields they carry; repeating a report changes nothing."""
        data = body.dict()
        transfer = data.pop("transfer") or {}
        report = calls.CallReport(**data, **{f"transfer_{name}": value for name, value in transfer.items()})
        return idempotent("call.report", request, {"sid": call_sid, **body.dict()},
                          lambda uow: calls.report_call(uow, call_sid, report, actor="api"))

    @app.get("/api/calls/{call_sid:path}", dependencies=auth, tags=["calls"])
    def get_call(call_sid: str):
        return calls.get_call(make_uow(), call_sid)

    # ---- proxy applications ---------------------------------------------------------
    @app.post("/api/applications", dependencies=auth, status_code=201, tags=["applications"])
    def create_application(body: s.ApplicationIn, request: Request):
        req = applications.ApplicationRequest(
            service_code=body.service_code, community=body.community, resident=ResidentInput(**body.resident.dict()),
            agent_name=body.agent_name, relationship=body.relationship, authorisation_scope=body.authorisation_scope,
            valid_from=body.valid_from, valid_until=body.valid_until, consent_given=body.consent.given,
            consent_wording_version=body.consent.wording_version, provided_materials=tuple(body.provided_materials),
            agent_phone=body.agent_phone, agent_id_number=body.agent_id_number,
            sensitive_consent_given=body.consent.sensitive_given)
        return idempotent("application.create", request, body.dict(),
                          lambda uow: applications.file_application(uow, req, actor=body.filed_by))

    @app.get("/api/applications", dependencies=auth, tags=["applications"])
    def list_applications(community: str | None = None, status: str | None = None, limit: int = 50, offset: int = 0):
        return applications.list_applications(make_uow(), community=community, status=status,
                                              limit=max(1, min(limit, 200)), offset=max(0, offset))

    @app.get("/api/applications/{application_id}", dependencies=auth, tags=["applications"])
    def get_application(application_id: int):
        return applications.get_application(make_uow(), application_id)

    @app.post("/api/applications/{application_id}/actions", dependencies=auth, tags=["applications"])
    def application_action(application_id: int, body: s.ApplicationActionIn, request: Request):
        return idempotent("application.action", request, {"id": application_id, **body.dict()},
                          lambda uow: applications.change_application(uow, application_id, body.action,
                                                                      actor=body.actor, note=body.note))

    @app.post("/api/status", dependencies=auth, tags=["bookings", "applications"])
    def status(body: s.StatusIn):
        """Progress of a booking or an application, for the caller who knows its phone tail."""
        try:
            return {"kind": "booking", **bookings.find_booking(make_uow(), body.reference, body.phone_last4)}
        except ServiceError:
            return {"kind": "application",
                    **applications.find_application_status(make_uow(), body.reference, body.phone_last4)}

    @app.get("/health", tags=["ops"])
    def health():
        return {"status": "ok"}

    return app
