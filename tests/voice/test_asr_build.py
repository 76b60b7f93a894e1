"""What `make train` builds for the transducer engine: the checked model, and the domain
LM, lexicon and hotwords from what callers say — smoothed properly, named by their
inputs, reused when nothing changed, refused when a model file was tampered with."""
from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import zipfile

import pytest

from voice.asr import build, corpus, ngram, settings
from voice.asr.lexicon import Lexicon
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
    sentences = [("我 想 问 社保卡".split(), 1), ("我 想 办 社保卡".split(), 2), ("社保卡 丢 了".split(), 1),
                 ("我 要 转人工".split(), 1), ("对".split(), 3), ("不 对".split(), 1)]
    prob, backoff = read_arpa(ngram.kneser_ney_arpa(sentences, order=3))
    vocab = [g[0] for g in prob if len(g) == 1 and g[0] != "<s>"]
    for history in [(), ("<s>",), ("我",), ("<s>", "我"), ("我", "想"), ("想", "问"), ("丢",), ("<s>", "对")]:
        total = sum(probability(prob, backoff, history, w) for w in vocab)
        assert math.isclose(total, 1.0, abs_tol=1e-4), (history, total)
    # Seen continuations are likelier than unseen ones, and nothing has zero probability.
    assert probability(prob, backoff, ("我", "想"), "办") > probability(prob, backoff, ("我", "想"), "问")
    assert probability(prob, backoff, ("我", "想"), "丢") > 0


def test_numbers_are_spelled_as_callers_say_them():
    assert corpus.spell_numbers("11月25号下午2点") == "十一月二十五号下午二点"
    assert corpus.spell_numbers("编号20261121") == "编号二零二六一一二一"
    assert corpus.spell_numbers("尾号5678") == "尾号五六七八"
    assert corpus._cardinal(108) == "一百零八" and corpus._cardinal(110) == "一百一十"


def test_the_corpus_is_what_callers_say():
    sentences = corpus.nlu_sentences()
    assert len(sentences) > 1000
    assert not any(re.search(r"\]\(|\]\{", s) for s in sentences), "entity markup left in"
    assert "我想给我妈约一个代办" in sentences
    text = "\n".join(s for s, _ in corpus.sentences())
    assert "射保卡" not in text and "社保卡" in text          # catalogue slips are corrected
    for phrase in all_phrases():
        assert phrase in text
    segmenter = corpus.Segmenter()
    assert segmenter.words("我的社保卡丢了，幺三八零零") == ["我", "的", "社保卡", "丢", "了", *"幺三八零零"]
    terms = corpus.domain_terms()
    assert {"社保卡", "公积金", "转人工", "代办"} <= set(terms) and "射保卡" not in terms


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("asr-build")
    model = build.extract_model(build_dir=out)
    return out, model, build.build(build_dir=out)


def test_the_model_is_extracted_and_checked(built):
    out, model, _ = built
    for name, (_, sha256) in settings.TRANSDUCER_FILES.items():
        assert (model / name).stat().st_size > 0
    assert json.loads((model / "checked.json").read_text()) == {n: s for n, (_, s) in settings.TRANSDUCER_FILES.items()}
    assert build.extract_model(build_dir=out) == model                      # done once


def test_a_tampered_model_file_is_refused(tmp_path):
    source = tmp_path / "model"
    shutil.copytree(settings.TRANSDUCER_DIR, source)
    jar = source / settings.TRANSDUCER_FILES["encoder.onnx"][0]
    with zipfile.ZipFile(jar) as original:
        entry = original.namelist()[0]
        data = original.read(entry)
    with zipfile.ZipFile(jar, "w") as forged:
        forged.writestr(entry, data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(build.BuildError, match="SHA-256"):
        build.extract_model(source_dir=source, build_dir=tmp_path / "out")
    assert not (tmp_path / "out" / "zipformer").exists()
    with pytest.raises(build.BuildError, match="not found"):
        build.extract_model(source_dir=tmp_path / "nowhere", build_dir=tmp_path / "out")


def test_build_writes_the_domain_lm_lexicon_and_hotwords(built):
    import kenlm

    out, _, files = built
    assert all(path.exists() for path in files.values())
    assert files["json"].name == f"domain-{build.inputs_hash()}.json"
    summary = json.loads(files["json"].read_text(encoding="utf-8"))
    print(f"\nspeech domain files: {summary}")
    assert summary["sentences"] > 2000 and summary["lexicon_entries"] > 150_000
    lm = kenlm.Model(str(files["lm"]))
    assert lm.order == ngram.ORDER
    # In-domain word sequences are far likelier than the same words shuffled.
    assert lm.score("社保卡 丢 了 怎么 补办") > lm.score("补办 了 怎么 丢 社保卡") + 3
    lexicon = Lexicon.load(files["lexicon"])
    words = {w for w, _, _ in lexicon.by_key[("she", "bao", "ka")]}
    assert "社保卡" in words                                                 # a domain word
    assert "广州" in {w for w, _, _ in lexicon.by_key[("guang", "zhou")]}   # a general one
    assert ("sh", "e4", "b", "ao3", "k", "a3") in {tuple(line.split()) for line in files["hotwords"].read_text().splitlines()}


def test_an_unchanged_build_is_reused(built):
    out, _, files = built
    stamp = files["lexicon"].stat().st_mtime_ns
    assert build.build(build_dir=out) == files and files["lexicon"].stat().st_mtime_ns == stamp
    assert build.main(["--out", str(out)]) == 0


def test_a_stale_build_serves_until_rebuilt(built, tmp_path, caplog):
    _, _, files = built
    for ext, path in files.items():
        (tmp_path / f"domain-0000000000000000.{ext}").write_bytes(path.read_bytes())
    with caplog.at_level(logging.WARNING):
        found = build.current(tmp_path)
    assert found["lm"].name == "domain-0000000000000000.lm" and "out of date" in caplog.text
    empty = tmp_path / "empty"
    empty.mkdir()
    assert build.current(empty) is None


def test_old_builds_are_pruned(tmp_path, built):
    _, _, files = built
    for n in range(5):
        for ext, path in files.items():
            target = tmp_path / f"domain-{n:016d}.{ext}"
            target.write_bytes(b"x")
            os.utime(target, (n, n))
    build._prune(tmp_path, keep=3)
    assert sorted(p.name for p in tmp_path.glob("*.json")) == [f"domain-{n:016d}.json" for n in (2, 3, 4)]
    assert len(list(tmp_path.glob("domain-*"))) == 3 * len(files)


def test_missing_general_language_files_are_named(monkeypatch, tmp_path):
    monkeypatch.setattr(settings, "GENERAL_LM", tmp_path / "zh_CN.lm")
    with pytest.raises(build.BuildError, match=r"zh_CN\.lm.*libime-data-language-model"):
        build.build(build_dir=tmp_path)
