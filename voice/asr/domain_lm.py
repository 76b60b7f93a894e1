"""The domain language model for PocketSphinx, generated from what callers say.

One source of truth: every NLU example in nlu_data/ (entity markup stripped), entity
synonyms and lookup tables, the catalogue's names and synonyms (ASR slips such as
射保卡 replaced by their correct spelling), and the phrases of the constrained states
(voice/asr/vocabularies.py) plus spoken digit strings. Sentences are segmented with
jieba (and the project's Jieba user dictionary); each word keeps the model dictionary's
pronunciations, or gets one composed from its characters. The result is a trigram
back-off LM with interpolated Kneser-Ney smoothing (implemented here), written as ARPA,
converted to PocketSphinx's binary format, with the matching pronunciation dictionary,
and one variant per constrained state whose expected answers are weighted up (used for
the open-domain half of a constrained turn, see vocabularies.py):

    models/asr/domain-<hash>.lm.bin, .<state>.lm.bin, .dic, .arpa, .json (summary)

<hash> covers every input (data, catalogue, dictionaries, this generator), so
`python -m voice.asr.domain_lm` (run by `make train`) does nothing when nothing changed.
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import json
import logging
import math
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Iterable

import yaml

from voice.asr import settings
from voice.asr.lexicon import HAN, Dictionary, write_dictionary

log = logging.getLogger(__name__)

ROOT = settings.ROOT
OUT_DIR = settings.DOMAIN_LM_DIR
NLU_DATA = ROOT / "nlu_data"
JIEBA_DICT = ROOT / "assistant" / "jieba_dict"
PREFIX = "domain-"
ORDER = 3
# How many times a standalone phrase counts, next to one NLU example.
NAME_WEIGHT, PHRASE_WEIGHT = 2, 3
DIGIT_STRINGS = 150
BIAS_WEIGHT = 30          # a constrained state's answers, against 1 per NLU example
KEEP_BUILDS = 3

_MARKUP = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})")
_PUNCT = re.compile(r"[^\u3400-\u9fff0-9A-Za-z]+")
_DIGITS = "零一二三四五六七八九"
_DIGIT_CHARS = set(_DIGITS + "幺两〇")


# ---------------------------------------------------------------- corpus

def _nlu_files() -> list[Path]:
    return sorted(NLU_DATA.rglob("*.yml")) + sorted(NLU_DATA.rglob("*.yaml"))


def _examples(block: str | None) -> list[str]:
    lines = []
    for line in (block or "").splitlines():
        line = line.strip()
        if line.startswith("- "):
            lines.append(line[2:].strip())
    return lines


def nlu_sentences() -> list[str]:
    """Every example sentence, synonym and lookup entry in nlu_data (markup stripped)."""
    sentences = []
    for path in _nlu_files():
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for entry in data.get("nlu") or []:
            if not isinstance(entry, dict) or "regex" in entry:
                continue
            if any(key in entry for key in ("intent", "synonym", "lookup")):
                sentences.extend(_MARKUP.sub(r"\1", ex) for ex in _examples(entry.get("examples")))
    return sentences


def _cardinal(n: int) -> str:
    """1–999 as spoken (十一, 二十五, 一百零八)."""
    if n < 10:
        return _DIGITS[n]
    if n < 20:
        return "十" + (_DIGITS[n % 10] if n % 10 else "")
    if n < 100:
        return _DIGITS[n // 10] + "十" + (_DIGITS[n % 10] if n % 10 else "")
    rest = n % 100
    tail = "" if rest == 0 else ("零" + _DIGITS[rest] if rest < 10 else _cardinal(rest) if rest >= 20 else "一" + _cardinal(rest))
    return _DIGITS[n // 100] + "百" + tail


def spell_numbers(text: str) -> str:
    """Arabic numbers as callers say them: codes and numbers of 4+ digits digit by digit,
    smaller ones as cardinals (11月25号 → 十一月二十五号)."""
    def spoken(match: re.Match) -> str:
        digits = match.group()
        if len(digits) >= 4 or digits.startswith("0"):
            return "".join(_DIGITS[int(d)] for d in digits)
        return _cardinal(int(digits))
    return re.sub(r"\d+", spoken, text)


def corpus() -> list[tuple[str, int]]:
    """(sentence, weight) pairs: the text the language model is estimated from."""
    from catalogue import load_catalogue
    from voice.asr.service_names import targets
    from voice.asr.vocabularies import all_phrases, digit_strings

    slips = targets().slips
    fix_slips = re.compile("|".join(sorted(map(re.escape, slips), key=len, reverse=True))) if slips else None

    def clean(text: str) -> str:
        text = spell_numbers(text)
        return fix_slips.sub(lambda m: slips[m.group()], text) if fix_slips else text

    pairs = [(clean(s), 1) for s in nlu_sentences()]
    names = {clean(n) for item in load_catalogue().items for n in item.spoken_names}
    pairs += [(n, NAME_WEIGHT) for n in sorted(names)]
    pairs += [(p, PHRASE_WEIGHT) for p in all_phrases()]
    pairs += [(d, 1) for d in digit_strings(DIGIT_STRINGS)]
    return [(s, w) for s, w in pairs if s.strip()]


# ---------------------------------------------------------------- words

class Segmenter:
    """jieba with the project's user dictionary; words the model dictionary lacks keep a
    composed pronunciation when they are Chinese, else are split into dictionary words."""

    def __init__(self, dictionary: Dictionary):
        import jieba

        jieba.setLogLevel(logging.WARNING)
        self.dictionary = dictionary
        self.jieba = jieba.Tokenizer()
        for path in sorted(JIEBA_DICT.glob("*")) if JIEBA_DICT.is_dir() else []:
            if path.is_file():
                self.jieba.load_userdict(str(path))
        self.pronunciations: dict[str, list[str]] = {}

    def words(self, sentence: str) -> list[str]:
        words: list[str] = []
        for chunk in _PUNCT.split(sentence):
            chunk = "".join(HAN.findall(chunk))      # Latin letters (app, ID) are not spoken as written
            if not chunk:
                continue
            for token in self.jieba.cut(chunk, HMM=False):
                if len(token) > 1 and all(ch in _DIGIT_CHARS for ch in token):
                    words.extend(w for ch in token for w in self._word(ch))   # digit strings: one word per digit
                else:
                    words.extend(self._word(token))
        return words

    def _word(self, token: str) -> list[str]:
        if token in self.pronunciations:
            return [token]
        prons = self.dictionary.pronunciations(token)
        if prons:
            self.pronunciations[token] = prons
            return [token]
        pieces = self.dictionary.max_match(token) if len(token) > 1 else [token]
        out = []
        for piece in pieces:
            prons = self.dictionary.pronunciations(piece)
            if prons:
                self.pronunciations[piece] = prons
                out.append(piece)
            else:
                log.warning("no pronunciation for %r: left out of the language model", piece)
        return out


# ---------------------------------------------------------------- the LM

BOS, EOS = "<s>", "</s>"


def kneser_ney_arpa(sentences: Iterable[tuple[list[str], int]], order: int = ORDER) -> str:
    """An ARPA back-off LM with interpolated Kneser-Ney smoothing (Chen & Goodman's
    formulation with one discount per order, D = n1 / (n1 + 2·n2)).

    Highest order: real counts. Lower orders: continuation counts (how many different
    words precede the n-gram), except n-grams starting with <s>, which have no left
    context and keep their real counts. Each probability is interpolated with the next
    lower order; the interpolation weight of a history is its ARPA back-off weight, so the
    back-off form gives exactly the interpolated distribution."""
    counts: list[collections.Counter] = [collections.Counter() for _ in range(order + 1)]
    for words, weight in sentences:
        tokens = [BOS, *words, EOS]
        for n in range(1, order + 1):
            for i in range(max(0, 1 if n == 1 else 0), len(tokens) - n + 1):
                counts[n][tuple(tokens[i:i + n])] += weight
    vocab = sorted({g[0] for g in counts[1]} | {BOS})

    # The counts each order is estimated from.
    est: list[collections.Counter] = [collections.Counter() for _ in range(order + 1)]
    est[order] = counts[order]
    for n in range(order - 1, 0, -1):
        cont: collections.Counter = collections.Counter()
        for gram in counts[n + 1]:
            cont[gram[1:]] += 1
        for gram, c in counts[n].items():
            est[n][gram] = c if gram[0] == BOS else cont.get(gram, 0) or c
    est[1].pop((BOS,), None)

    discount = [0.0] * (order + 1)
    for n in range(1, order + 1):
        freq = collections.Counter(c for c in est[n].values())
        n1, n2 = freq.get(1, 0), freq.get(2, 0)
        discount[n] = min(max(n1 / (n1 + 2 * n2), 0.1), 0.9) if n1 + n2 else 0.5

    totals: list[dict] = [{} for _ in range(order + 1)]     # history → (sum of counts, distinct followers)
    for n in range(1, order + 1):
        acc: dict[tuple, list[float]] = {}
        for gram, c in est[n].items():
            slot = acc.setdefault(gram[:-1], [0.0, 0])
            slot[0] += c
            slot[1] += 1
        totals[n] = acc

    prob: list[dict] = [{} for _ in range(order + 1)]
    backoff: list[dict] = [{} for _ in range(order + 1)]
    # unigrams, interpolated with the uniform distribution
    total, distinct = totals[1][()]
    d = discount[1]
    uniform = 1.0 / (len(vocab) - 1)
    for (w,) in [(w,) for w in vocab if w != BOS]:
        c = est[1].get((w,), 0)
        prob[1][(w,)] = max(c - d, 0) / total + d * distinct / total * uniform
    for n in range(2, order + 1):
        for gram, c in est[n].items():
            hist = gram[:-1]
            t, k = totals[n][hist]
            lower = prob[n - 1].get(gram[1:])
            if lower is None:                     # lower-order distribution of a back-off chain
                lower = _backed_off(gram[1:], prob, backoff)
            prob[n][gram] = max(c - discount[n], 0) / t + discount[n] * k / t * lower
        for hist, (t, k) in totals[n].items():
            backoff[n - 1][hist] = discount[n] * k / t

    lines = ["\\data\\"]
    lines += [f"ngram 1={len(vocab)}"] + [f"ngram {n}={len(prob[n])}" for n in range(2, order + 1)]
    lines.append("")
    for n in range(1, order + 1):
        lines.append(f"\\{n}-grams:")
        entries = sorted(prob[n].items())
        if n == 1:
            entries = [((BOS,), 0.0)] + entries
        for gram, p in entries:
            logp = -99.0 if gram == (BOS,) else math.log10(p)
            line = f"{logp:.6f}\t{' '.join(gram)}"
            if n < order and gram in backoff[n]:
                line += f"\t{math.log10(backoff[n][gram]):.6f}"
            lines.append(line)
        lines.append("")
    lines.append("\\end\\")
    return "\n".join(lines) + "\n"


def _backed_off(gram: tuple, prob: list[dict], backoff: list[dict]) -> float:
    n = len(gram)
    if gram in prob[n]:
        return prob[n][gram]
    if n == 1:
        return 1e-9
    return backoff[n - 1].get(gram[:-1], 1.0) * _backed_off(gram[1:], prob, backoff)


# ---------------------------------------------------------------- build

def _input_files() -> list[Path]:
    from catalogue import DEFAULT_PATH

    catalogue = Path(os.environ.get("CATALOGUE_PATH") or DEFAULT_PATH)
    here = Path(__file__).resolve().parent
    files = [*_nlu_files(), catalogue, settings.pocketsphinx_dict(),
             here / "domain_lm.py", here / "lexicon.py", here / "service_names.py", here / "vocabularies.py"]
    files += sorted(p for p in JIEBA_DICT.rglob("*") if p.is_file()) if JIEBA_DICT.is_dir() else []
    return files


def inputs_hash() -> str:
    from importlib.metadata import version

    digest = hashlib.sha256(f"jieba=={version('jieba')} pypinyin=={version('pypinyin')} order={ORDER}\n".encode())
    for path in _input_files():
        name = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _extensions() -> list[str]:
    return ["lm.bin", *(f"{name}.lm.bin" for name in BIASED_STATES), "dic", "arpa", "json"]


def paths(digest: str | None = None, out_dir: Path | None = None) -> dict[str, Path]:
    """The files of one build: the LM, one LM per constrained state, the dictionary, the
    ARPA text (for reading) and a summary (written last: it marks a finished build)."""
    base = (out_dir or OUT_DIR) / f"{PREFIX}{digest or inputs_hash()}"
    return {ext: base.with_name(base.name + f".{ext}") for ext in _extensions()}


# Constrained states whose open-domain half uses a biased LM. Not digits: weighting up
# digit strings made numbers worse (1–2 wrong digits of 11 in 4 of 5 syntheses, against
# 2 of 5 with the plain domain LM, which already holds spoken numbers).
BIASED_STATES = ("yes_no", "mode", "day")


def biased(sentences: list[tuple[list[str], int]], vocabulary: str, segmenter: "Segmenter") -> list[tuple[list[str], int]]:
    """The corpus of a constrained state's open-domain LM: everything callers say, with
    the state's expected answers made much likelier. Off-list speech still decodes as
    the sentence it is (the whole domain is there), but a short 好的 is no longer heard
    as the likelier-in-general 调整."""
    from voice.asr.vocabularies import phrases

    answers = [(segmenter.words(p), BIAS_WEIGHT) for p in phrases(vocabulary)]
    return sentences + [(words, weight) for words, weight in answers if words]


def build(out_dir: Path | None = None, force: bool = False) -> dict[str, Path]:
    """Generate the LM and dictionary for the current inputs (skipped when they exist)."""
    import time

    from pocketsphinx import NGramModel

    target = paths(out_dir=out_dir)
    if not force and all(p.exists() for p in target.values()):
        return target
    started = time.monotonic()
    out = target["lm.bin"].parent
    out.mkdir(parents=True, exist_ok=True)
    dictionary = Dictionary.read(settings.pocketsphinx_dict())
    segmenter = Segmenter(dictionary)
    pairs = corpus()
    sentences = [(words, w) for s, w in pairs if (words := segmenter.words(s))]
    with tempfile.TemporaryDirectory(dir=out) as scratch:
        scratch_path = Path(scratch)
        written = {"arpa": scratch_path / "lm.arpa", "dic": scratch_path / "lm.dic", "json": scratch_path / "lm.json"}
        written["arpa"].write_text(kneser_ney_arpa(sentences), encoding="utf-8")
        for ext, corpus_ in [("lm.bin", sentences), *((f"{v}.lm.bin", biased(sentences, v, segmenter)) for v in BIASED_STATES)]:
            arpa_path = scratch_path / f"{ext}.arpa"
            if ext == "lm.bin":
                arpa_path = written["arpa"]
            else:
                arpa_path.write_text(kneser_ney_arpa(corpus_), encoding="utf-8")
            written[ext] = scratch_path / ext
            NGramModel.readfile(str(arpa_path)).write(str(written[ext]), NGramModel.str_to_type("bin"))
        write_dictionary(written["dic"], segmenter.pronunciations)
        summary = {
            "inputs_hash": target["json"].name.removeprefix(PREFIX).removesuffix(".json"),
            "sentences": len(sentences),
            "words": sum(len(w) for w, _ in sentences),
            "vocabulary": len(segmenter.pronunciations),
            "composed_pronunciations": sorted(w for w in segmenter.pronunciations if w not in dictionary),
            "order": ORDER,
            "seconds": round(time.monotonic() - started, 2),
        }
        written["json"].write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
        # Each file appears complete or not at all; the .json (moved last) marks a finished build.
        for ext in _extensions():
            os.replace(written[ext], target[ext])
    _prune(out, keep=KEEP_BUILDS)
    return target


def _prune(out: Path, keep: int) -> None:
    """Delete all but the `keep` newest builds (an older one can serve while stale)."""
    builds = sorted(out.glob(f"{PREFIX}*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for summary in builds[keep:]:
        for path in out.glob(summary.name.removesuffix("json") + "*"):
            path.unlink(missing_ok=True)


def current(out_dir: Path | None = None) -> dict[str, Path] | None:
    """The LM files for the current inputs; else the newest built ones (with a warning
    that they are out of date); else None."""
    try:
        target = paths(out_dir=out_dir)
    except FileNotFoundError as error:           # e.g. a deployment without nlu_data
        log.warning("domain language model inputs missing (%s)", error)
        target = None
    if target and all(p.exists() for p in target.values()):
        return target
    built = sorted((out_dir or OUT_DIR).glob(f"{PREFIX}*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for summary in built:
        found = paths(summary.name.removeprefix(PREFIX).removesuffix(".json"), out_dir)
        if all(p.exists() for p in found.values()):
            log.warning("domain language model is out of date (inputs changed); using %s — run `make train`",
                        found["lm.bin"].name)
            return found
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="regenerate even if the inputs did not change")
    parser.add_argument("--out", type=Path, default=None, help=f"output folder (default {OUT_DIR})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not settings.pocketsphinx_dict().exists():
        # A deployment on Vosk alone need not have the PocketSphinx model: nothing to build.
        print(f"PocketSphinx model not found ({settings.pocketsphinx_dict()}): speech language model not built")
        return 0
    target = paths(out_dir=args.out)
    if not args.force and all(p.exists() for p in target.values()):
        print(f"speech language model up to date: {target['lm.bin']}")
        return 0
    target = build(out_dir=args.out, force=args.force)
    summary = json.loads(target["json"].read_text(encoding="utf-8"))
    print(f"speech language model: {target['lm.bin']} ({summary['sentences']} sentences, "
          f"{summary['vocabulary']} words, {len(summary['composed_pronunciations'])} composed pronunciations, "
          f"{summary['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
