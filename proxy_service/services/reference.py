"""Reference data (service places, staff queues) from reference_data.yml into the database."""
from __future__ import annotations

import functools
from pathlib import Path

import yaml

from proxy_service import models as m

REFERENCE_FILE = Path(__file__).resolve().parent.parent / "reference_data.yml"
GENERAL_QUEUE = "general"
COMPLAINTS_QUEUE = "complaints"


@functools.lru_cache(maxsize=1)
def reference_data() -> dict:
    return yaml.safe_load(REFERENCE_FILE.read_text(encoding="utf-8"))


def queue_for_topic(topic: str | None) -> str:
    for queue in reference_data()["queues"]:
        if topic and topic in queue["topics"]:
            return queue["code"]
    return GENERAL_QUEUE


def desk_for_queue(code: str) -> str | None:
    """Where in a service hall a resident meets the staff of queue `code`."""
    return next((queue.get("desk") for queue in reference_data()["queues"] if queue["code"] == code), None)


def load_reference_data(uow) -> None:
    """Insert or update places and queues; safe to run at every start."""
    data = reference_data()
    with uow:
        for entry in data["places"]:
            place = uow.places.for_update(entry["code"]) or uow.places.add(m.ServicePlace(**entry))
            place.name, place.district, place.address = entry["name"], entry["district"], entry["address"]
        for entry in data["queues"]:
            queue = uow.queues.by_code(entry["code"]) or uow.queues.add(
                m.StaffQueue(code=entry["code"], name=entry["name"]))
            queue.name = entry["name"]
        uow.commit()
