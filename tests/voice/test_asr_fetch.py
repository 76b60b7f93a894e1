"""`make fetch-models`: the Vosk model archive is checked (size, SHA-256) before it is
unpacked, atomically, under var/models/. Served here from a local HTTP server: the real
host is unreachable from our machines, and tests never need the internet."""
from __future__ import annotations

import functools
import hashlib
import http.server
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from tools.model import ROOT
from voice.asr import settings
from voice.asr.fetch import FetchError, fetch, main

NAME = "vosk-model-small-cn-0.22"


def make_archive(folder: Path, name: str = NAME, model: bool = True) -> tuple[Path, int, str]:
    archive = folder / f"{name}.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        if model:
            bundle.writestr(f"{name}/am/final.mdl", b"\x00acoustic model" * 100)
            bundle.writestr(f"{name}/graph/Gr.fst", b"grammar")
        bundle.writestr(f"{name}/README", "Chinese Vosk model, small\n")
    data = archive.read_bytes()
    return archive, len(data), hashlib.sha256(data).hexdigest()


@pytest.fixture
def server(tmp_path):
    """A local HTTP server over tmp_path/www; yields (base URL, list of requested paths)."""
    www = tmp_path / "www"
    www.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{httpd.server_address[1]}", requests
    httpd.shutdown()
    httpd.server_close()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_the_published_archive_is_pinned():
    assert settings.VOSK_MODEL_SIZE == 43898754
    assert settings.VOSK_MODEL_SHA256 == "3af8b0e7e0f835ae9d414ce5df580237a3cfb08d586c9fbbb0f7ff29ad5b14ba"
    assert settings.VOSK_MODEL_URL.endswith(f"/{NAME}.zip") and settings.VOSK_MODEL_PATH.name == NAME
    assert "fetch-models:" in (ROOT / "Makefile").read_text() and "voice.asr.fetch" in (ROOT / "Makefile").read_text()


def test_a_checked_archive_is_unpacked_once(server, tmp_path):
    www, base, requests = server
    _, size, sha = make_archive(www)
    models = tmp_path / "var" / "models"
    target = fetch(f"{base}/{NAME}.zip", models / NAME, size, sha)
    assert (target / "am" / "final.mdl").read_bytes().startswith(b"\x00acoustic")
    assert (target / "README").exists() and leftovers(models) == []
    assert requests == [f"/{NAME}.zip"]
    fetch(f"{base}/{NAME}.zip", models / NAME, size, sha)           # already there: no download
    assert requests == [f"/{NAME}.zip"]


@pytest.mark.parametrize("wrong", ["sha256", "size"])
def test_a_mismatching_archive_is_refused_and_nothing_is_left(server, tmp_path, wrong):
    www, base, _ = server
    _, size, sha = make_archive(www)
    models = tmp_path / "models"
    bad = {"sha256": dict(size=size, sha256="0" * 64), "size": dict(size=size - 1, sha256=sha)}[wrong]
    with pytest.raises(FetchError, match="refusing it"):
        fetch(f"{base}/{NAME}.zip", models / NAME, **bad)
    assert not (models / NAME).exists() and leftovers(models) == []


def test_archives_without_a_model_or_with_unsafe_paths_are_refused(tmp_path):
    archive, size, sha = make_archive(tmp_path, model=False)
    with pytest.raises(FetchError, match="no Vosk model"):
        fetch(archive.as_uri(), tmp_path / "models" / NAME, size, sha)
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as bundle:
        bundle.writestr("../../outside.txt", "x")
    data = evil.read_bytes()
    with pytest.raises(FetchError, match="unsafe path"):
        fetch(evil.as_uri(), tmp_path / "models2" / NAME, len(data), hashlib.sha256(data).hexdigest())
    assert not (tmp_path / "outside.txt").exists()


def test_unreachable_hosts_fail_cleanly(tmp_path):
    with pytest.raises(FetchError, match="cannot download"):
        fetch("http://127.0.0.1:9/none.zip", tmp_path / NAME, 10, "0" * 64)


def test_the_command_exits_non_zero_with_a_clear_message(tmp_path):
    archive, size, sha = make_archive(tmp_path)
    command = [sys.executable, "-m", "voice.asr.fetch", "--url", archive.as_uri(), "--target", str(tmp_path / "m" / NAME),
               "--size", str(size)]
    refused = subprocess.run([*command, "--sha256", "f" * 64], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    assert "does not match the expected" in refused.stderr and "refusing it" in refused.stderr
    assert not (tmp_path / "m" / NAME).exists()
    assert main(["--url", archive.as_uri(), "--target", str(tmp_path / "m" / NAME), "--size", str(size),
                 "--sha256", sha]) == 0
    assert (tmp_path / "m" / NAME / "am" / "final.mdl").exists()
