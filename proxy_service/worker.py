"""Background jobs: deliver the SMS outbox and call back callers whose call was lost with its
gateway (services/calls.sweep_lost_calls) every few seconds; apply retention once a day.

`python -m proxy_service.worker` (make run starts it). `--once` runs each job once and exits.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from proxy_service.services import calls, notifications, retention
from proxy_service.uow import SqlUnitOfWork, new_unit_of_work

log = logging.getLogger("proxy_service.worker")
OUTBOX_INTERVAL = float(os.environ.get("OUTBOX_INTERVAL_SECONDS", "5"))
RETENTION_INTERVAL = float(os.environ.get("RETENTION_INTERVAL_SECONDS", str(24 * 3600)))


def run_once() -> dict:
    return {"outbox": notifications.deliver_pending(new_unit_of_work),
            "lost_calls": calls.sweep_lost_calls(SqlUnitOfWork()),
            "retention": retention.purge_expired(SqlUnitOfWork())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.once:
        print(run_once())
        return 0
    next_retention = 0.0
    while True:
        try:
            counts = notifications.deliver_pending(new_unit_of_work)
            if any(counts.values()):
                log.info("outbox: %s", counts)
            lost = calls.sweep_lost_calls(SqlUnitOfWork())
            if lost["lost_calls"]:
                log.warning("calls lost with their gateway: %s", lost)
            if time.monotonic() >= next_retention:
                log.info("retention: %s", retention.purge_expired(SqlUnitOfWork()))
                next_retention = time.monotonic() + RETENTION_INTERVAL
        except Exception:  # noqa: BLE001 - keep the worker alive; the next round retries
            log.exception("worker round failed")
        time.sleep(OUTBOX_INTERVAL)


if __name__ == "__main__":
    sys.exit(main())
