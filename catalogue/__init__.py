"""The service catalogue: one YAML file of errands, loaded once, matched by text.

Every part of the helpline reads errands from here: the assistant's answers, the booking
flow's checks, the speech side's language model. Matching is tolerant of how speech
recognition mangles service names (公鸡金 for 公积金): an exact name first, then the same
sounds (pinyin), then a near miss of the sounds.
"""
from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import yaml

DEFAULT_PATH = Path(__file__).with_name("services.yml")
OFFER_LABELS = {"assisted": "帮办", "proxy": "代办", "home_visit": "上门"}


@dataclass(frozen=True)
class ServiceItem:
    code: str
    intent: str
    name: str
    synonyms: tuple[str, ...]
    answer: str
    materials: tuple[str, ...]
    channels: dict[str, str]
    cross_province: bool
    offers: dict[str, bool]

    @property
    def spoken_names(self) -> tuple[str, ...]:
        return (self.name, *self.synonyms)

    @property
    def offered_modes(self) -> list[str]:
        """Labels of the help we offer for this errand, e.g. ['帮办', '代办']."""
        return [label for key, label in OFFER_LABELS.items() if self.offers.get(key)]

    @property
    def bookable(self) -> bool:
        return bool(self.offered_modes)


@dataclass
class Catalogue:
    city: str
    wording_version: str
    items: list[ServiceItem]
    _by_code: dict[str, ServiceItem] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_code = {item.code: item for item in self.items}

    def get(self, code: str | None) -> ServiceItem | None:
        return self._by_code.get(code or "")

    def for_intent(self, intent: str | None) -> list[ServiceItem]:
        return [item for item in self.items if item.intent == intent]

    @property
    def intents(self) -> list[str]:
        return sorted({item.intent for item in self.items})

    def match(self, text: str | None, among: Iterable[ServiceItem] | None = None) -> list[ServiceItem]:
        """Items named in `text`, best first; only the best-scoring ones are returned.

        Several items come back only when the text fits them equally well, which is
        the caller's cue for a clarifying question.
        """
        if not text:
            return []
        pool = list(among) if among is not None else self.items
        scored = [(score, item) for item in pool if (score := _score(text, item)) > 0]
        if not scored:
            return []
        best = max(score for score, _ in scored)
        return [item for score, item in scored if score == best]


@functools.lru_cache(maxsize=4096)
def _pinyin(text: str) -> str:
    from pypinyin import lazy_pinyin

    return " ".join(lazy_pinyin(text))


_NON_HAN = re.compile(r"[^\u4e00-\u9fff]")


def _score(text: str, item: ServiceItem) -> float:
    """How well `text` names `item`: exact characters > same sounds > near-miss sounds."""
    from rapidfuzz import fuzz

    text = text.strip()
    best = 0.0
    han = _NON_HAN.sub("", text)
    text_py = f" {_pinyin(han)} " if han else ""
    for name in item.spoken_names:
        if name in text:
            best = max(best, 300 + len(name))
            continue
        if not text_py:
            continue
        name_py = _pinyin(name)
        if f" {name_py} " in text_py:
            best = max(best, 200 + len(name))
        elif len(name) >= 4 and len(name_py) <= len(text_py):
            # partial_ratio aligns the shorter string inside the longer one; the name
            # must be the shorter, or a bare "医保" would match every 医保… item.
            ratio = fuzz.partial_ratio(name_py, text_py.strip())
            if ratio >= 90:
                best = max(best, 100 + ratio / 10 + len(name) / 100)
    return best


@functools.lru_cache(maxsize=4)
def load_catalogue(path: str | None = None) -> Catalogue:
    """Load and check the catalogue (path from CATALOGUE_PATH, else the bundled file)."""
    source = Path(path or os.environ.get("CATALOGUE_PATH") or DEFAULT_PATH)
    raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    items = [
        ServiceItem(
            code=entry["code"],
            intent=entry["intent"],
            name=entry["name"],
            synonyms=tuple(entry.get("synonyms") or ()),
            answer=entry["answer"].strip(),
            materials=tuple(entry.get("materials") or ()),
            channels=dict(entry.get("channels") or {}),
            cross_province=bool(entry.get("cross_province")),
            offers={key: bool((entry.get("offers") or {}).get(key)) for key in OFFER_LABELS},
        )
        for entry in raw["items"]
    ]
    _check(items)
    return Catalogue(city=raw.get("city", ""), wording_version=str(raw.get("wording_version", "")), items=items)


def _check(items: list[ServiceItem]) -> None:
    codes: set[str] = set()
    owner: dict[str, str] = {}
    for item in items:
        if item.code in codes:
            raise ValueError(f"catalogue: duplicate code {item.code}")
        codes.add(item.code)
        for name in item.spoken_names:
            if owner.setdefault(name, item.code) != item.code:
                raise ValueError(f"catalogue: '{name}' names both {owner[name]} and {item.code}")
