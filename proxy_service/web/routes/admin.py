"""Accounts, for administrators: create staff, community workers and other administrators."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request

from proxy_service.services import accounts
from proxy_service.services.errors import ServiceError
from proxy_service.web import pages
from proxy_service.web.security import allow

router = APIRouter(include_in_schema=False, prefix="/admin")
admin_only = allow("admin")


def _users_page(request: Request, status: int = 200, error: ServiceError | None = None, form: dict | None = None):
    return pages.render(request, "admin_users.html", status_code=status,
                        users=accounts.list_users(request.app.state.make_uow(read_only=True)), roles=accounts.ROLE_LABELS,
                        error=error, form=form or {}, min_password=accounts.MIN_PASSWORD_LENGTH)


@router.get("/users")
def users(request: Request, _account=Depends(admin_only)):
    return _users_page(request)


@router.post("/users")
def create_user(request: Request, account=Depends(admin_only), username: str = Form(""),
                display_name: str = Form(""), role: str = Form(""), community: str = Form(""),
                password: str = Form("")):
    try:
        accounts.create_user(request.app.state.make_uow(), username=username, display_name=display_name, role=role,
                             community=community, password=password, actor=account.username)
    except ServiceError as error:
        form = {"username": username, "display_name": display_name, "role": role, "community": community}
        return _users_page(request, error.status, error, form)
    return pages.back_to("/admin/users", "user_created")


@router.post("/users/{user_id}/active")
def set_active(request: Request, user_id: int, account=Depends(admin_only), active: str = Form("")):
    accounts.set_active(request.app.state.make_uow(), user_id, active == "true", actor=account.username)
    return pages.back_to("/admin/users", "user_updated")


@router.post("/users/{user_id}/password")
def reset_password(request: Request, user_id: int, account=Depends(admin_only), password: str = Form("")):
    try:
        accounts.reset_password(request.app.state.make_uow(), user_id, password, actor=account.username)
    except ServiceError as error:
        return _users_page(request, error.status, error)
    return pages.back_to("/admin/users", "password_reset")
