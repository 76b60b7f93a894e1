"""The JSON API app: thin routers (proxy_service/api/routes/) over the service layer.

Every route but /health needs the service token (/metrics too, for Prometheus), the API's description (/docs,
/openapi.json) too. Every write accepts an `Idempotency-Key` header (idempotency.py). Bad
input is answered 4xx with a Chinese and an English message (errors.py); bodies over
API_MAX_BODY_BYTES are refused as they arrive, before the token is looked at. The console is
a separate app (proxy_service/web/app.py); proxy_service/main.py composes them.
"""
from __future__ import annotations

from typing import Callable

from fastapi import FastAPI

from contract.body_limit import BodyLimit
from contract.metrics import RequestMetrics
from proxy_service.api.errors import install_error_handlers, too_large
from proxy_service.api.metrics import ApiMetrics
from proxy_service.api.routes import applications, bookings, calls, ops, tickets
from proxy_service.settings import Settings, get_settings
from proxy_service.uow import SqlUnitOfWork, new_unit_of_work

ROUTERS = (bookings, tickets, calls, applications, ops)


def create_api_app(settings: Settings | None = None, uow_factory: Callable[..., SqlUnitOfWork] | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(title="政务帮办热线 proxy_service API", version="1.0", docs_url=None, redoc_url=None,
                  openapi_url=None, description="Bookings, proxy applications, handoff tickets and calls of the helpline.")
    app.state.settings, app.state.make_uow = settings, uow_factory or new_unit_of_work
    app.state.metrics = ApiMetrics(app.state.make_uow)
    for module in ROUTERS:
        app.include_router(module.router)
    install_error_handlers(app)
    app.add_middleware(BodyLimit, limit=lambda _scope: settings.max_body_bytes, refuse=too_large)
    app.add_middleware(RequestMetrics, counters=app.state.metrics.requests)
    return app
