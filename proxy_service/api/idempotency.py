"""Writes run once per Idempotency-Key: a retried request (Rasa retries actions, people
double-submit) gets the first response back and changes nothing."""
from __future__ import annotations

import hashlib
import json
from typing import Callable

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from proxy_service.api.errors import error
from proxy_service.uow import AlreadyAnswered
from proxy_service.services.errors import Conflict

MAX_KEY_LENGTH = 128


def respond_once(scope: str, request: Request, body: dict, run: Callable) -> JSONResponse:
    """Run a write (a function of a unit of work) once per key; replay the stored response.
    The stored response is looked for in the write's own first transaction (uow.AlreadyAnswered)."""
    make_uow = request.app.state.make_uow
    key = request.headers.get("idempotency-key")
    success = 201 if scope.endswith(".create") else 200
    if key is None:
        return JSONResponse(run(make_uow()), status_code=success)
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        return error(422, "invalid", "请求编号（Idempotency-Key）不对。", "Idempotency-Key must be 1-128 characters.")
    request_hash = hashlib.sha256(json.dumps([scope, body], sort_keys=True, default=str).encode()).hexdigest()

    def replay(answered: AlreadyAnswered) -> JSONResponse:
        if answered.scope != scope or answered.request_hash != request_hash:
            raise Conflict("这个请求编号已经用在别的请求上了。",
                           "Idempotency-Key was already used for a different request.")
        return JSONResponse(answered.response, status_code=answered.status_code, headers={"Idempotent-Replay": "true"})

    try:
        result = run(make_uow((key, scope, request_hash)))
    except AlreadyAnswered as answered:
        return replay(answered)
    except IntegrityError:
        # A concurrent request with the same key committed first: ours rolled back whole.
        with make_uow(read_only=True) as uow:
            record = uow.idempotency_records.get(key)
            if record is None:
                raise
            answered = AlreadyAnswered(record)
        return replay(answered)
    return JSONResponse(result, status_code=success)
