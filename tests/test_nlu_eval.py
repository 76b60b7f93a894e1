"""Intent classification on the held-out sentences (never trained on)."""
from __future__ import annotations

import json

import pytest

from tools.eval_nlu import HELDOUT_SETS, evaluate
from tools.model import ROOT

# Floors well below the measured figures (README): a drop under them means the data or
# pipeline broke something, not noise.
MIN_ACCURACY = 0.85
MIN_MACRO_F1 = 0.85


@pytest.mark.parametrize("name", HELDOUT_SETS)
def test_heldout_intent_accuracy_and_f1(model_path, name):
    result = evaluate(model_path, HELDOUT_SETS[name][1])
    out = ROOT / "var" / "test" / f"nlu_eval_{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    report = result["report"]
    assert report["accuracy"] >= MIN_ACCURACY, result["errors"]
    assert report["macro avg"]["f1-score"] >= MIN_MACRO_F1
