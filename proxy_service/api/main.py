"""ASGI entry point: `uvicorn proxy_service.api.main:app` (make run starts it on port 8000)."""
from proxy_service.api.app import create_app

app = create_app()
