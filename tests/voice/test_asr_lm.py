"""The domain language model: built from nlu_data and the catalogue, smoothed properly,
named by its inputs, and loaded (or replaced by the general LM) by the recogniser."""
from __future__ import annotations

import json
import logging
import math
import os
import re
import time

import pytest

from voice.asr import domain_lm, settings
from voice.asr.lexicon import Dictionary
from voice.asr.vocabularies import all_phrases


def read_arpa(text: str) -> tuple[dict, dict]:
    """log10 probabilities and back-off weights of an ARPA file, by n-gram tuple."""
    prob, backoff, order = {}, {}, 0
    for line in text.splitlines():
        if match := re.match(r"\\(\d)-grams:", line):
            order = int(match.group(1))
            continue
        parts = line.split("\t")
        if order and len(parts) >= 2:
            gram = tuple(parts[1].split())
            prob[gram] = float(parts[0])
            if len(parts) == 3:
                backoff[gram] = float(parts[2])
    return prob, backoff


def probability(prob: dict, backoff: dict, history: tuple, word: str) -> float:
    gram = (*history, word)
    if gram in prob:
        return 10 ** prob[gram]
    return 10 ** backoff.get(history, 0.0) * probability(prob, backoff, history[1:], word)


def test_kneser_ney_distributions_sum_to_one():
    corpus = [("我 想 问 社保卡".split(), 1), ("我 想 办 社保卡".split(), 2), ("社保卡 丢 了".split(), 1),
              ("我 要 转人工".split(), 1), ("对".split(), 3), ("不 对".split(), 1)]
    prob, backoff = read_arpa(domain_lm.kneser_ney_arpa(corpus, order=3))
    vocab = [g[0] for g in prob if len(g) == 1 and g[0] != "<s>"]
    for history in [(), ("<s>",), ("我",), ("<s>", "我"), ("我", "想"), ("想", "问"), ("丢",), ("<s>", "对")]:
        total = sum(probability(prob, backoff, history, w) for w in vocab)
        assert math.isclose(total, 1.0, abs_tol=1e-4), (history, total)
    # Seen continuations are likelier than unseen ones, and nothing has zero probability.
    assert probability(prob, backoff, ("我", "想"), "办") > probability(prob, backoff, ("我", "想"), "问")
    assert probability(prob, backoff, ("我", "想"), "丢") > 0


def test_numbers_are_spelled_as_callers_say_them():
    assert domain_lm.spell_numbers("11月25号下午2点") == "十一月二十五号下午二点"
    assert domain_lm.spell_numbers("编号20261121") == "编号二零二六一一二一"
    assert domain_lm.spell_numbers("尾号5678") == "尾号五六七八"
    assert domain_lm._cardinal(108) == "一百零八" and domain_lm._cardinal(110) == "一百一十"


def test_corpus_is_what_callers_say():
    sentences = domain_lm.nlu_sentences()
    assert len(sentences) > 1000
    assert not any(re.search(r"\]\(|\]\{", s) for s in sentences), "entity markup left in"
    assert "我想给我妈约一个代办" in sentences
    text = "\n".join(s for s, _ in domain_lm.corpus())
    assert "射保卡" not in text and "社保卡" in text          # catalogue slips are corrected
    for phrase in all_phrases():
        assert phrase in text


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("asr-lm")
    started = time.monotonic()
    files = domain_lm.build(out_dir=out)
    return out, files, time.monotonic() - started


def test_build_writes_a_loadable_lm_and_its_dictionary(built):
    from pocketsphinx import NGramModel

    out, files, seconds = built
    assert all(path.exists() for path in files.values())
    assert files["lm.bin"].name == f"domain-{domain_lm.inputs_hash()}.lm.bin"
    summary = json.loads(files["json"].read_text(encoding="utf-8"))
    print(f"\ndomain LM: {summary['sentences']} sentences, {summary['vocabulary']} words, "
          f"{len(summary['composed_pronunciations'])} composed pronunciations, built in {seconds:.1f} s")
    assert summary["sentences"] > 2000 and summary["vocabulary"] > 1000
    lm = NGramModel.readfile(str(files["lm.bin"]))
    assert lm.size() == domain_lm.ORDER          # the n-gram order
    prob, _ = read_arpa(files["arpa"].read_text(encoding="utf-8"))
    words = {g[0] for g in prob if len(g) == 1} - {"<s>", "</s>"}
    dictionary = Dictionary.read(files["dic"])
    assert words <= set(dictionary.entries), words - set(dictionary.entries)
    # Service names are whole words with a pronunciation, digits are single words.
    assert dictionary.entries["社保卡"] == ["sh e b ao k a"]
    assert {"幺", "零", "八"} <= words and "二零二六" not in words
    # In-domain word sequences are far likelier than the same words shuffled.
    assert prob.get(("社保卡", "丢", "了")) or prob.get(("社保卡", "丢了"))


def test_an_unchanged_build_is_reused(built):
    out, files, _ = built
    stamp = files["lm.bin"].stat().st_mtime_ns
    again = domain_lm.build(out_dir=out)
    assert again == files and files["lm.bin"].stat().st_mtime_ns == stamp
    assert domain_lm.main(["--out", str(out)]) == 0


def test_a_stale_build_serves_until_retrained_and_none_means_the_general_lm(built, tmp_path, caplog):
    from voice.asr.pocketsphinx_engine import PocketSphinxRecognizer

    out, files, _ = built
    stale = tmp_path / "asr"
    stale.mkdir()
    for ext, path in files.items():
        (stale / f"domain-0000000000000000.{ext}").write_bytes(path.read_bytes())
    with caplog.at_level(logging.WARNING):
        found = domain_lm.current(stale)
    assert found["lm.bin"].name == "domain-0000000000000000.lm.bin"
    assert "out of date" in caplog.text
    empty = tmp_path / "empty"
    empty.mkdir()
    assert domain_lm.current(empty) is None
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        recognizer = PocketSphinxRecognizer(lm="domain", lm_dir=empty)
    assert recognizer.lm_kind == "general" and recognizer.lm_path == settings.pocketsphinx_general_lm()
    assert "make train" in caplog.text


def test_old_builds_are_pruned(tmp_path, built):
    out, files, _ = built
    for n in range(5):
        for ext, path in files.items():
            target = tmp_path / f"domain-{n:016d}.{ext}"
            target.write_bytes(path.read_bytes())
            os.utime(target, (n, n))
    domain_lm._prune(tmp_path, keep=3)
    assert sorted(p.name for p in tmp_path.glob("*.json")) == [f"domain-{n:016d}.json" for n in (2, 3, 4)]
