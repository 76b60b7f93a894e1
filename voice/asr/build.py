"""Generate what the transducer engine needs, under models/asr/ (`make train` runs this).

    python -m voice.asr.build [--force]

1. The model: the four files of ../shared/models/<transducer>/ (the encoder unzipped from
   its .jar), each checked against the SHA-256 in its PROVENANCE.md, the tokens rewritten
   with ASCII names (pinyin.ascii_token) — models/asr/zipformer/.
2. From what callers say (voice/asr/corpus.py: nlu_data, the catalogue, the constrained
   states' phrases): the domain trigram (Kneser-Ney, converted to KenLM's binary format
   with libime-bin's `libime_slm_build_binary`), the lexicon (libime's general dictionary
   plus every domain word, lexicon.py) and the hotwords file (catalogue names and
   commands in the model's tokens) — models/asr/domain-<hash>.{lm,lexicon,hotwords,json}.
<hash> covers every input, so nothing is rebuilt when nothing changed; the .json summary
is written last and marks a finished build.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from voice.asr import settings

log = logging.getLogger(__name__)

PREFIX = "domain-"
EXTENSIONS = ("lm", "lexicon", "hotwords", "json")
KEEP_BUILDS = 3
BUILD_BINARY = "libime_slm_build_binary"
HERE = Path(__file__).resolve().parent
CODE = ("build.py", "corpus.py", "lexicon.py", "ngram.py", "pinyin.py", "service_names.py", "vocabularies.py")


class BuildError(RuntimeError):
    pass


# ---------------------------------------------------------------- the model

def model_dir(build_dir: Path | None = None) -> Path:
    return (build_dir or settings.BUILD_DIR) / "zipformer"


def _source_bytes(name: str, source: Path) -> bytes:
    if source.suffix == ".jar":                          # a zip holding the one .onnx file
        with zipfile.ZipFile(source) as jar:
            entries = [e for e in jar.namelist() if e.endswith(".onnx")]
            if len(entries) != 1:
                raise BuildError(f"{source} should hold one .onnx file, holds {entries}")
            return jar.read(entries[0])
    return source.read_bytes()


def _ascii_tokens(data: bytes) -> bytes:
    from voice.asr.pinyin import ascii_token

    lines = [line.split() for line in data.decode("utf-8").splitlines() if line.strip()]
    return "".join(f"{ascii_token(token)} {index}\n" for token, index in lines).encode()


def extract_model(source_dir: Path | None = None, build_dir: Path | None = None) -> Path:
    """The transducer's files under models/asr/zipformer/ (checked; done once)."""
    source_dir = source_dir or settings.TRANSDUCER_DIR
    target = model_dir(build_dir)
    marker = target / "checked.json"
    expected = {name: sha for name, (_, sha) in settings.TRANSDUCER_FILES.items()}
    tokens_source = source_dir / settings.TRANSDUCER_FILES["tokens.txt"][0]
    if (marker.exists() and json.loads(marker.read_text()) == expected and all((target / n).exists() for n in expected)
            and tokens_source.exists() and (target / "tokens.txt").read_bytes() == _ascii_tokens(tokens_source.read_bytes())):
        return target
    if not source_dir.is_dir():
        raise BuildError(f"speech model folder not found: {source_dir} (set ASR_TRANSDUCER_DIR)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        staged = Path(scratch) / "zipformer"
        staged.mkdir()
        for name, (file_name, sha256) in settings.TRANSDUCER_FILES.items():
            data = _source_bytes(name, source_dir / file_name)
            if hashlib.sha256(data).hexdigest() != sha256:
                raise BuildError(f"{source_dir / file_name}: SHA-256 differs from its PROVENANCE ({sha256}); refusing it")
            (staged / name).write_bytes(_ascii_tokens(data) if name == "tokens.txt" else data)
        (staged / "checked.json").write_text(json.dumps(expected, indent=1))
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)
    return target


# ---------------------------------------------------------------- domain files

def _input_files() -> list[Path]:
    from voice.asr import corpus

    return [*corpus.nlu_files(), corpus.catalogue_file(), *corpus.jieba_files(),
            settings.GENERAL_DICT, *(HERE / name for name in CODE)]


def inputs_hash() -> str:
    from importlib.metadata import version

    digest = hashlib.sha256(f"jieba=={version('jieba')} pypinyin=={version('pypinyin')}\n".encode())
    for path in _input_files():
        name = str(path.relative_to(settings.ROOT)) if path.is_relative_to(settings.ROOT) else path.name
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    lm = settings.GENERAL_LM                             # 17 MB: its identity, not its bytes
    digest.update(f"{lm.name}:{lm.stat().st_size}:{int(lm.stat().st_mtime)}".encode())
    return digest.hexdigest()[:16]


def paths(digest: str | None = None, build_dir: Path | None = None) -> dict[str, Path]:
    base = (build_dir or settings.BUILD_DIR) / f"{PREFIX}{digest or inputs_hash()}"
    return {ext: base.with_name(f"{base.name}.{ext}") for ext in EXTENSIONS}


def _check_general_files() -> None:
    missing = [str(p) for p in (settings.GENERAL_LM, settings.GENERAL_DICT) if not p.exists()]
    if missing:
        raise BuildError("general Chinese language files missing: " + ", ".join(missing) +
                         " (Debian packages libime-data and libime-data-language-model; `make install` installs them)")


def _binary_lm(arpa: Path, out: Path) -> None:
    result = subprocess.run([BUILD_BINARY, "-u", "-8", str(arpa), str(out)], capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise BuildError(f"{BUILD_BINARY} failed: {result.stderr.strip()[-300:]}")


def build(build_dir: Path | None = None, force: bool = False) -> dict[str, Path]:
    """The domain LM, lexicon and hotwords for the current inputs (skipped when they exist)."""
    import kenlm

    from voice.asr import corpus, lexicon, ngram
    from voice.asr.pinyin import model_tokens

    _check_general_files()
    target = paths(build_dir=build_dir)
    if not force and all(p.exists() for p in target.values()):
        return target
    started = time.monotonic()
    out = target["json"].parent
    out.mkdir(parents=True, exist_ok=True)
    segmenter = corpus.Segmenter()
    sentences = [(words, w) for s, w in corpus.sentences() if (words := segmenter.words(s))]
    terms = corpus.domain_terms()
    general = kenlm.Model(str(settings.GENERAL_LM))
    with tempfile.TemporaryDirectory(dir=out) as scratch:
        staged = {ext: Path(scratch) / ext for ext in EXTENSIONS}
        arpa = Path(scratch) / "domain.arpa"
        arpa.write_text(ngram.kneser_ney_arpa(sentences), encoding="utf-8")
        _binary_lm(arpa, staged["lm"])
        domain = kenlm.Model(str(staged["lm"]))

        def prior(model):
            return lambda word: model.score(word, bos=False, eos=False) if word in model else None

        domain_words = list(dict.fromkeys([*(w for words, _ in sentences for w in words), *terms]))
        domain_prior = prior(domain)
        built = lexicon.build(lexicon.read_libime_dictionary(settings.GENERAL_DICT), prior(general),
                              domain_words, lambda word: domain_prior(word) or -8.0)
        built.save(staged["lexicon"])
        hotwords = [" ".join(tokens) for term in terms if (tokens := model_tokens(term))]
        staged["hotwords"].write_text("\n".join(hotwords) + "\n", encoding="utf-8")
        summary = {"inputs_hash": target["json"].name.removeprefix(PREFIX).removesuffix(".json"),
                   "sentences": len(sentences), "domain_words": len(domain_words), "lexicon_entries": len(built),
                   "hotwords": len(hotwords), "seconds": round(time.monotonic() - started, 1)}
        staged["json"].write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
        for ext in EXTENSIONS:                              # the summary moves last
            os.replace(staged[ext], target[ext])
    _prune(out, keep=KEEP_BUILDS)
    return target


def _prune(out: Path, keep: int) -> None:
    """Delete all but the `keep` newest builds (an older one can serve while stale)."""
    builds = sorted(out.glob(f"{PREFIX}*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for summary in builds[keep:]:
        for ext in EXTENSIONS:
            summary.with_suffix(f".{ext}").unlink(missing_ok=True)


def current(build_dir: Path | None = None) -> dict[str, Path] | None:
    """The files for the current inputs; else the newest finished build (with a warning
    that it is out of date); else None."""
    try:
        target = paths(build_dir=build_dir)
    except (FileNotFoundError, OSError) as error:        # e.g. a deployment without nlu_data
        log.warning("speech domain inputs missing (%s)", error)
        target = None
    if target and all(p.exists() for p in target.values()):
        return target
    built = sorted((build_dir or settings.BUILD_DIR).glob(f"{PREFIX}*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for summary in built:
        found = paths(summary.name.removeprefix(PREFIX).removesuffix(".json"), build_dir)
        if all(p.exists() for p in found.values()):
            log.warning("speech domain files are out of date (inputs changed); using %s — run `make train`",
                        found["json"].name)
            return found
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="regenerate even if the inputs did not change")
    parser.add_argument("--out", type=Path, default=None, help=f"output folder (default {settings.BUILD_DIR})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        model = extract_model(build_dir=args.out)
        target = paths(build_dir=args.out)
        if not args.force and all(p.exists() for p in target.values()):
            print(f"speech model and domain files up to date: {model}, {target['json'].name}")
            return 0
        target = build(build_dir=args.out, force=args.force)
    except BuildError as error:
        print(f"speech recognition files not built: {error}", file=sys.stderr)
        return 1
    summary = json.loads(target["json"].read_text(encoding="utf-8"))
    print(f"speech recognition: model {model}; domain files {target['json'].name} ({summary['sentences']} sentences, "
          f"{summary['domain_words']} domain words, {summary['lexicon_entries']} lexicon entries, "
          f"{summary['hotwords']} hotwords, {summary['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
