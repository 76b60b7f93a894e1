"""Read the NLU training examples the way Rasa does, and tokenize them like JiebaTokenizer."""
from __future__ import annotations

import functools
import re
from pathlib import Path

import yaml

from tools.model import ROOT

NLU_DIR = ROOT / "nlu_data" / "nlu"
JIEBA_DIR = ROOT / "assistant" / "jieba_dict"
ANNOTATION = re.compile(r"\[(?P<text>[^\]]+)\]\((?P<entity>[^)]+)\)")


def parse_example(line: str) -> tuple[str, list[tuple[int, int, str, str]]]:
    """'我[社保卡](service)丢了' → ('我社保卡丢了', [(1, 4, '社保卡', 'service')])."""
    text, spans, cursor = "", [], 0
    for match in ANNOTATION.finditer(line):
        text += line[cursor:match.start()]
        start = len(text)
        text += match["text"]
        spans.append((start, len(text), match["text"], match["entity"].split(":")[0]))
        cursor = match.end()
    return text + line[cursor:], spans


def intent_examples(paths: list[Path] | None = None) -> dict[str, list[str]]:
    """Raw example lines by intent, from every NLU file (or the given ones)."""
    result: dict[str, list[str]] = {}
    for path in paths or sorted(NLU_DIR.glob("*.yml")):
        for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu") or []:
            if "intent" in block:
                lines = [line.strip()[2:].strip() for line in block["examples"].splitlines() if line.strip()]
                result.setdefault(block["intent"], []).extend(lines)
    return result


@functools.lru_cache(maxsize=1)
def _jieba():
    import jieba

    for path in sorted(JIEBA_DIR.iterdir()):
        jieba.load_userdict(str(path))
    return jieba


def token_spans(text: str) -> list[tuple[int, int]]:
    return [(start, end) for _, start, end in _jieba().tokenize(text)]
