"""Extraction (verbatim: Carlini et al. 2023, seed notes §5b) and approximate memorization (edit
similarity, BLEU: Ippolito et al. 2023, §3), comparing token sequences pair by pair.
Conventions (layouts, score direction, errors): :mod:`memlens.lm.measures`.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

# --------------------------------------------------------------------------------------------
# validation


def _as_tokens(x, *, name: str) -> np.ndarray:
    """A 2-D integer array of token ids, at least one column."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must be an integer array of token ids, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (sequences, tokens), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); need >= 1 sequence of >= 1 token")
    return arr


def _as_sequence_batch(x, *, name: str, allow_str: bool) -> list:
    """A batch of sequences: a 2-D array (rows) or a list of str / 1-D sequences of tokens."""
    if isinstance(x, (str, bytes)):
        raise ValueError(
            f"{name} must be a batch of sequences (a list, or a 2-D array), got one "
            f"{type(x).__name__}; wrap a single pair in lists: [{name}]"
        )
    if isinstance(x, np.ndarray):
        if x.ndim != 2:
            raise ValueError(
                f"{name} as an array must be 2-D (sequences, tokens), got shape {x.shape}"
            )
        return x.tolist()
    try:
        items = list(x)
    except TypeError:
        raise ValueError(f"{name} must be a batch of sequences, got {type(x).__name__}") from None
    out = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            if not allow_str:
                raise ValueError(
                    f"{name}[{i}] is a string; BLEU compares token sequences, so tokenize "
                    f"first (e.g. text.split() or a tokenizer's ids)"
                )
            out.append(item)
        elif isinstance(item, np.ndarray):
            if item.ndim != 1:
                raise ValueError(f"{name}[{i}] must be 1-D, got shape {item.shape}")
            out.append(item.tolist())
        else:
            try:
                out.append(list(item))
            except TypeError:
                raise ValueError(
                    f"{name}[{i}] must be a sequence of tokens, got {type(item).__name__}"
                ) from None
    return out


def _pairs(a, b, *, names: tuple[str, str], allow_str: bool) -> tuple[list, list]:
    left = _as_sequence_batch(a, name=names[0], allow_str=allow_str)
    right = _as_sequence_batch(b, name=names[1], allow_str=allow_str)
    if len(left) != len(right):
        raise ValueError(
            f"{names[0]} has {len(left)} sequences but {names[1]} has {len(right)}; they are "
            f"compared pair by pair"
        )
    if not left:
        raise ValueError(f"{names[0]} and {names[1]} are empty batches")
    return left, right


# --------------------------------------------------------------------------------------------
# extraction (seed notes §5b)


def extractable(generated, reference) -> np.ndarray:
    """Whether each greedy continuation reproduces the true suffix exactly (verbatim).

    Carlini et al., "Quantifying Memorization Across Neural Language Models" (ICLR 2023): a
    suffix is extractable with k tokens of context when greedy decoding from its k-token
    training prefix emits it token for token.

    Args:
        generated: (N, L) int token ids the model generated after each prefix.
        reference: (N, L) int, the true suffix from the training data.

    Returns:
        (N,) bool, True where all L tokens match.

    Example:
        >>> extractable(np.array([[1, 2, 3], [1, 2, 4]]), np.array([[1, 2, 3], [1, 2, 3]])).tolist()
        [True, False]
    """
    gen = _as_tokens(generated, name="generated")
    ref = _as_tokens(reference, name="reference")
    if gen.shape != ref.shape:
        raise ValueError(
            f"generated has shape {gen.shape} but reference has {ref.shape}; generate exactly "
            f"as many tokens as the suffix has"
        )
    return (gen == ref).all(axis=1)


def _by_prefix(generated, reference) -> np.ndarray:
    gen = np.asarray(generated)
    if gen.dtype.kind not in "iu":
        raise ValueError(f"generated must be an integer array of token ids, got dtype {gen.dtype}")
    if gen.ndim != 3:
        raise ValueError(
            f"generated must be 3-D (prefix lengths, sequences, tokens), got shape {gen.shape}"
        )
    if gen.shape[0] == 0:
        raise ValueError("generated has no prefix lengths (axis 0 is empty)")
    ref = _as_tokens(reference, name="reference")
    if gen.shape[1:] != ref.shape:
        raise ValueError(
            f"generated has shape {gen.shape}, so each prefix length gives {gen.shape[1:]}, but "
            f"reference has {ref.shape}"
        )
    return (gen == ref[None]).all(axis=2)  # (K, N)


def k_extractable_rate(generated, reference) -> np.ndarray:
    """Fraction of sequences extractable, for each prefix length k.

    Carlini et al. (ICLR 2023) report this against k (their k in {50, 100, 200, 500}).

    Args:
        generated: (K, N, L) int, ``generated[j]`` = greedy continuations after the j-th prefix
            length (prefixes end where the suffix starts, so only their length differs).
        reference: (N, L) int, the true suffixes.

    Returns:
        (K,) float in [0, 1].

    Example:
        >>> ref = np.array([[5, 6], [7, 8]])
        >>> gen = np.array([[[5, 6], [0, 0]], [[5, 6], [7, 8]]])
        >>> k_extractable_rate(gen, ref).tolist()
        [0.5, 1.0]
    """
    return _by_prefix(generated, reference).mean(axis=1)


def shortest_extracting_prefix(generated, reference, *, prefix_lengths) -> np.ndarray:
    """The shortest prefix length whose greedy continuation reproduced the suffix, per sequence.

    Summarizes Carlini et al.'s (ICLR 2023) sweep over prefix lengths in one column per text
    (``extractable_at_k``): the least context an attacker needed.

    Args:
        generated: (K, N, L) int, as for :func:`k_extractable_rate`.
        reference: (N, L) int, the true suffixes.
        prefix_lengths: K distinct positive ints, the prefix length behind ``generated[j]``.

    Returns:
        (N,) int64: the smallest extracting prefix length, or -1 where none extracted.

    Example:
        >>> ref = np.array([[5, 6], [7, 8]])
        >>> gen = np.array([[[5, 6], [0, 0]], [[5, 6], [1, 8]]])
        >>> shortest_extracting_prefix(gen, ref, prefix_lengths=[8, 4]).tolist()
        [4, -1]
    """
    hit = _by_prefix(generated, reference)  # (K, N)
    ks = np.asarray(prefix_lengths)
    if ks.dtype.kind not in "iu" or ks.shape != (hit.shape[0],):
        raise ValueError(
            f"prefix_lengths must be {hit.shape[0]} integers (one per row of generated), got "
            f"{prefix_lengths!r}"
        )
    if (ks < 1).any() or np.unique(ks).size != ks.size:
        raise ValueError(f"prefix_lengths must be distinct positive integers, got {ks.tolist()}")
    big = np.iinfo(np.int64).max
    best = np.where(hit, ks.astype(np.int64)[:, None], big).min(axis=0)  # (N,)
    return np.where(best == big, -1, best)


# --------------------------------------------------------------------------------------------
# approximate memorization (seed notes §3)


def _encode_batch(left: list, right: list) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Map strings to code points and other tokens to ids of one shared vocabulary."""
    vocab: dict = {}
    enc = []
    for side, name in ((left, "a"), (right, "b")):
        rows = []
        for i, s in enumerate(side):
            if isinstance(s, str):
                rows.append(np.frombuffer(s.encode("utf-32-le"), dtype="<u4").astype(np.int64))
                continue
            try:
                rows.append(np.array([vocab.setdefault(t, len(vocab)) for t in s], np.int64))
            except TypeError:
                raise ValueError(f"{name}[{i}] holds unhashable tokens") from None
        enc.append(rows)
    for i, (x, y) in enumerate(zip(left, right, strict=True)):
        if isinstance(x, str) != isinstance(y, str):
            raise ValueError(
                f"pair {i} compares a string with a token sequence; compare like with like"
            )
    return enc[0], enc[1]


def _levenshtein_batch(left: list[np.ndarray], right: list[np.ndarray]) -> np.ndarray:
    """Levenshtein distances of N pairs at once: one numpy step per row of the DP table.

    Row i of the table from row i-1: ``E[j] = min(D[i-1, j] + 1, D[i-1, j-1] + cost)`` and
    ``D[i, j] = min(E[j], D[i, j-1] + 1) = min_{j' <= j} (E[j'] + j - j')``, a running minimum.
    Pairs of different lengths share the padded table; cells beyond a pair's lengths never
    feed back into the cells it reads.
    """
    n = len(left)
    la = np.array([x.size for x in left], dtype=np.int64)
    lb = np.array([y.size for y in right], dtype=np.int64)
    width = int(lb.max()) + 1
    a = np.zeros((n, max(int(la.max()), 1)), dtype=np.int64)
    b = np.zeros((n, width - 1), dtype=np.int64)
    for i in range(n):
        a[i, : la[i]] = left[i]
        b[i, : lb[i]] = right[i]
    cols = np.arange(width)
    prev = np.broadcast_to(cols, (n, width)).copy()  # D[0, j] = j, (n, width)
    out = np.where(la == 0, lb, 0)
    for i in range(1, int(la.max()) + 1):
        cost = (a[:, i - 1 : i] != b).astype(np.int64)  # (n, width - 1)
        e = np.empty_like(prev)
        e[:, 0] = i
        e[:, 1:] = np.minimum(prev[:, 1:] + 1, prev[:, :-1] + cost)
        prev = np.minimum.accumulate(e - cols, axis=1) + cols  # D[i, :]
        rows = np.flatnonzero(la == i)
        out[rows] = prev[rows, lb[rows]]
    return out


def edit_distance(a, b) -> np.ndarray:
    """Levenshtein distance (unit-cost insertions, deletions, substitutions) of each pair.

    Args:
        a: batch of N sequences: a 2-D int array (one sequence per row), or a list whose items
            are strings (compared character by character) or sequences of hashable tokens
            (token ids, words).
        b: batch of N sequences of the same kinds; ``a[i]`` is compared with ``b[i]``.

    Returns:
        (N,) int64.

    Example:
        >>> edit_distance(["kitten", ""], ["sitting", "abc"]).tolist()
        [3, 3]
    """
    left, right = _pairs(a, b, names=("a", "b"), allow_str=True)
    return _levenshtein_batch(*_encode_batch(left, right))


def edit_similarity(a, b) -> np.ndarray:
    """Edit similarity ``1 - levenshtein(a, b) / max(len a, len b)`` of each pair, in [0, 1].

    The approximate-memorization measure of Lee et al., "Deduplicating Training Data Makes
    Language Models Better" (ACL 2022) and Ippolito et al. (INLG 2023; seed notes §3), on tokens
    or characters. Two empty sequences are identical: similarity 1.

    Args:
        a: batch of N sequences, as for :func:`edit_distance`.
        b: batch of N sequences; ``a[i]`` is compared with ``b[i]``.

    Returns:
        (N,) float in [0, 1].

    Example:
        >>> edit_similarity(["kitten"], ["sitting"]).round(4).tolist()
        [0.5714]
        >>> edit_similarity(np.array([[1, 2, 3, 4]]), np.array([[1, 2, 0, 4]])).tolist()
        [0.75]
    """
    left, right = _pairs(a, b, names=("a", "b"), allow_str=True)
    ea, eb = _encode_batch(left, right)
    dist = _levenshtein_batch(ea, eb)
    longest = np.array([max(x.size, y.size) for x, y in zip(ea, eb, strict=True)])
    return np.where(longest == 0, 1.0, 1.0 - dist / np.maximum(longest, 1))


def _ngrams(tokens: list, n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _sentence_bleu(cand: list, ref: list, max_n: int) -> float:
    if not cand:
        return 0.0
    log_p = 0.0
    order = 0
    zeros = 0
    for n in range(1, max_n + 1):
        total = len(cand) - n + 1
        if total <= 0:  # effective order: the candidate has no n-grams this long
            break
        order = n
        c, r = _ngrams(cand, n), _ngrams(ref, n)
        matches = sum(min(cnt, r[g]) for g, cnt in c.items())
        if matches == 0:
            zeros += 1
            log_p += -math.log(2.0**zeros * total)  # 'exp' smoothing: 1 / (2^zeros * total)
        else:
            log_p += math.log(matches / total)
    bp = 1.0 if len(cand) >= len(ref) else math.exp(1.0 - len(ref) / len(cand))
    return bp * math.exp(log_p / order)


def bleu(candidates, references, *, max_n: int = 4) -> np.ndarray:
    """Sentence BLEU of each candidate against one reference, in [0, 1].

    Papineni et al. (ACL 2002), as used for approximate memorization by Ippolito et al.
    (INLG 2023; "approximately memorized" when BLEU > 0.75, seed notes §3): the geometric mean
    of clipped n-gram precisions for n = 1..max_n times the brevity penalty
    ``min(1, exp(1 - len(ref) / len(cand)))``. Smoothing is sacrebleu's sentence-BLEU default,
    ``'exp'`` (Chen & Cherry 2014 method 3, the NIST geometric sequence): the j-th order with no
    matching n-gram counts precision ``1 / (2^j * total_n)`` instead of 0. With sacrebleu's
    ``effective_order``, orders longer than the candidate are left out of the mean. An empty
    candidate scores 0. Differs from sacrebleu only in scale (0-1, not 0-100) and in taking
    tokens as given (no 13a tokenization).

    Args:
        candidates: batch of N token sequences (2-D int array, or a list of 1-D int arrays or
            lists of hashable tokens such as words). Strings are refused: tokenize first.
        references: batch of N non-empty token sequences, one reference each.
        max_n: longest n-gram order, >= 1.

    Returns:
        (N,) float.

    Example:
        >>> bleu([[1, 2, 3, 4, 5]], [[1, 2, 3, 4, 5]]).tolist()
        [1.0]
        >>> round(float(bleu([[1, 2, 3, 9]], [[1, 2, 3, 4]])[0]), 4)  # (3/4 * 2/3 * 1/2 * 1/2)^(1/4)
        0.5946
    """
    if isinstance(max_n, bool) or not isinstance(max_n, (int, np.integer)) or max_n < 1:
        raise ValueError(f"max_n must be an integer >= 1, got {max_n!r}")
    cands, refs = _pairs(
        candidates, references, names=("candidates", "references"), allow_str=False
    )
    for i, r in enumerate(refs):
        if len(r) == 0:
            raise ValueError(f"references[{i}] is empty; BLEU needs a non-empty reference")
    try:
        return np.array(
            [_sentence_bleu(c, r, int(max_n)) for c, r in zip(cands, refs, strict=True)]
        )
    except TypeError:
        raise ValueError("tokens must be hashable (ints, strings)") from None
