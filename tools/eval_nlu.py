"""Evaluate the intent classifier on the held-out sets (tests/nlu_eval/), never trained on.

Two sets, written separately from the training data and from each other:
  heldout.yml        — its errors were read once and the training data widened where they
                       showed gaps (never by copying its sentences): an optimistic figure;
  heldout_fresh.yml  — written later by another hand and never used to change anything.
Writes reports/nlu_eval.json (Rasa's per-intent reports) and reports/nlu_eval.md (tables),
and with --update-readme replaces the tables in README.md.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from tools.model import ROOT, ensure_model

EVAL_DIR = ROOT / "tests" / "nlu_eval"
HELDOUT = EVAL_DIR / "heldout.yml"
HELDOUT_SETS = {
    "heldout_fresh": ("never used to change the data", EVAL_DIR / "heldout_fresh.yml"),
    "heldout": ("errors read once to widen the data: optimistic", HELDOUT),
}
REPORTS = ROOT / "reports"
README = ROOT / "README.md"
START, END = "<!-- nlu-eval:start -->", "<!-- nlu-eval:end -->"


def evaluate(model: Path, heldout: Path = HELDOUT) -> dict:
    """Run `rasa test nlu` on the held-out file and return its intent report."""
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [sys.executable, "-m", "rasa", "test", "nlu", "--nlu", str(heldout), "--model", str(model),
             "--out", out, "--no-plot", "--domain", str(ROOT / "assistant" / "domain")],
            cwd=ROOT, check=True,
        )
        report = json.loads((Path(out) / "intent_report.json").read_text(encoding="utf-8"))
        errors_file = Path(out) / "intent_errors.json"
        errors = json.loads(errors_file.read_text(encoding="utf-8")) if errors_file.exists() else []
    return {"model": model.name, "heldout": str(heldout.relative_to(ROOT)), "report": report, "errors": errors}


def markdown(result: dict) -> str:
    report = result["report"]
    intents = sorted(k for k, v in report.items() if isinstance(v, dict) and "support" in v and k not in
                     {"macro avg", "weighted avg", "micro avg"})
    lines = ["| intent | precision | recall | F1 | n |", "|---|---:|---:|---:|---:|"]
    labels = [(name, name) for name in intents] + [(name, f"**{name}**") for name in ("macro avg", "weighted avg")
                                                   if name in report]
    for name, label in labels:
        row = report[name]
        lines.append(f"| {label} | {row['precision']:.2f} | {row['recall']:.2f} | {row['f1-score']:.2f} | {row['support']} |")
    accuracy = report.get("accuracy")
    if accuracy is not None:
        lines.append(f"\nAccuracy {accuracy:.3f} on "
                     f"{sum(report[n]['support'] for n in intents)} held-out sentences "
                     f"(model `{result['model']}`, `make eval-nlu`).")
    return "\n".join(lines) + "\n"


def write_reports(results: dict[str, dict]) -> str:
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "nlu_eval.json").write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    text = "\n".join(f"**{name}.yml** ({HELDOUT_SETS[name][0]})\n\n{markdown(result)}"
                     for name, result in results.items())
    (REPORTS / "nlu_eval.md").write_text(text, encoding="utf-8")
    return text


def update_readme(table: str) -> None:
    text = README.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"README.md has no {START} … {END} block")
    README.write_text(pattern.sub(lambda _: f"{START}\n{table}{END}", text), encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args()
    model = ensure_model()
    table = write_reports({name: evaluate(model, path) for name, (_, path) in HELDOUT_SETS.items()})
    print(table)
    if args.update_readme:
        update_readme(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
