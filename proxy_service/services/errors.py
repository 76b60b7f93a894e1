"""Errors a caller of the service layer can act on, each with a Chinese and an English message."""
from __future__ import annotations


class ServiceError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, zh: str, en: str, **details):
        super().__init__(en)
        self.zh, self.en, self.details = zh, en, details

    def as_dict(self) -> dict:
        return {"error": self.code, "message_zh": self.zh, "message_en": self.en, **self.details}


class InvalidRequest(ServiceError):
    status, code = 422, "invalid"


class NotFound(ServiceError):
    status, code = 404, "not_found"


class Conflict(ServiceError):
    status, code = 409, "conflict"


class SlotFull(Conflict):
    code = "slot_full"


class Unauthorized(ServiceError):
    status, code = 401, "unauthorized"


class TooManyAttempts(ServiceError):
    status, code = 429, "too_many_attempts"

