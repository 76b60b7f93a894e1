"""The internal doors: the action server and Rasa listen on loopback, and only their own
callers get in (the action server's secret, Rasa's API token; the REST channel stays open)."""
from __future__ import annotations

import os
import socket
import sys
import uuid

import pytest
import requests

from contract import secrets
from tools.model import ROOT
from tools.services import free_port, running_processes


def outside_address() -> str | None:
    """An address of this machine other than loopback (where an attacker on the network knocks)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))     # no packet is sent: it only picks a route
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def refuses_connections(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((host, port)) != 0


@pytest.fixture(scope="module")
def action_server(tmp_path_factory):
    port = free_port()
    workdir = tmp_path_factory.mktemp("actions")
    nobody = f"http://127.0.0.1:{free_port()}"       # its proxy service is not there
    with running_processes({"actions": ([sys.executable, "-m", "actions.server"], f"http://127.0.0.1:{port}/health")},
                           workdir, {"ACTION_SERVER_PORT": str(port), "ACTION_SERVER_MAX_BODY_BYTES": "100000",
                                     "PROXY_SERVICE_URL": nobody}):
        yield f"http://127.0.0.1:{port}", port


def forged_call(action: str = "action_submit_lookup") -> dict:
    return {"next_action": action, "sender_id": "forged", "version": "3.6.2", "domain": {},
            "tracker": {"sender_id": "forged", "slots": {"reference": "20261201", "phone_tail": "0077"},
                        "latest_message": {}, "events": [], "active_loop": {}}}


def test_the_action_server_refuses_a_forged_tracker_without_its_secret(action_server):
    url, _ = action_server
    assert requests.post(f"{url}/webhook", json=forged_call(), timeout=10).status_code == 401
    wrong = {"Authorization": "Bearer " + "x" * 43}
    assert requests.post(f"{url}/webhook", json=forged_call(), headers=wrong, timeout=10).status_code == 401
    assert requests.get(f"{url}/actions", timeout=10).status_code == 401
    assert requests.get(f"{url}/health", timeout=10).status_code == 200


def test_the_action_server_answers_rasa_and_never_echoes_a_tracker(action_server):
    url, _ = action_server
    signed = {"Authorization": f"Bearer {os.environ[secrets.ACTION_SERVER_SECRET]}"}
    listed = requests.get(f"{url}/actions", headers=signed, timeout=10)
    assert listed.status_code == 200 and {"name": "action_hand_off"} in listed.json()
    broken = requests.post(f"{url}/webhook", data=b"{not json", headers={**signed, "Content-Type": "application/json"},
                           timeout=10)
    assert broken.status_code in (400, 500) and "not json" not in broken.text
    too_big = requests.post(f"{url}/webhook", data=b"x" * 200_000, headers=signed, timeout=10)
    assert too_big.status_code == 413


def metric_values(url: str) -> dict[str, float]:
    """The action server's /metrics, sample by sample (name and labels → value)."""
    text = requests.get(f"{url}/metrics", headers={"Authorization": f"Bearer {os.environ[secrets.SERVICE_TOKEN]}"},
                        timeout=10).text
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line and not line.startswith("#")}


def test_the_action_server_counts_its_runs_for_the_service_token_only(action_server):
    url, _ = action_server
    signed = {"Authorization": f"Bearer {os.environ[secrets.ACTION_SERVER_SECRET]}"}
    assert requests.get(f"{url}/metrics", timeout=10).status_code == 401
    assert requests.get(f"{url}/metrics", headers=signed, timeout=10).status_code == 401     # Rasa's secret is not it
    before = metric_values(url)
    assert requests.post(f"{url}/webhook", json=forged_call(), headers=signed, timeout=30).status_code == 200
    assert requests.post(f"{url}/webhook", json=forged_call("action_invented"), headers=signed,
                         timeout=10).status_code == 404
    after = metric_values(url)

    def grew(sample: str) -> float:
        return after.get(sample, 0) - before.get(sample, 0)

    assert grew('helpline_actions_runs_total{action="action_submit_lookup",outcome="ok"}') == 1
    assert grew('helpline_actions_run_seconds_count{action="action_submit_lookup"}') == 1
    assert grew('helpline_actions_runs_total{action="unknown",outcome="rejected"}') == 1
    assert not any("action_invented" in sample for sample in after)      # a forged name is not a label
    assert grew('helpline_actions_api_requests_total{outcome="unreachable"}') >= 1


def test_the_action_server_listens_on_loopback_only(action_server):
    _, port = action_server
    address = outside_address()
    if address is None:
        pytest.skip("this machine has no address besides loopback to knock on")
    assert refuses_connections(address, port)


def test_rasa_api_needs_its_token_and_the_rest_channel_does_not(rasa):
    conversation = f"door-{uuid.uuid4().hex[:8]}"
    assert rasa.send(conversation, "你好")
    tracker = f"{rasa.url}/conversations/{conversation}/tracker"
    assert requests.get(tracker, timeout=10).status_code == 401
    assert requests.get(tracker, params={"token": "dev-service-token"}, timeout=10).status_code == 401
    assert requests.get(tracker, params=rasa.api, timeout=10).status_code == 200
    assert requests.post(f"{rasa.url}/model/parse", json={"text": "你好"}, timeout=10).status_code == 401
    replace = requests.put(f"{rasa.url}/model", json={"model_file": "/tmp/evil.tar.gz"}, timeout=10)
    assert replace.status_code == 401


def test_rasa_listens_on_loopback_only(rasa):
    address = outside_address()
    if address is None:
        pytest.skip("this machine has no address besides loopback to knock on")
    assert refuses_connections(address, int(rasa.url.rsplit(":", 1)[1]))


def test_make_run_starts_the_guarded_entry_points():
    procfile = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if ": " in line)
    assert procfile["actions"] == "python -m actions.server" and procfile["rasa"] == "python -m assistant.serve"
    from rasa.utils.endpoints import read_endpoint_config

    endpoint = read_endpoint_config(str(ROOT / "endpoints.yml"), "action_endpoint")
    assert endpoint.headers == {"Authorization": f"Bearer {os.environ[secrets.ACTION_SERVER_SECRET]}"}
    assert endpoint.url.startswith("http://127.0.0.1:")
