"""Settings of speech recognition, from environment variables (see .env.example)."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    path = Path(value) if value else default
    return path if path.is_absolute() else ROOT / path


# "auto": Vosk when VOSK_MODEL_PATH holds a Chinese model, else PocketSphinx.
ENGINE = os.environ.get("ASR_ENGINE", "auto").strip().lower() or "auto"

POCKETSPHINX_MODEL_DIR = _path("POCKETSPHINX_MODEL_DIR", ROOT.parent / "shared" / "models" / "pocketsphinx-zh-tdt_sc_8k")
# "domain" (generated from nlu_data and the catalogue; the general LM if it is missing) or "general".
POCKETSPHINX_LM = os.environ.get("POCKETSPHINX_LM", "domain").strip().lower()
# The telephone model covers 0–4 kHz and decodes 8 or 16 kHz input. Measured on phone
# audio: 16 kHz 0.084 / 0.547 CER (domain LM on caller speech / general LM on real
# recordings), 8 kHz 0.090 / 0.578, 16 kHz slightly faster (no resampling): 16 kHz.
POCKETSPHINX_RATE = int(os.environ.get("POCKETSPHINX_RATE", "16000"))
# Cepstral mean each utterance starts from (comma-separated); empty = the measured default.
POCKETSPHINX_CMN_INIT = os.environ.get("POCKETSPHINX_CMN_INIT", "").strip()
DOMAIN_LM_DIR = _path("ASR_LM_DIR", ROOT / "models" / "asr")

VOSK_MODEL_NAME = "vosk-model-small-cn-0.22"
VOSK_MODEL_PATH = _path("VOSK_MODEL_PATH", ROOT / "var" / "models" / VOSK_MODEL_NAME)
VOSK_MODEL_URL = os.environ.get("VOSK_MODEL_URL", f"https://alphacephei.com/vosk/models/{VOSK_MODEL_NAME}.zip")
VOSK_MODEL_SIZE = 43898754
VOSK_MODEL_SHA256 = "3af8b0e7e0f835ae9d414ce5df580237a3cfb08d586c9fbbb0f7ff29ad5b14ba"

# Constrained states: how closely (0–100, share of matching syllables) the open-domain
# transcript must agree with the phrase search's result for the phrase to be taken.
AGREEMENT_THRESHOLD = float(os.environ.get("ASR_AGREEMENT_THRESHOLD", "75"))


def pocketsphinx_hmm(model_dir: Path | None = None) -> Path:
    return (model_dir or POCKETSPHINX_MODEL_DIR) / "tdt_sc_8k"


def pocketsphinx_dict(model_dir: Path | None = None) -> Path:
    return (model_dir or POCKETSPHINX_MODEL_DIR) / "lm" / "mandarin_notone.dic"


def pocketsphinx_general_lm(model_dir: Path | None = None) -> Path:
    return (model_dir or POCKETSPHINX_MODEL_DIR) / "lm" / "gigatdt.5000.bigram.lm.bin"
