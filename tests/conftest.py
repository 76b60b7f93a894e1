"""Shared fixtures: the trained model (once per run) and a live Rasa + action server."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from actions.turns import previous_bot_turn  # noqa: F401  (import check: actions load)
from tools.model import ROOT, ensure_model

TEST_VAR = ROOT / "var" / "test"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, process: subprocess.Popen, log: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited early ({process.returncode}); log:\n{log.read_text()[-4000:]}")
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise RuntimeError(f"{url} not ready after {timeout}s; log:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The model for the current inputs; trained once, reused while inputs are unchanged."""
    return ensure_model()


class RasaService:
    """A running Rasa server (REST channel) with its action server."""

    def __init__(self, url: str):
        self.url = url

    def send(self, sender: str, message: str) -> list[dict]:
        response = requests.post(f"{self.url}/webhooks/rest/webhook",
                                 json={"sender": sender, "message": message}, timeout=120)
        response.raise_for_status()
        return response.json()

    def texts(self, sender: str, message: str) -> list[str]:
        return [reply["text"] for reply in self.send(sender, message) if reply.get("text")]

    def parse(self, text: str) -> dict:
        response = requests.post(f"{self.url}/model/parse", json={"text": text}, timeout=120)
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="session")
def rasa(model_path: Path):
    """Start the action server and Rasa on free ports for the whole test session."""
    TEST_VAR.mkdir(parents=True, exist_ok=True)
    action_port, rasa_port = _free_port(), _free_port()
    endpoints = TEST_VAR / "endpoints.yml"
    endpoints.write_text(f'action_endpoint:\n  url: "http://127.0.0.1:{action_port}/webhook"\n')
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}
    logs = {name: TEST_VAR / f"{name}.log" for name in ("actions", "rasa")}
    commands = {
        "actions": [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(action_port)],
        "rasa": [sys.executable, "-m", "rasa", "run", "--enable-api", "-m", str(model_path),
                 "--endpoints", str(endpoints), "--port", str(rasa_port), "-i", "127.0.0.1"],
    }
    processes = {}
    try:
        for name, command in commands.items():
            processes[name] = subprocess.Popen(command, cwd=ROOT, env=env, stdout=logs[name].open("w"),
                                               stderr=subprocess.STDOUT)
        _wait_for(f"http://127.0.0.1:{action_port}/health", processes["actions"], logs["actions"])
        _wait_for(f"http://127.0.0.1:{rasa_port}/status", processes["rasa"], logs["rasa"])
        yield RasaService(f"http://127.0.0.1:{rasa_port}")
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
