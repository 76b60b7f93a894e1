"""JSON API of proxy_service (FastAPI; OpenAPI at /openapi.json, docs at /docs)."""
