"""A request body limit counted as the bytes arrive, for every HTTP door we open.

Reading `await request.body()` and then comparing its length reads a chunked (no
Content-Length) 40 MiB body whole before anyone looks; and a check inside a route comes
after authentication. This ASGI middleware sits outside the app: a declared length over the
limit is refused at once, an undeclared one is counted chunk by chunk and refused as soon
as it passes the limit, without reading the rest. What was read is replayed to the app, so
the routes see an ordinary request. The limit may depend on the request (a form with a
file may be larger than a JSON call), and the refusal is the app's own 413 response (an
ASGI response, e.g. Starlette's). Install it with `app.add_middleware(BodyLimit, ...)`: it
then runs before routing, so before any authentication.
"""
from __future__ import annotations

from typing import Any, Callable

Scope = dict
Limit = Callable[[Scope], int]
Refusal = Callable[[Scope, int], Any]     # → an ASGI response (status 413)


def header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers") or []:
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


class BodyLimit:
    def __init__(self, app, limit: Limit, refuse: Refusal):
        self.app, self.limit, self.refuse = app, limit, refuse

    async def _send_refusal(self, scope: Scope, receive, send, limit: int) -> None:
        response = self.refuse(scope, limit)
        response.headers["connection"] = "close"     # the rest of the body is never read
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope)
        declared = header(scope, b"content-length")
        if declared and (not declared.isdigit() or int(declared) > limit):
            await self._send_refusal(scope, receive, send, limit)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._send_refusal(scope, receive, send, limit)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, delivered = b"".join(chunks), False

        async def replay():
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
