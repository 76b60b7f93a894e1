"""Shared fixtures: the trained model (once per run), the proxy_service API on a real
database, and the live assistant (action server + Rasa REST channel) talking to it."""
from __future__ import annotations

from pathlib import Path

import pytest

from tools.model import ROOT, ensure_model
from tools.services import running_api, running_assistant

TEST_VAR = ROOT / "var" / "test"
TOKEN = "test-service-token"


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The model for the current inputs; trained once, reused while inputs are unchanged."""
    return ensure_model()


@pytest.fixture(scope="session")
def api_database_url() -> str:
    path = TEST_VAR / "api.db"
    for leftover in TEST_VAR.glob("api.db*"):
        leftover.unlink()
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def api_url(api_database_url):
    """The real API and web console (uvicorn) on a fresh SQLite file, for the whole run."""
    with running_api(TEST_VAR / "api", api_database_url, TOKEN,
                     extra_env={"UPLOAD_DIR": str(TEST_VAR / "uploads")}) as url:
        yield url


@pytest.fixture
def actions_use_api(api_url, monkeypatch):
    """Point in-process action code at the running API."""
    from actions import settings

    monkeypatch.setattr(settings, "PROXY_SERVICE_URL", api_url)
    monkeypatch.setattr(settings, "SERVICE_TOKEN", TOKEN)
    return api_url


@pytest.fixture(scope="session")
def rasa(model_path: Path, api_url: str):
    """The real assistant: action server + Rasa REST channel, started once per test run."""
    with running_assistant(model_path, TEST_VAR, api_url, TOKEN) as assistant:
        yield assistant
