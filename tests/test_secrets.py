"""Secrets: generated once per machine in development, required from the environment in
production, where every service refuses to start on a missing, short or published one."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from contract import secrets
from tools.model import ROOT


def run_python(code: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    base = {key: os.environ[key] for key in ("PATH", "HOME") if key in os.environ}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**base, **env}, capture_output=True,
                          text=True, timeout=timeout)


def good_production_env(tmp_path) -> dict[str, str]:
    values = {name: secret.generate() for name, secret in secrets.SECRETS.items()}
    return {"HELPLINE_ENV": "production", "HELPLINE_SECRETS_FILE": str(tmp_path / "never.env"), **values}


def test_the_first_start_generates_every_secret_once_into_a_private_file(tmp_path, monkeypatch):
    path = tmp_path / "var" / "secrets.env"
    first = secrets.ensure_file(path)
    assert set(first) == set(secrets.SECRETS)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(set(first.values())) == len(first), "every secret is its own"
    assert all(not secrets.problem(name, value) for name, value in first.items()), "fit for production too"
    assert secrets.ensure_file(path) == first, "made once, then read"


def test_processes_starting_together_agree_on_the_secrets(tmp_path):
    path = tmp_path / "secrets.env"
    code = "from contract import secrets; from pathlib import Path; import sys; " \
           f"print(secrets.ensure_file(Path({str(path)!r}))['SERVICE_TOKEN'])"
    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(lambda _: run_python(code, {}), range(4)))
    assert {run.stdout.strip() for run in runs} == {secrets._read(path)["SERVICE_TOKEN"]}


def test_the_environment_wins_over_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("HELPLINE_SECRETS_FILE", str(tmp_path / "secrets.env"))
    monkeypatch.setenv("SERVICE_TOKEN", "set-by-the-operator-" + "x" * 20)
    monkeypatch.delenv("DATA_HMAC_KEY", raising=False)
    secrets.load()
    assert os.environ["SERVICE_TOKEN"] == "set-by-the-operator-" + "x" * 20
    assert os.environ["DATA_HMAC_KEY"] == secrets._read(tmp_path / "secrets.env")["DATA_HMAC_KEY"]


@pytest.mark.parametrize("value, says", [
    (None, "SERVICE_TOKEN is not set"),
    ("dev-service-token", "SERVICE_TOKEN is a value published"),
    ("short-token", "SERVICE_TOKEN is shorter than 32"),
])
def test_production_refuses_a_missing_published_or_short_secret(value, says):
    assert secrets.problem("SERVICE_TOKEN", value).startswith(says)
    assert secrets.problem("DATA_ENCRYPTION_KEY", secrets.SECRETS["DATA_ENCRYPTION_KEY"].generate() +
                           ",ZGV2LW9ubHkta2V5LWRvLW5vdC11c2UtaW4tcHJvZCE=").startswith(
        "DATA_ENCRYPTION_KEY is a value published"), "an old published key is refused even second in a rotation"


# Each service's entry point, imported as its process would be: (module, a secret it needs).
ENTRY_POINTS = [
    ("proxy_service.main", "DATA_HMAC_KEY"),
    ("actions.server", "ACTION_SERVER_SECRET"),
    ("assistant.serve", "RASA_API_TOKEN"),
    ("voice.app", "TWILIO_AUTH_TOKEN"),
]


@pytest.mark.parametrize("module, needed", ENTRY_POINTS)
def test_every_service_refuses_to_start_in_production_naming_the_secret(module, needed, tmp_path):
    env = good_production_env(tmp_path)
    started = run_python(f"import {module}", env)
    assert started.returncode == 0, started.stderr[-2000:]
    del env[needed]
    refused = run_python(f"import {module}", env)
    assert refused.returncode != 0 and f"{needed} is not set" in refused.stderr
    env[needed] = "dev-service-token"
    refused = run_python(f"import {module}", env)
    assert refused.returncode != 0 and f"{needed} is a value published" in refused.stderr
    assert not (tmp_path / "never.env").exists(), "production never writes a secrets file"


def test_make_run_checks_every_secret_first(tmp_path):
    env = good_production_env(tmp_path)
    assert run_python("from contract.secrets import main; main()", env).returncode == 0
    del env["RASA_API_TOKEN"]
    refused = run_python("from contract.secrets import main; main()", env)
    assert refused.returncode == 1 and "RASA_API_TOKEN is not set" in refused.stderr
    makefile = (ROOT / "Makefile").read_text()
    assert "run: secrets train migrate" in makefile and "python -m contract.secrets" in makefile
