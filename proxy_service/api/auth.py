"""Who may call the JSON API: the services holding SERVICE_TOKEN (actions, gateway)."""
from __future__ import annotations

import hmac

from fastapi import Depends, Header, Request

from proxy_service.services.errors import Unauthorized


async def service_caller(request: Request, authorization: str = Header(None)) -> None:
    """async: a comparison of two strings, run on the event loop rather than sent to a thread."""
    token = (authorization or "").removeprefix("Bearer ").strip()
    expected = request.app.state.settings.service_token
    if not token or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Unauthorized("没有权限。", "missing or wrong service token.") from None


AUTHENTICATED = [Depends(service_caller)]


def requester(request: Request, conversation_id: str | None) -> str:
    """Whom failed look-ups are counted against: the conversation, else the client address."""
    if conversation_id:
        return f"conversation:{conversation_id}"
    return f"client:{request.client.host if request.client else 'unknown'}"


def api_actor(named: str) -> str:
    """Who the audit trail says acted through the API: the name the calling service gives,
    marked as given through the API (the service token proves the service, not the person)."""
    return f"api:{named}"[:64]
