"""Where the JSON API and the web console are composed (ASGI entry points for uvicorn).

* `proxy_service.main:app`  — both on one listener (what `make run` starts on port 8000);
  a request goes to the API when its path is the API's, to the console otherwise.
* `proxy_service.main:api`, `proxy_service.main:console` — each alone, so the API can stay
  on an internal address while the console is opened to staff (README, "Doors").
"""
from __future__ import annotations

from typing import Callable

from proxy_service.api.app import create_api_app
from proxy_service.settings import Settings, get_settings
from proxy_service.uow import SqlUnitOfWork
from proxy_service.web.app import create_console_app

API_PATHS = ("/api/", "/health", "/metrics", "/docs", "/openapi.json")


def is_api_path(path: str) -> bool:
    return any(path == prefix.rstrip("/") or path.startswith(prefix) for prefix in API_PATHS)


class Composed:
    """Two ASGI apps on one listener, each with its own errors, limits and headers."""

    def __init__(self, api, console):
        self.api, self.console = api, console

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            await self.api(scope, receive, send)       # neither app has startup work of its own
            return
        target = self.api if is_api_path(scope.get("path", "")) else self.console
        await target(scope, receive, send)


def create_app(settings: Settings | None = None, uow_factory: Callable[..., SqlUnitOfWork] | None = None) -> Composed:
    settings = settings or get_settings()
    return Composed(create_api_app(settings, uow_factory), create_console_app(settings, uow_factory))


app = create_app()
api, console = app.api, app.console
