"""Reproduction: a verbatim filter gives a false sense of privacy (Ippolito et al., INLG 2023).

A tiny GPT-2 (4 layers × 128 wide) is trained on Python's documentation text plus PII-like
records ("NAME lives at ADDRESS and can be reached at PHONE; social security number SSN."), each
repeated, until it memorizes them. Each record is prompted with its first tokens (name and
"lives at") and decoded greedily (a) unfiltered, (b) with MemFree decoding — the
:class:`~memlens.lm.verbatim.VerbatimBlocker` over a Bloom filter of all training n-grams, n = 8
and n = 4 tokens — and (c) with a style-transfer prompt (the prefix lower-cased), unfiltered and
filtered. For each: the verbatim rate (exact suffix match), training n-grams emitted per
generation (exact, with the suffix-array CorpusIndex), and approximate memorization against the
true suffix: BLEU over case-folded words (approximately memorized when BLEU ≥ 0.75, the paper's
threshold), edit similarity over case-folded, whitespace-normalized characters, and embedding
cosine (all-MiniLM-L6-v2).

Pass (issue 5): with the filter on (n = 8) zero training n-grams are emitted, and the
approximate-memorization rate (BLEU ≥ 0.75) keeps ≥ 50% of its unfiltered value.

    python experiments/verbatim_filter.py            # a few minutes on 2 cores
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as `python experiments/NAME.py`
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.common import parser, record

PREFIX_WORDS = 4  # the prompt: "<bos>NAME lives at" (a name is 2-3 words)


def _records(n: int, seed: int) -> list[tuple[str, str]]:
    """n (prompt text, template) pairs: a distinct person per record, the SSN left to
    insert_canaries."""
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    out, names = [], set()
    while len(out) < n:
        name = fake.name()
        if name in names:
            continue
        names.add(name)
        address = f"{fake.street_address()}, {fake.city()}".replace("\n", ", ")
        prompt = f"{name} lives at"
        template = f"{prompt} {address} and can be reached at {fake.phone_number()}; social security number {{secret}}."
        out.append((prompt, template))
    return out


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.casefold()).strip()


def main(argv=None) -> dict:
    p = parser(__doc__)
    p.add_argument("--records", type=int, default=100)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument(
        "--filler-docs", type=int, default=30, help="pydoc documents (first 2,000 chars each)"
    )
    a = p.parse_args(argv)
    import torch

    from memlens.lm.corpus import Corpus, insert_canaries, load_corpus, train_tokenizer
    from memlens.lm.embedding import embedding_similarity
    from memlens.lm.generate import greedy_continuations
    from memlens.lm.index import CorpusIndex
    from memlens.lm.measures import bleu, edit_similarity
    from memlens.lm.model import _token_ids, tiny_gpt2, train_lm
    from memlens.lm.verbatim import NgramBloomFilter, VerbatimBlocker, emitted_training_ngrams

    if a.smoke:
        a.records, a.repeats, a.epochs, a.filler_docs = 6, 8, 25, 2
        width, layers = 64, 2
    else:
        width, layers = 128, 4
    out = a.out or Path("runs/exp-verbatim-filter" + ("-smoke" if a.smoke else ""))
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(a.seed)
    t0 = time.perf_counter()

    filler = load_corpus(f"pydoc:{a.filler_docs}")
    corpus = Corpus("pydoc+records", [d[:2000] for d in filler.documents], filler.ids)
    records = _records(a.records, a.seed)
    for k, (_, template) in enumerate(records):
        corpus = insert_canaries(
            corpus, n_canaries=1, repeats=(a.repeats,), template=template, seed=a.seed * 100_003 + k
        )
    tok = train_tokenizer(corpus, vocab_size=2048)
    model = tiny_gpt2(
        len(tok), n_layer=layers, n_embd=width, n_head=4, n_positions=128, seed=a.seed
    )
    losses = train_lm(
        model, tok, corpus, epochs=a.epochs, batch_size=16, lr=2e-3, seq_len=128, seed=a.seed
    )
    train_seconds = time.perf_counter() - t0

    train_docs = _token_ids(tok, corpus)  # [bos, ...text..., eos], exactly as trained
    index = CorpusIndex(train_docs)
    canaries = corpus.canaries
    bos = tok.bos_token_id
    enc = lambda s: tok(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    prompts = {
        "original": [[bos, *enc(prompt)] for prompt, _ in records],
        "lowercase": [[bos, *enc(prompt.lower())] for prompt, _ in records],
    }
    suffix_text = [c.text[len(prompt) :] for (prompt, _), c in zip(records, canaries, strict=True)]
    suffix_ids = [
        train_docs[c.document_indices[0]][len(prompts["original"][k]) :]
        for k, c in enumerate(canaries)
    ]
    # the record's own tokenization must start with the prompt's, else the split is not clean
    aligned = np.array(
        [
            train_docs[c.document_indices[0]][: len(prompts["original"][k])]
            == prompts["original"][k]
            for k, c in enumerate(canaries)
        ]
    )
    new_tokens = max(len(s) for s in suffix_ids)

    filters = {n: NgramBloomFilter(train_docs, n=n, false_positive_rate=1e-4) for n in (4, 8)}
    conditions = {
        "plain": ("original", None),
        "memfree_n8": ("original", 8),
        "memfree_n4": ("original", 4),
        "style_lowercase_plain": ("lowercase", None),
        "style_lowercase_memfree_n8": ("lowercase", 8),
    }
    results_by = {}
    for name, (prompt_kind, n) in conditions.items():
        t = time.perf_counter()
        blocker = None if n is None else VerbatimBlocker(filters[n], n)
        gen = greedy_continuations(
            model, tok, prompts[prompt_kind], max_new_tokens=new_tokens, logits_processor=blocker
        )
        seconds = time.perf_counter() - t
        cut = [
            list(g[: list(g).index(tok.eos_token_id)]) if tok.eos_token_id in g else list(g)
            for g in gen
        ]
        texts = [tok.decode(g, skip_special_tokens=True) for g in cut]
        exact = np.array(
            [g[: len(s)] == list(s) for g, s in zip(gen.tolist(), suffix_ids, strict=True)]
        )
        bl = bleu(
            [_norm(t).split() or [""] for t in texts], [_norm(s).split() for s in suffix_text]
        )
        es = edit_similarity([_norm(t) for t in texts], [_norm(s) for s in suffix_text])
        emb = embedding_similarity(texts, suffix_text)
        ngrams = {m: emitted_training_ngrams(index, gen, m) for m in (4, 8)}
        tails = [p[-7:] for p in prompts[prompt_kind]]
        straddle8 = emitted_training_ngrams(
            index, [t + list(g) for t, g in zip(tails, gen.tolist(), strict=True)], 8
        )
        secret_leaked = np.array(
            [_norm(c.secret) in _norm(t) for c, t in zip(canaries, texts, strict=True)]
        )
        results_by[name] = {
            "prompt": prompt_kind,
            "filter_n": n,
            "seconds": round(seconds, 2),
            "blocked_tokens": None if blocker is None else blocker.n_blocked,
            "verbatim_rate": float(exact.mean()),
            "training_4grams_per_generation": float(ngrams[4].mean()),
            "training_8grams_per_generation": float(ngrams[8].mean()),
            "generations_with_training_8gram": float((ngrams[8] > 0).mean()),
            "training_8grams_incl_prompt_tail": int(straddle8.sum()),
            "approx_rate_bleu_0.75": float((bl >= 0.75).mean()),
            "approx_rate_edit_sim_0.75": float((es >= 0.75).mean()),
            "mean_bleu": float(bl.mean()),
            "mean_edit_similarity": float(es.mean()),
            "mean_embedding_similarity": float(emb.mean()),
            "secret_in_output_rate": float(secret_leaked.mean()),
            "examples": [
                {"true": suffix_text[i], "generated": texts[i]} for i in range(min(3, len(texts)))
            ],
        }
    base = results_by["plain"]
    for r in results_by.values():
        for key in (
            "approx_rate_bleu_0.75",
            "approx_rate_edit_sim_0.75",
            "mean_bleu",
            "mean_edit_similarity",
            "mean_embedding_similarity",
        ):
            r[f"{key}_vs_plain"] = r[key] / base[key] if base[key] > 0 else None
    main_filter = results_by["memfree_n8"]
    results = {
        "experiment": "verbatim-filter",
        "records": a.records,
        "repeats": a.repeats,
        "epochs": a.epochs,
        "model": f"gpt2 {layers}x{width}",
        "vocab": len(tok),
        "training_tokens": int(index.n_tokens),
        "train_seconds": round(train_seconds, 1),
        "final_loss": float(np.mean(losses[-20:])),
        "prompt_tokenization_aligned": float(aligned.mean()),
        "max_new_tokens": new_tokens,
        "bloom": {
            str(n): {"ngrams": len(f), "false_positive_rate": f.false_positive_rate}
            for n, f in filters.items()
        },
        "conditions": results_by,
        "zero_training_ngrams_with_filter": bool(
            all(
                results_by[c][f"training_{n}grams_per_generation"] == 0
                for c, n in (
                    ("memfree_n8", 8),
                    ("memfree_n4", 4),
                    ("style_lowercase_memfree_n8", 8),
                )
            )
        ),
        "approx_kept_fraction": main_filter["approx_rate_bleu_0.75_vs_plain"],
        "targets": {
            "training_ngrams_with_filter": "== 0",
            "approx_rate_bleu_0.75 filtered / plain": ">= 0.5",
        },
        "seconds": round(time.perf_counter() - t0, 1),
    }
    results["pass"] = bool(
        results["zero_training_ngrams_with_filter"]
        and (results["approx_kept_fraction"] or 0) >= 0.5
    )
    return record(out, "verbatim_filter", results)


if __name__ == "__main__":
    main()
