"""Calls, as the voice gateway reports them."""
from __future__ import annotations

from fastapi import APIRouter, Request

from proxy_service.api import schemas as s
from proxy_service.api.auth import AUTHENTICATED
from proxy_service.api.idempotency import respond_once
from proxy_service.services import calls

router = APIRouter(dependencies=AUTHENTICATED, tags=["calls"])


@router.post("/api/calls/leases")
def keep_leases(body: s.CallLeasesIn, request: Request):
    """The gateway's heartbeat for its calls; a call whose lease runs out was lost with its
    gateway, and the worker files a callback for its caller."""
    return calls.keep_leases(request.app.state.make_uow(), renew=body.renew, release=body.release,
                             seconds=body.seconds)


# `:path` so that a call_sid with a slash is refused like any other bad one (422), not 404.
@router.put("/api/calls/{call_sid:path}")
def report_call(call_sid: str, body: s.CallReportIn, request: Request):
    """Upsert: the first report creates the call (channel required), later ones fill in
    or overwrite only the fields they carry; repeating a report changes nothing."""
    data = body.dict()
    transfer = data.pop("transfer") or {}
    report = calls.CallReport(**data, **{f"transfer_{name}": value for name, value in transfer.items()})
    return respond_once("call.report", request, {"sid": call_sid, **body.dict()},
                        lambda uow: calls.report_call(uow, call_sid, report, actor="api"))


@router.get("/api/calls/{call_sid:path}")
def get_call(call_sid: str, request: Request):
    return calls.get_call(request.app.state.make_uow(read_only=True), call_sid)
