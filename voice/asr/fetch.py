"""Download the Vosk Chinese model once, check it, unpack it under var/models/.

    python -m voice.asr.fetch            (make fetch-models)

The archive must have exactly the published size and SHA-256; anything else is refused
(non-zero exit, nothing unpacked). Unpacking happens in a scratch folder next to the
target, which is moved into place in one rename: the model folder is either complete
or absent. An existing model is left alone. VOSK_MODEL_URL may point at a mirror (or a
file:// copy) for machines that cannot reach alphacephei.com.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from voice.asr import settings

CHUNK = 1 << 20


class FetchError(RuntimeError):
    pass


def _is_model(path: Path) -> bool:
    return (path / "am" / "final.mdl").is_file()


def download(url: str, dest: Path, size: int, sha256: str, timeout: float = 60) -> None:
    """Stream `url` into `dest`, refusing it unless size and SHA-256 match."""
    digest, received = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(dest, "wb") as out:
            while chunk := response.read(CHUNK):
                received += len(chunk)
                if received > size:
                    raise FetchError(f"{url}: more than the expected {size} bytes; refusing it")
                digest.update(chunk)
                out.write(chunk)
    except OSError as error:
        raise FetchError(f"cannot download {url}: {error}") from error
    if received != size:
        raise FetchError(f"{url}: got {received} bytes, expected {size}; refusing it")
    if digest.hexdigest() != sha256.lower():
        raise FetchError(f"{url}: SHA-256 {digest.hexdigest()} does not match the expected {sha256}; refusing it")


def unpack(archive: Path, target: Path) -> None:
    """Unpack the model inside `archive` to `target` (atomically: one rename at the end)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.") as scratch:
        scratch_path = Path(scratch)
        with zipfile.ZipFile(archive) as bundle:
            for member in bundle.namelist():
                resolved = (scratch_path / member).resolve()
                if not resolved.is_relative_to(scratch_path.resolve()):
                    raise FetchError(f"{archive.name}: unsafe path {member!r} in the archive")
            bundle.extractall(scratch_path)
        roots = [p for p in [scratch_path, *scratch_path.iterdir()] if p.is_dir() and _is_model(p)]
        if not roots:
            raise FetchError(f"{archive.name} holds no Vosk model (no am/final.mdl)")
        os.replace(roots[0], target)


def fetch(url: str | None = None, target: Path | None = None, size: int | None = None,
          sha256: str | None = None) -> Path:
    """Make sure the model is at `target`; download and unpack it if not."""
    url = url or settings.VOSK_MODEL_URL
    target = Path(target or settings.VOSK_MODEL_PATH)
    size = settings.VOSK_MODEL_SIZE if size is None else size
    sha256 = sha256 or settings.VOSK_MODEL_SHA256
    if _is_model(target):
        print(f"Vosk model already present: {target}")
        return target
    if target.exists():
        raise FetchError(f"{target} exists but holds no Vosk model; move it away and run again")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download.") as scratch:
        archive = Path(scratch) / "model.zip"
        print(f"downloading {url} ({size} bytes) …", flush=True)
        download(url, archive, size, sha256)
        unpack(archive, target)
    print(f"Vosk model ready: {target}")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=None, help="archive URL (default VOSK_MODEL_URL)")
    parser.add_argument("--target", type=Path, default=None, help="model folder (default VOSK_MODEL_PATH)")
    parser.add_argument("--size", type=int, default=None, help="expected archive size in bytes")
    parser.add_argument("--sha256", default=None, help="expected archive SHA-256")
    args = parser.parse_args(argv)
    try:
        fetch(args.url, args.target, args.size, args.sha256)
    except FetchError as error:
        print(f"fetch-models: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
