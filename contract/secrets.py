"""The helpline's secrets: made once for each machine, never a value anyone has read.

On a development machine nothing needs configuring: the first process that asks (usually
`make run`) generates every secret into `var/secrets.env` (mode 0600, under a file lock so
processes starting together agree), and every process reads it from there; a variable set
in the environment wins over the file. With `HELPLINE_ENV=production` the file is never
read or written: each secret must come from the environment, and a service refuses to
start when one it needs is missing, shorter than its minimum, or a value published in this
repository, naming which.

`python -m contract.secrets` makes the file (or, in production, checks every secret);
`make run` calls it before it starts anything.
"""
from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

ROOT = Path(__file__).resolve().parent.parent


def _token() -> str:
    return secrets.token_urlsafe(32)


def _data_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class Secret:
    name: str
    purpose: str
    min_length: int
    generate: Callable[[], str]


SERVICE_TOKEN = "SERVICE_TOKEN"
ACTION_SERVER_SECRET = "ACTION_SERVER_SECRET"
RASA_API_TOKEN = "RASA_API_TOKEN"
DATA_ENCRYPTION_KEY = "DATA_ENCRYPTION_KEY"
DATA_HMAC_KEY = "DATA_HMAC_KEY"
TWILIO_AUTH_TOKEN = "TWILIO_AUTH_TOKEN"
PBX_TOKEN = "PBX_TOKEN"

SECRETS = {secret.name: secret for secret in (
    Secret(SERVICE_TOKEN, "the actions and the gateway → the proxy_service API", 32, _token),
    Secret(ACTION_SERVER_SECRET, "Rasa → the action server", 32, _token),
    Secret(RASA_API_TOKEN, "Rasa's HTTP API (trackers, model); the REST channel stays open", 32, _token),
    # Comma-separated for rotation: the first key encrypts, every key decrypts.
    Secret(DATA_ENCRYPTION_KEY, "personal data at rest (Fernet keys, newest first)", 44, _data_key),
    Secret(DATA_HMAC_KEY, "the keyed hashes phone numbers are looked up by", 32, _token),
    # Locally the call simulator and the gateway share it; in production it is Twilio's.
    Secret(TWILIO_AUTH_TOKEN, "Twilio's request signatures", 32, _token),
    Secret(PBX_TOKEN, "the PBX's dialplan → the gateway (caller number, what next)", 32, _token),
)}

# Values that appear in this repository, its history or its documentation: never accepted
# in production, whatever their length.
PUBLISHED = frozenset({
    "dev-service-token", "test-service-token", "test-twilio-auth-token", "secret", "change-me",
    "ZGV2LW9ubHkta2V5LWRvLW5vdC11c2UtaW4tcHJvZCE=",
})


# The file's values, read once per process (every settings module of a process calls load()).
_read_once: dict[Path, dict[str, str]] = {}


class SecretsError(SystemExit):
    """A service cannot start: the message names the secret and what is wrong with it."""


def production() -> bool:
    return os.environ.get("HELPLINE_ENV", "development").strip().lower() == "production"


def secrets_file() -> Path:
    return Path(os.environ.get("HELPLINE_SECRETS_FILE") or ROOT / "var" / "secrets.env")


def data_keys(value: str | None) -> tuple[str, ...]:
    """DATA_ENCRYPTION_KEY as its keys, newest first (comma-separated during a rotation)."""
    return tuple(key.strip() for key in (value or "").split(",") if key.strip())


def problem(name: str, value: str | None) -> str | None:
    """What is wrong with a production value of this secret, or None."""
    secret = SECRETS[name]
    parts = list(data_keys(value)) if name == DATA_ENCRYPTION_KEY else [value or ""]
    if not any(parts):
        return f"{name} is not set ({secret.purpose})"
    for part in parts:
        if part in PUBLISHED:
            return f"{name} is a value published in the repository; generate a new one"
        if len(part) < secret.min_length:
            return f"{name} is shorter than {secret.min_length} characters"
    return None


def _read(path: Path) -> dict[str, str]:
    values = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            name, sep, value = line.partition("=")
            if sep and not name.lstrip().startswith("#"):
                values[name.strip()] = value.strip()
    return values


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_file(path: Path | None = None) -> dict[str, str]:
    """The machine's secrets file, with every secret in it (missing ones generated now)."""
    path = path or secrets_file()
    with _locked(path):
        values = _read(path)
        missing = [name for name in SECRETS if not values.get(name)]
        if not missing:
            if path.stat().st_mode & 0o077:
                os.chmod(path, 0o600)
            return values
        values.update({name: SECRETS[name].generate() for name in missing})
        lines = ["# Generated by contract/secrets.py for this machine. Keep it private; never commit it.",
                 *(f"{name}={values[name]}" for name in SECRETS)]
        temporary = path.with_name(path.name + ".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
        return values


def load(*required: str) -> None:
    """Put the secrets into this process's environment, then check the ones it needs.

    Development: values missing from the environment come from the secrets file (made if
    need be). Production: the environment alone, and SecretsError names what is wrong."""
    if production():
        problems = [p for p in (problem(name, os.environ.get(name)) for name in required) if p]
        if problems:
            raise SecretsError("Refusing to start (HELPLINE_ENV=production): " + "; ".join(problems) + ".")
        return
    path = secrets_file()
    if path not in _read_once:
        _read_once[path] = ensure_file(path)
    for name, value in _read_once[path].items():
        if name in SECRETS and not os.environ.get(name):
            os.environ[name] = value


def main() -> None:
    try:
        load(*SECRETS)
    except SecretsError as error:
        print(error, file=sys.stderr)
        raise SystemExit(1) from None
    where = "the environment" if production() else secrets_file()
    print(f"secrets: {len(SECRETS)} in order ({where})")


if __name__ == "__main__":
    main()
