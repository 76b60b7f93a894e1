"""Staff pages of handoff tickets: the queues, one queue, one ticket and what staff do with it."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request

from proxy_service.services import tickets
from proxy_service.services.errors import NotFound, ServiceError
from proxy_service.web import pages
from proxy_service.web.security import STAFF, allow

router = APIRouter(include_in_schema=False)
staff = allow(*STAFF)
DONE = {"claim": "claimed", "release": "released", "resolve": "resolved", "schedule_callback": "callback_scheduled"}


@router.get("/queues")
def queues(request: Request, _account=Depends(staff)):
    return pages.render(request, "queues.html", queues=tickets.list_queues(request.app.state.make_uow(read_only=True)))


@router.get("/queues/{code}")
def queue(request: Request, code: str, _account=Depends(staff)):
    return pages.render(request, "queue.html", queue=tickets.queue_page(request.app.state.make_uow(read_only=True), code))


def _ticket_page(request: Request, ticket_id: int, account, status: int = 200, error: ServiceError | None = None,
                 form: dict | None = None, ticket: dict | None = None, record_view: bool = False):
    """The ticket page; after a refused form, with the message and what was typed."""
    if isinstance(error, NotFound):
        raise error
    ticket = ticket or tickets.ticket_page(request.app.state.make_uow(), ticket_id, viewer=account.username,
                                           is_admin=account.role == "admin", record_view=record_view)
    field = error.details.get("field") if error else None
    return pages.render(request, "ticket.html", status_code=status, t=ticket, error=error, error_field=field,
                        form=form or {}, max_note=tickets.MAX_NOTE_LENGTH,
                        callback_range=tickets.callback_input_range())


@router.get("/tickets/{ticket_id}")
def ticket(request: Request, ticket_id: int, account=Depends(staff)):
    return _ticket_page(request, ticket_id, account, record_view=True)


@router.post("/tickets/{ticket_id}/reveal")
def reveal(request: Request, ticket_id: int, account=Depends(staff)):
    shown = tickets.reveal_phone(request.app.state.make_uow(), ticket_id, actor=account.username,
                                 is_admin=account.role == "admin")
    return _ticket_page(request, ticket_id, account, ticket=shown)


@router.post("/tickets/{ticket_id}/notes")
def add_note(request: Request, ticket_id: int, account=Depends(staff), note: str = Form("")):
    try:
        tickets.add_note(request.app.state.make_uow(), ticket_id, note, actor=account.username)
    except ServiceError as error:
        return _ticket_page(request, ticket_id, account, error.status, error, {"note": note})
    return pages.back_to(f"/tickets/{ticket_id}", "note_added")


@router.post("/tickets/{ticket_id}/actions")
def act(request: Request, ticket_id: int, account=Depends(staff), action: str = Form(""),
        callback_from: str = Form(""), resolve_note: str = Form("")):
    try:
        tickets.staff_action(request.app.state.make_uow(), ticket_id, action, actor=account.username,
                             is_admin=account.role == "admin", callback_text=callback_from, note=resolve_note)
    except ServiceError as error:
        return _ticket_page(request, ticket_id, account, error.status, error,
                            {"callback_from": callback_from, "resolve_note": resolve_note})
    return pages.back_to(f"/tickets/{ticket_id}", DONE[action])
