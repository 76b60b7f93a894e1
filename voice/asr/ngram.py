"""N-gram language models estimated from our own sentences, written as ARPA.

Interpolated Kneser-Ney (Chen & Goodman's formulation with one discount per order): the
domain half of the recogniser's pinyin → 汉字 conversion is estimated with it from what
callers say (voice/asr/corpus.py), then converted to KenLM's binary format.
"""
from __future__ import annotations

import collections
import math
from typing import Iterable

ORDER = 3
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
