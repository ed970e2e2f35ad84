"""Per-pair memorization and hallucination measures of a translation model (seed notes §4):
pure functions of the sentences a model produced. Words are whitespace-separated tokens (the
synthetic task has no punctuation; the paper splits with BERT's BasicTokenizer).

* replication — the greedy output equals the target exactly;
* extractive memorization (Raunak & Menezes 2022, as in Dankers & Raunak) — among replicated pairs
  that pass :func:`basic_filter`, translate the source's first i words, i = 1 … n−2; the
  *prefix ratio* is the first i whose translation equals the full target, over n; extractive
  memorization is a ratio ≤ 0.75 (the model emits the whole target from an incomplete source);
* oscillatory hallucination — the output repeats a bigram far more than the source does;
* natural hallucination — one output produced for many distinct sources and not a correct
  translation of them;
* chrF (``sacrebleu``) of an output against its target, and the geometric-mean token probability
  of a target under teacher forcing (the per-pair measure of counterfactual memorization).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence

import numpy as np

EXTRACTIVE_RATIO = 0.75


def replicated(outputs: Sequence[str], targets: Sequence[str]) -> np.ndarray:
    """(N,) bool: output i equals target i exactly (surrounding whitespace ignored)."""
    _same_length(outputs, targets, "outputs", "targets")
    return np.array([o.strip() == t.strip() for o, t in zip(outputs, targets, strict=True)], dtype=bool)


def basic_filter(
    source: str, target: str, *, min_words: int = 4, max_ratio: float = 1.3,
    language: Callable[[str], str | None] | None = None,
) -> bool:
    """Finding-Memo's ``basic_filter``: a source of ≥ ``min_words`` words, word-length ratio
    ≤ ``max_ratio`` both ways, source ≠ target, and (when ``language`` is given, the stand-in for
    fastText language ID) the source in the source language and the target in the target one."""  # fmt: skip
    s, t = source.split(), target.split()
    if len(s) < min_words or not t or s == t:
        return False
    if len(s) / len(t) > max_ratio or len(t) / len(s) > max_ratio:
        return False
    return language is None or (language(source) == "source" and language(target) == "target")


def prefixes(source: str) -> list[str]:
    """The source's first i words for i = 1 … n−2 (the prefixes extractive memorization translates)."""
    words = source.split()
    return [" ".join(words[:i]) for i in range(1, len(words) - 1)]


def prefix_ratio(source: str, target: str, prefix_outputs: Sequence[str]) -> float:
    """First i (1-based) with ``prefix_outputs[i-1] == target``, over the source's word count; NaN if none."""
    n = len(source.split())
    if len(prefix_outputs) != max(0, n - 2):
        raise ValueError(f"a source of {n} words has {max(0, n - 2)} prefixes; got {len(prefix_outputs)} outputs")
    for i, out in enumerate(prefix_outputs, start=1):
        if out.strip() == target.strip():
            return i / n
    return float("nan")


def extractive(ratios, threshold: float = EXTRACTIVE_RATIO) -> np.ndarray:
    """(N,) bool: a prefix ratio ≤ ``threshold`` (NaN — no candidate or no prefix matched — is False)."""
    r = np.asarray(ratios, dtype=float)
    return np.where(np.isnan(r), False, r <= threshold)


def max_bigram_count(text: str) -> int:
    """The largest number of times any word bigram occurs in ``text`` (0 below two words)."""
    w = text.split()
    return max(Counter(zip(w, w[1:], strict=False)).values(), default=0)


def oscillatory(
    sources: Sequence[str], outputs: Sequence[str], *, min_count: int = 3, margin: int = 2,
    max_source_words: int = 50,
) -> np.ndarray:
    """(N,) bool: the output's top bigram count exceeds ``min_count`` and the source's by more
    than ``margin``, for a source under ``max_source_words`` words. The paper uses 10 and 4 on
    WMT sentences; 3 and 2 are the notes' scaling for sentences of 5–12 words."""  # fmt: skip
    _same_length(sources, outputs, "sources", "outputs")
    out = []
    for s, o in zip(sources, outputs, strict=True):
        top, src_top = max_bigram_count(o), max_bigram_count(s)
        out.append(top > min_count and top - src_top > margin and len(s.split()) < max_source_words)
    return np.array(out, dtype=bool)


def natural(
    sources: Sequence[str], outputs: Sequence[str], references: Sequence[str], *, min_sources: int = 5
) -> np.ndarray:
    """(N,) bool: pair i's output is produced for ≥ ``min_sources`` distinct sources and is not
    the correct translation (``references[i]``) — the notes' NatHal without COMET-QE."""
    _same_length(sources, outputs, "sources", "outputs")
    _same_length(sources, references, "sources", "references")
    seen: dict[str, set] = defaultdict(set)
    for s, o in zip(sources, outputs, strict=True):
        seen[o.strip()].add(s.strip())
    return np.array(
        [len(seen[o.strip()]) >= min_sources and o.strip() != r.strip()
         for o, r in zip(outputs, references, strict=True)],
        dtype=bool,
    )  # fmt: skip


def chrf(outputs: Sequence[str], targets: Sequence[str]) -> np.ndarray:
    """(N,) sentence chrF (sacrebleu defaults: character 6-grams, β = 2), 0–100."""
    from sacrebleu.metrics import CHRF

    _same_length(outputs, targets, "outputs", "targets")
    metric = CHRF()
    return np.array([metric.sentence_score(o, [t]).score for o, t in zip(outputs, targets, strict=True)])


def corpus_chrf(outputs: Sequence[str], targets: Sequence[str]) -> float:
    """Corpus-level chrF of a test set, 0–100."""
    from sacrebleu.metrics import CHRF

    _same_length(outputs, targets, "outputs", "targets")
    return float(CHRF().corpus_score(list(outputs), [list(targets)]).score)


def geometric_mean_prob(logprob_sum, n_tokens) -> np.ndarray:
    """exp(mean token log-probability) per pair: the paper's 2^(mean log2 p), base-free."""
    lp, n = np.asarray(logprob_sum, dtype=float), np.asarray(n_tokens, dtype=float)
    if (n <= 0).any():
        raise ValueError("every pair needs at least one scored token")
    return np.exp(lp / n)


def _same_length(a, b, name_a, name_b) -> None:
    if len(a) != len(b):
        raise ValueError(f"{name_a} and {name_b} must pair up; got {len(a)} and {len(b)}")
