"""Start the assistant (action server + Rasa with the REST channel) and talk to it.

Shared by the tests and the benchmarks, so both exercise the same real processes.
"""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import requests

from contract import secrets
from tools.model import ROOT

# The harness and the processes it starts share this machine's secrets (var/secrets.env).
secrets.load()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ready(url: str, process: subprocess.Popen, log: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: process exited ({process.returncode}); log tail:\n{log.read_text()[-4000:]}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise RuntimeError(f"{url} not ready after {timeout}s; log tail:\n{log.read_text()[-4000:]}")


class Assistant:
    """Client of a running Rasa server."""

    def __init__(self, url: str, pids: dict[str, int], actions_url: str | None = None):
        self.url, self.pids, self.actions_url = url, pids, actions_url
        # Rasa's HTTP API (parse, trackers) needs the token; the REST channel does not.
        self.api = {"token": os.environ[secrets.RASA_API_TOKEN]}

    def send(self, sender: str, message: str, metadata: dict | None = None) -> list[dict]:
        body = {"sender": sender, "message": message, **({"metadata": metadata} if metadata else {})}
        response = requests.post(f"{self.url}/webhooks/rest/webhook", json=body, timeout=120)
        response.raise_for_status()
        return response.json()

    def texts(self, sender: str, message: str, metadata: dict | None = None) -> list[str]:
        return [reply["text"] for reply in self.send(sender, message, metadata) if reply.get("text")]

    def parse(self, text: str) -> dict:
        response = requests.post(f"{self.url}/model/parse", params=self.api, json={"text": text}, timeout=120)
        response.raise_for_status()
        return response.json()

    def rss_mib(self) -> dict[str, float]:
        """Resident memory of each process (and its children), from /proc."""
        return {name: tree_rss_kib(pid) / 1024 for name, pid in self.pids.items()}


def child_pids(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def child_running(module: str, parent: int | None = None) -> int:
    """The pid of the child process (of this one, by default) whose command line names `module`."""
    for pid in child_pids(parent or os.getpid()):
        if module in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
            return pid
    raise RuntimeError(f"no child process running {module}")


def tree_rss_kib(pid: int) -> int:
    total = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            total += int(line.split()[1])
    if Path(f"/proc/{pid}/task/{pid}/children").exists():
        for child in child_pids(pid):
            with contextlib.suppress(FileNotFoundError):
                total += tree_rss_kib(child)
    return total


@contextlib.contextmanager
def running_processes(specs: dict[str, tuple[list[str], str]], workdir: Path, env: dict[str, str]) -> Iterator[dict[str, int]]:
    """Start each named command, wait for its health URL, stop them all at the end."""
    workdir.mkdir(parents=True, exist_ok=True)
    processes: dict[str, subprocess.Popen] = {}
    try:
        for name, (command, health) in specs.items():
            log = workdir / f"{name}.log"
            processes[name] = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=log.open("w"),
                                               stderr=subprocess.STDOUT)
            wait_until_ready(health, processes[name], log)
        yield {name: process.pid for name, process in processes.items()}
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@contextlib.contextmanager
def running_api(workdir: Path, database_url: str, token: str = "test-service-token",
                extra_env: dict[str, str] | None = None, workers: int = 1) -> Iterator[str]:
    """proxy_service's API (uvicorn, `workers` processes on one port) on a migrated database; yields its URL."""
    from proxy_service.migrate import upgrade

    upgrade(database_url)
    port = free_port()
    # --ws none: uvicorn's websocket layer needs a newer `websockets` than Rasa pins.
    command = [sys.executable, "-m", "uvicorn", "proxy_service.main:app", "--ws", "none", "--no-proxy-headers", "--host", "127.0.0.1",
               "--port", str(port), *(["--workers", str(workers)] if workers > 1 else [])]
    env = {"DATABASE_URL": database_url, "SERVICE_TOKEN": token, **(extra_env or {})}
    with running_processes({"api": (command, f"http://127.0.0.1:{port}/health")}, workdir, env):
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def running_assistant(model: Path, workdir: Path, api_url: str, token: str = "test-service-token") -> Iterator[Assistant]:
    """The action server and Rasa on free local ports, the actions talking to `api_url`."""
    workdir.mkdir(parents=True, exist_ok=True)
    action_port, rasa_port = free_port(), free_port()
    endpoints = workdir / "endpoints.yml"
    endpoints.write_text(f'action_endpoint:\n  url: "http://127.0.0.1:{action_port}/webhook"\n'
                         '  headers:\n    Authorization: Bearer ${ACTION_SERVER_SECRET}\n')
    env = {"RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2", "PROXY_SERVICE_URL": api_url,
           "SERVICE_TOKEN": token, "ACTION_SERVER_PORT": str(action_port)}
    specs = {   # the entry points `make run` uses (Procfile)
        "actions": ([sys.executable, "-m", "actions.server"], f"http://127.0.0.1:{action_port}/health"),
        "rasa": ([sys.executable, "-m", "assistant.serve", "-m", str(model), "--endpoints", str(endpoints),
                  "--port", str(rasa_port)],
                 f"http://127.0.0.1:{rasa_port}/status?token={os.environ[secrets.RASA_API_TOKEN]}"),
    }
    with running_processes(specs, workdir, env) as pids:
        yield Assistant(f"http://127.0.0.1:{rasa_port}", pids, f"http://127.0.0.1:{action_port}/webhook")


@contextlib.contextmanager
def running_gateway(workdir: Path, rasa_url: str, api_url: str, token: str = "test-service-token",
                    auth_token: str = "test-twilio-auth-token", extra_env: dict[str, str] | None = None,
                    actions_url: str | None = None) -> Iterator[str]:
    """The voice gateway (uvicorn, wsproto WebSockets) on a free port; yields its ws:// stream URL.

    Its public URL is its local address, so the simulator signs what the gateway checks."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "uvicorn", "voice.app:app", "--ws", "wsproto", "--host", "127.0.0.1",
               "--port", str(port)]
    env = {"VOICE_PUBLIC_URL": base, "TWILIO_AUTH_TOKEN": auth_token, "RASA_URL": rasa_url,
           "AUDIOSOCKET_PORT": str(free_port()),   # its own PBX port (GET /health says which)
           "PROXY_SERVICE_URL": api_url, "SERVICE_TOKEN": token, "TTS_CACHE_DIR": str(workdir / "tts-cache"),
           **({"ACTION_SERVER_URL": actions_url} if actions_url else {}),
           "TF_CPP_MIN_LOG_LEVEL": "2", **(extra_env or {})}
    with running_processes({"voice": (command, f"{base}/health")}, workdir, env):
        yield f"ws://127.0.0.1:{port}/twilio/stream"
