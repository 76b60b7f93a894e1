"""Debian's Chromium driven by Playwright, and axe-core (from npm) run inside the page.

Playwright's own browser downloads are never used: the executable is /usr/bin/chromium,
installed by tools/ensure-debian-packages.sh. The flags keep Chromium off the network
(this machine has none) and make it start clean.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from tools.model import ROOT

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--lang=zh-CN",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.0/2.1 A and AA rules; only violations of these two impacts fail a test.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = {"serious", "critical"}


def missing_tools() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing: run `make install` (apt-get install chromium) first"
    if not AXE.exists():
        return f"{AXE} is missing: run `make install` (npm ci) first"
    return None


def axe_violations(page) -> list[dict]:
    """Run axe-core on the current page; the serious and critical violations, readable.

    The script is evaluated over the DevTools protocol, so the console's Content Security
    Policy (script-src 'self') stays on while it runs."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS)
    return [{"rule": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"] if v["impact"] in BLOCKING]


def describe(violations: list[dict]) -> str:
    return json.dumps(violations, ensure_ascii=False, indent=1)


def overflows_horizontally(page) -> bool:
    """True when the page itself scrolls sideways (tables may scroll inside their own box)."""
    return page.evaluate("() => document.documentElement.scrollWidth > window.innerWidth + 1")
