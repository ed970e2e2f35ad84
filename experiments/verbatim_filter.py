"""Reproduction: a verbatim filter gives a false sense of privacy (Ippolito et al., INLG 2023).

A tiny GPT-2 (4 layers × 128 wide) is trained on Python's documentation text plus PII-like
records ("NAME lives at ADDRESS and can be reached at PHONE; social security number SSN."), each
repeated, until it memorizes them. Each record is prompted with its first tokens (name and
"lives at") and decoded greedily, unfiltered and with MemFree decoding — the
:class:`~memlens.lm.verbatim.VerbatimBlocker` over a Bloom filter of all training n-grams, n = 8
(and n = 4 for the original prompt) — under each **style-transfer prompt** of the paper: the
prompt as trained, lower-cased, ALL CAPS, with added spaces between words, and with spaces
between characters.

**Style-token training** (notes §3, variant C): a second model of the same shape is trained on
the same corpus plus an upper-case copy, preceded by ``<UPPER>``, of a fraction
(``--style-fraction``, 5%) of the documentation lines — never of a record — and its records are
prompted with ``<UPPER>`` and the upper-cased (or unchanged) prompt, with its own MemFree filter
(which holds the upper-case copies too).

For each condition: the verbatim rate (exact suffix match, tokens), training n-grams emitted per
generation (exact, with the suffix-array CorpusIndex), the case-folded match rate, and the three
detectors of :mod:`memlens.lm.granularity` against the true suffix — verbatim (Zeng's ≥ 50
characters in common), **approximate memorization** (BLEU over case-folded words ≥ 0.75, the
paper's threshold, or edit similarity of the case- and space-free character strings ≥ 0.75, which
counts an ALL CAPS or s p a c e d copy), paraphrase (all-MiniLM-L6-v2 cosine ≥ 0.8 with BLEU
< 0.75) and idea-level (≥ half of the suffix's numbers and names restated).

Pass (issue 5): with the filter on (n = 8) zero training n-grams are emitted, and the
approximate-memorization rate (BLEU ≥ 0.75) keeps ≥ 50% of its unfiltered value. Issue 14 adds the
fraction of approximate memorization kept under the filter by prompt style
(``approx_kept_by_style``: filtered style rate / unfiltered original rate), reported as found.

    python experiments/verbatim_filter.py            # ~15 min on one core (two models)
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
STYLE_TOKEN = "<UPPER>"
#: the paper's style-transfer prompts: the prompt text as the model is shown it
STYLES = {
    "original": lambda s: s,
    "lowercase": str.lower,
    "uppercase": str.upper,
    "spaced_words": lambda s: "  ".join(s.split()),
    "spaced_chars": lambda s: " ".join(s),
}


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


def _style_copies(documents: list[str], fraction: float, seed: int) -> list[str]:
    """``<UPPER> LINE`` upper-cased, for a random ``fraction`` of the documents' non-empty lines."""
    lines = [ln.strip() for d in documents for ln in d.splitlines() if len(ln.strip()) >= 20]
    rng = np.random.default_rng(seed)
    keep = rng.random(len(lines)) < fraction
    return [f"{STYLE_TOKEN} {ln.upper()}" for ln, k in zip(lines, keep, strict=True) if k]


def _train(corpus, layers: int, width: int, epochs: int, seed: int):
    """(model, tokenizer, training token ids, suffix-array index, {n: Bloom filter}, losses)."""
    import torch

    from memlens.lm.corpus import train_tokenizer
    from memlens.lm.index import CorpusIndex
    from memlens.lm.model import _token_ids, tiny_gpt2, train_lm
    from memlens.lm.verbatim import NgramBloomFilter

    torch.manual_seed(seed)
    tok = train_tokenizer(corpus, vocab_size=2048)
    model = tiny_gpt2(len(tok), n_layer=layers, n_embd=width, n_head=4, n_positions=128, seed=seed)
    losses = train_lm(
        model, tok, corpus, epochs=epochs, batch_size=16, lr=2e-3, seq_len=128, seed=seed
    )
    train_docs = _token_ids(tok, corpus)  # [bos, ...text..., eos], exactly as trained
    filters = {n: NgramBloomFilter(train_docs, n=n, false_positive_rate=1e-4) for n in (4, 8)}
    return model, tok, train_docs, CorpusIndex(train_docs), filters, losses


def _evaluate(
    model, tok, prompt_ids, n, filters, index, suffix_ids, suffix_text, canaries, detectors
):
    """One condition's measures: ``prompt_ids`` decoded greedily, MemFree with ``n`` (None: off)."""
    from memlens.lm.generate import greedy_continuations
    from memlens.lm.measures import bleu, edit_similarity
    from memlens.lm.verbatim import VerbatimBlocker, emitted_training_ngrams

    t = time.perf_counter()
    blocker = None if n is None else VerbatimBlocker(filters[n], n)
    new_tokens = max(len(s) for s in suffix_ids)
    gen = greedy_continuations(
        model, tok, prompt_ids, max_new_tokens=new_tokens, logits_processor=blocker
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
    casefold_match = np.array(
        [_norm(t).startswith(_norm(s)) for t, s in zip(texts, suffix_text, strict=True)]
    )
    bl = bleu([_norm(t).split() or [""] for t in texts], [_norm(s).split() for s in suffix_text])
    es = edit_similarity([_norm(t) for t in texts], [_norm(s) for s in suffix_text])
    g = detectors(texts, suffix_text)
    ngrams = {m: emitted_training_ngrams(index, gen, m) for m in (4, 8)}
    tails = [p[-7:] for p in prompt_ids]
    straddle8 = emitted_training_ngrams(
        index, [t + list(x) for t, x in zip(tails, gen.tolist(), strict=True)], 8
    )
    secret_leaked = np.array(
        [_norm(c.secret) in _norm(t) for c, t in zip(canaries, texts, strict=True)]
    )
    leaked_surface = np.array(
        [
            re.sub(r"\D", "", c.secret) in re.sub(r"\D", "", t)
            for c, t in zip(canaries, texts, strict=True)
        ]
    )
    levels = {
        lv: float((g["level"] == lv).mean())
        for lv in ("verbatim", "approximate", "paraphrase", "idea", "none")
    }
    return {
        "filter_n": n,
        "seconds": round(seconds, 2),
        "blocked_tokens": None if blocker is None else blocker.n_blocked,
        "verbatim_rate": float(exact.mean()),
        "casefold_match_rate": float(casefold_match.mean()),
        "training_4grams_per_generation": float(ngrams[4].mean()),
        "training_8grams_per_generation": float(ngrams[8].mean()),
        "generations_with_training_8gram": float((ngrams[8] > 0).mean()),
        "training_8grams_incl_prompt_tail": int(straddle8.sum()),
        "approx_rate_bleu_0.75": float((bl >= 0.75).mean()),
        "approx_rate_edit_sim_0.75": float((es >= 0.75).mean()),
        "mean_bleu": float(bl.mean()),
        "mean_edit_similarity": float(es.mean()),
        "mean_embedding_similarity": float(np.mean(g["embedding_similarity"])),
        # the three detectors of memlens.lm.granularity
        "verbatim_50char_rate": float(g["verbatim"].mean()),
        "approximate_rate": float(g["approximate"].mean()),
        "mean_surface_edit_similarity": float(np.mean(g["surface_edit_similarity"])),
        "paraphrase_rate": float(g["paraphrase"].mean()),
        "idea_rate": float(g["idea"].mean()),
        "mean_slot_recall": float(np.nanmean(g["slot_recall"])),
        "level_fractions": levels,
        "secret_in_output_rate": float(secret_leaked.mean()),
        "secret_digits_in_output_rate": float(leaked_surface.mean()),
        "examples": [
            {"true": suffix_text[i], "generated": texts[i]} for i in range(min(3, len(texts)))
        ],
    }


def main(argv=None) -> dict:
    p = parser(__doc__)
    p.add_argument("--records", type=int, default=100)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument(
        "--filler-docs", type=int, default=30, help="pydoc documents (first 2,000 chars each)"
    )
    p.add_argument("--style-fraction", type=float, default=0.05,
                   help="fraction of documentation lines copied upper-case after <UPPER> (0: no style-token model)")  # fmt: skip
    p.add_argument("--style-only", action="store_true",
                   help="train and probe only the style-token model (the two halves can run in parallel)")  # fmt: skip
    a = p.parse_args(argv)

    from memlens.lm.corpus import Corpus, insert_canaries, load_corpus
    from memlens.lm.embedding import embedding_similarity
    from memlens.lm.granularity import granularity

    if a.smoke:
        a.records, a.repeats, a.epochs, a.filler_docs = 6, 8, 3, 2
        width, layers = 64, 2
    else:
        width, layers = 128, 4
    out = a.out or Path("runs/exp-verbatim-filter" + ("-smoke" if a.smoke else ""))
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if a.smoke:  # the smoke test stays seconds long: a lexical stand-in for the sentence encoder
        from memlens.lm.granularity import surface_edit_similarity

        def detectors(texts, refs):
            return granularity(texts, refs, similarity=surface_edit_similarity(texts, refs))
    else:

        def detectors(texts, refs):
            return granularity(texts, refs, similarity=embedding_similarity(texts, refs))

    filler = load_corpus(f"pydoc:{a.filler_docs}")
    corpus = Corpus("pydoc+records", [d[:2000] for d in filler.documents], filler.ids)
    records = _records(a.records, a.seed)
    for k, (_, template) in enumerate(records):
        corpus = insert_canaries(
            corpus, n_canaries=1, repeats=(a.repeats,), template=template, seed=a.seed * 100_003 + k
        )
    canaries = corpus.canaries
    suffix_text = [c.text[len(prompt) :] for (prompt, _), c in zip(records, canaries, strict=True)]

    def run_model(corpus, plans, epochs=a.epochs):
        """Train on ``corpus``; evaluate each condition (name -> (prompt text fn, filter n))."""
        t = time.perf_counter()
        model, tok, train_docs, index, filters, losses = _train(
            corpus, layers, width, epochs, a.seed
        )
        train_seconds = time.perf_counter() - t
        bos = tok.bos_token_id
        enc = lambda s: tok(s, add_special_tokens=False)["input_ids"]  # noqa: E731
        original = [[bos, *enc(prompt)] for prompt, _ in records]
        suffix_ids = [
            train_docs[c.document_indices[0]][len(original[k]) :] for k, c in enumerate(canaries)
        ]
        # the record's own tokenization must start with the prompt's, else the split is not clean
        aligned = np.array([train_docs[c.document_indices[0]][: len(original[k])] == original[k]
                            for k, c in enumerate(canaries)])  # fmt: skip
        conditions = {}
        for name, (styled, n) in plans.items():
            prompt_ids = [[bos, *enc(styled(prompt))] for prompt, _ in records]
            conditions[name] = {"prompt_example": styled(records[0][0]),
                                **_evaluate(model, tok, prompt_ids, n, filters, index, suffix_ids,
                                            suffix_text, canaries, detectors)}  # fmt: skip
        info = {
            "vocab": len(tok), "training_tokens": int(index.n_tokens), "train_seconds": round(train_seconds, 1),
            "final_loss": float(np.mean(losses[-20:])), "prompt_tokenization_aligned": float(aligned.mean()),
            "max_new_tokens": max(len(s) for s in suffix_ids),
            "bloom": {str(n): {"ngrams": len(f), "false_positive_rate": f.false_positive_rate} for n, f in filters.items()},
        }  # fmt: skip
        return conditions, info

    plans = {"plain": (STYLES["original"], None), "memfree_n8": (STYLES["original"], 8),
             "memfree_n4": (STYLES["original"], 4)}  # fmt: skip
    for style, fn in STYLES.items():
        if style != "original":
            plans[f"style_{style}_plain"] = (fn, None)
            plans[f"style_{style}_memfree_n8"] = (fn, 8)
    results_by, info = ({}, {}) if a.style_only else run_model(corpus, plans)

    style_model = None
    if a.style_fraction > 0:
        copies = _style_copies(corpus.documents[: len(filler.documents)], a.style_fraction, a.seed)
        styled = Corpus(corpus.name + "+upper", [*corpus.documents, *copies],
                        [*corpus.ids, *(f"upper-{i}" for i in range(len(copies)))], canaries=corpus.canaries)  # fmt: skip
        token_plans = {
            "plain": (STYLES["original"], None),
            "memfree_n8": (STYLES["original"], 8),
            "upper_token_plain": (lambda s: f"{STYLE_TOKEN} {s.upper()}", None),
            "upper_token_memfree_n8": (lambda s: f"{STYLE_TOKEN} {s.upper()}", 8),
            "token_original_case_plain": (lambda s: f"{STYLE_TOKEN} {s}", None),
            "token_original_case_memfree_n8": (lambda s: f"{STYLE_TOKEN} {s}", 8),
        }
        token_results, token_info = run_model(
            styled, token_plans, epochs=3 if a.smoke else a.epochs
        )
        style_model = {"style_copies": len(copies), "fraction": a.style_fraction, **token_info,
                       "conditions": token_results}  # fmt: skip

    keys = ("approx_rate_bleu_0.75", "approx_rate_edit_sim_0.75", "approximate_rate", "mean_bleu",
            "mean_edit_similarity", "mean_embedding_similarity", "mean_surface_edit_similarity")  # fmt: skip
    for r in results_by.values():
        base = results_by["plain"]
        for key in keys:
            r[f"{key}_vs_plain"] = r[key] / base[key] if base[key] > 0 else None

    def kept(conditions, name, baseline="plain"):
        b = conditions[baseline]["approximate_rate"]
        return conditions[name]["approximate_rate"] / b if b > 0 else None

    kept_by_style = {}
    if results_by:
        kept_by_style["original"] = kept(results_by, "memfree_n8")
        kept_by_style.update(
            {s: kept(results_by, f"style_{s}_memfree_n8") for s in STYLES if s != "original"}
        )
    if style_model:
        sc = style_model["conditions"]
        kept_by_style["style_token_upper"] = kept(sc, "upper_token_memfree_n8")
        kept_by_style["style_token_original_case"] = kept(sc, "token_original_case_memfree_n8")
    filtered = [(c, 8) for c in results_by if c.endswith("memfree_n8")] + [
        ("memfree_n4", 4)
    ] * bool(results_by)
    zero = all(results_by[c][f"training_{n}grams_per_generation"] == 0 for c, n in filtered)
    if style_model:
        zero = zero and all(r["training_8grams_per_generation"] == 0
                            for c, r in style_model["conditions"].items() if c.endswith("memfree_n8"))  # fmt: skip
    results = {
        "experiment": "verbatim-filter",
        "records": a.records,
        "repeats": a.repeats,
        "epochs": a.epochs,
        "model": f"gpt2 {layers}x{width}",
        **info,
        "conditions": results_by,
        "style_token_model": style_model,
        "zero_training_ngrams_with_filter": bool(zero),
        "approx_kept_fraction": results_by["memfree_n8"]["approx_rate_bleu_0.75_vs_plain"]
        if results_by
        else None,
        "approx_kept_by_style": kept_by_style,
        "approx_kept_definition": "approximate-memorization rate (case-folded word BLEU >= 0.75 or case- and "
        "space-free character edit similarity >= 0.75 against the true suffix) under MemFree n = 8 with "
        "the style's prompt, over the rate of the same model, original prompt, no filter",
        "targets": {
            "training_ngrams_with_filter": "== 0",
            "approx_rate_bleu_0.75 filtered / plain": ">= 0.5",
            "style token (notes §3 C): case-folded match under <UPPER> + MemFree": ">= 0.3",
        },
        "seconds": round(time.perf_counter() - t0, 1),
    }
    results["pass"] = bool(
        results["zero_training_ngrams_with_filter"]
        and (results["approx_kept_fraction"] or 0) >= 0.5
    )
    if style_model:
        results["style_token_pass"] = bool(
            style_model["conditions"]["upper_token_memfree_n8"]["casefold_match_rate"] >= 0.3
        )
    return record(out, "verbatim_filter", results)


if __name__ == "__main__":
    main()
