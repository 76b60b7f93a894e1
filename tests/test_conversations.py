"""Conversation tests (tests/conversations/test_*.yml) with Rasa's own test runner."""
from __future__ import annotations

import subprocess
import sys

from tools.model import ROOT

CONVERSATIONS = ROOT / "tests" / "conversations"


def test_conversation_stories_pass_without_prediction_errors(model_path, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "rasa", "test", "core", "--stories", str(CONVERSATIONS),
         "--model", str(model_path), "--endpoints", str(ROOT / "endpoints.yml"),
         "--out", str(tmp_path), "--fail-on-prediction-errors", "--no-plot"],
        cwd=ROOT, capture_output=True, text=True,
    )
    failed = tmp_path / "failed_test_stories.yml"
    details = failed.read_text(encoding="utf-8") if failed.exists() else ""
    assert result.returncode == 0, details[-6000:] + result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "story_report.json").exists()
