"""Shared fixtures: the trained model (once per run) and a live Rasa + action server."""
from __future__ import annotations

from pathlib import Path

import pytest

from tools.model import ROOT, ensure_model
from tools.services import running_assistant


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The model for the current inputs; trained once, reused while inputs are unchanged."""
    return ensure_model()


@pytest.fixture(scope="session")
def rasa(model_path: Path):
    """The real assistant: action server + Rasa REST channel, started once per test run."""
    with running_assistant(model_path, ROOT / "var" / "test") as assistant:
        yield assistant
