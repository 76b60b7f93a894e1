"""Rasa behind its door: `python -m assistant.serve [rasa run options]`.

Runs `rasa run --enable-api` on RASA_HOST (loopback by default) with its HTTP API (trackers,
model replacement) behind RASA_API_TOKEN; the REST channel the gateway and `make chat` use
needs no token. The secrets come from contract.secrets and are handed to Rasa inside this
process: a token on a command line would be readable by every local user (`ps`, /proc).
The action server's secret reaches Rasa through the environment (endpoints.yml reads
${ACTION_SERVER_SECRET}).
"""
from __future__ import annotations

import os
import sys

from contract import secrets

secrets.load(secrets.RASA_API_TOKEN, secrets.ACTION_SERVER_SECRET)


def rasa_arguments(extra: list[str]) -> list[str]:
    defaults = {"-m": "models", "--endpoints": "endpoints.yml", "--port": os.environ.get("RASA_PORT", "5005"),
                "-i": os.environ.get("RASA_HOST", "127.0.0.1")}
    given = set(extra)
    arguments = ["run", "--enable-api", *extra]
    for option, value in defaults.items():
        if option not in given and not (option == "-i" and "--interface" in given):
            arguments += [option, value]
    return arguments + ["--auth-token", os.environ[secrets.RASA_API_TOKEN]]


def main() -> None:
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", *rasa_arguments(sys.argv[1:])]
    rasa_main()


if __name__ == "__main__":
    main()
