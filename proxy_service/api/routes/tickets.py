"""Hand-off tickets and their queues."""
from __future__ import annotations

from fastapi import APIRouter, Request

from proxy_service.api import schemas as s
from proxy_service.api.auth import AUTHENTICATED, api_actor
from proxy_service.api.idempotency import respond_once
from proxy_service.services import tickets

router = APIRouter(dependencies=AUTHENTICATED, tags=["tickets"])


@router.get("/api/queues")
def queues(request: Request):
    return tickets.list_queues(request.app.state.make_uow(read_only=True))


@router.get("/api/queues/{code}/tickets")
def queue_tickets(code: str, request: Request, limit: int = 50, offset: int = 0):
    return tickets.list_queue(request.app.state.make_uow(read_only=True), code, limit=max(1, min(limit, 200)), offset=max(0, offset))


@router.post("/api/tickets", status_code=201)
def create_ticket(body: s.TicketIn, request: Request):
    data = body.dict()
    data["transcript"] = [{**turn, "at": turn["at"].isoformat() if turn["at"] else None}
                          for turn in data["transcript"]]
    req = tickets.TicketRequest(**data)
    return request.app.state.metrics.ticket_filed(body.reason, respond_once(
        "ticket.create", request, data, lambda uow: tickets.create_ticket(uow, req, actor=f"api:{body.channel}")))


@router.get("/api/tickets/{ticket_id}")
def get_ticket(ticket_id: int, request: Request):
    return tickets.get_ticket(request.app.state.make_uow(read_only=True), ticket_id)


@router.post("/api/tickets/{ticket_id}/actions")
def ticket_action(ticket_id: int, body: s.TicketActionIn, request: Request):
    return respond_once("ticket.action", request, {"id": ticket_id, **body.dict()},
                        lambda uow: tickets.change_ticket(uow, ticket_id, body.action, actor=api_actor(body.actor),
                                                          callback_from=body.callback_from, note=body.note))
