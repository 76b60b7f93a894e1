"""Train the Rasa model only when its inputs changed.

The model file is named after a hash of everything that shapes it (pipeline, domain,
training data, Jieba dictionary, Rasa version), so `make train`, `make run` and every
test run reuse the same file until one of those changes. The current model is the
newest file in models/ (what `rasa run -m models` loads).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
CONFIG = ROOT / "assistant" / "config.yml"
DOMAIN = ROOT / "assistant" / "domain"
DATA = ROOT / "nlu_data"
# The pipeline's own components are inputs too: a change in how text is normalised or
# featurised changes what the model learns.
COMPONENTS = [ROOT / "assistant" / name for name in ("normalizer.py", "pinyin_features.py", "safety_net.py")]
INPUTS = [CONFIG, DOMAIN, DATA, ROOT / "assistant" / "jieba_dict", *COMPONENTS, ROOT / "voice" / "asr" / "pinyin.py"]
PREFIX = "helpline-"


def _files(path: Path) -> list[Path]:
    return [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())


def inputs_hash() -> str:
    from importlib.metadata import version

    digest = hashlib.sha256(f"rasa=={version('rasa')}\n".encode())
    for path in (f for root in INPUTS for f in _files(root)):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def model_path() -> Path:
    return MODELS / f"{PREFIX}{inputs_hash()}.tar.gz"


def check_dialogue() -> None:
    """Train the dialogue policies alone first (seconds): rule contradictions surface here
    instead of after the several minutes the NLU model takes."""
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run([sys.executable, "-m", "rasa", "train", "core", "--config", str(CONFIG.relative_to(ROOT)),
                        "--domain", str(DOMAIN.relative_to(ROOT)), "--stories", str(DATA.relative_to(ROOT)),
                        "--out", scratch], cwd=ROOT, check=True)


def ensure_model(force: bool = False) -> Path:
    """Return the model for the current inputs, training it first if needed."""
    target = model_path()
    if target.exists() and not force:
        os.utime(target)  # make it the newest again, e.g. after a revert
        print(f"model up to date: {target.relative_to(ROOT)}", flush=True)
        return target
    MODELS.mkdir(exist_ok=True)
    check_dialogue()
    command = [
        sys.executable, "-m", "rasa", "train",
        "--config", str(CONFIG.relative_to(ROOT)),
        "--domain", str(DOMAIN.relative_to(ROOT)),
        "--data", str(DATA.relative_to(ROOT)),
        "--out", str(MODELS.relative_to(ROOT)),
        "--fixed-model-name", target.name.removesuffix(".tar.gz"),
        "--augmentation", "0",
    ]
    print("training model:", " ".join(command), flush=True)
    subprocess.run(command, cwd=ROOT, check=True)
    if not target.exists():
        raise SystemExit(f"rasa train finished but {target} is missing")
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="train even if a model for these inputs exists")
    args = parser.parse_args()
    ensure_model(force=args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
