"""Reproduction: canary exposure and extractability grow with repetition (Secret Sharer; Carlini 2023).

A tiny GPT-2 (2 layers, 128 wide, a 2,048-token byte-level BPE fitted here on the text **without**
the canaries) is trained on a King James slice (``kjv:N`` chapters) plus

- **canaries**: ``insert_canaries``' default per-canary PII records (``"Norma Fisher, SSN 1234"``,
  ``"Dear Sally, your card ends in 1234"``, …: five templates, a Faker name / e-mail / city of its
  own per canary) with a 4-digit secret (|R| = 10^4, enumerable); ``--per-repeat`` canaries for
  each insertion count in 1, 2, 4, 8, 16, 32;
- **duplicated documents**: the opening ~400 characters of later KJV chapters (not in the slice),
  ``--per-repeat`` documents for each duplication count in 1, 2, 4, 8, 16, 32.

Measured with the audit's own code (:mod:`memlens.lm.canary_audit`): exact exposure of each canary
by the reference convention (ranked among its 10^4 candidate texts minus the other canaries'
secrets), the same ranked among all candidates (the convention before; for comparison), the
skew-normal extrapolation from 2,000 sampled candidates, the **tokenizer-only control** (exposure
under 3 untrained models of the same shape and tokenizer) and the excess over it, whether greedy
decoding writes each secret from the canary's own prefix and from its template's bare label; and
the artefact the control exists for: the control under a tokenizer fitted *with* the canaries
(what ``memlens lm train`` did before). Documents: k-extractability of a 16-token suffix (the 16
tokens after the first k) from prefixes of k = 2, 4, 8, 16, 32 tokens.

Pass (issue 9): Spearman(insertion count, mean excess) >= 0.8; every canary inserted >= 8 times
is >= 8 bits above its control or written from its own prefix; the control's mean at every count
is within 2 bits of chance (~1.44 bits). Documents (issue 5): extractability rises with
duplication and with prefix length (Spearman >= 0.8 each).

Training budget: 18 epochs. A sweep (12, 15, 16, 18, 20 epochs; REPRODUCTIONS.md §g) shows the
two canary criteria pull apart at the 4-digit ceiling (13.3 bits): fewer epochs leave an
8-times canary below 8 bits, more saturate every count so the excess no longer rises.

    python experiments/lm_canaries.py          # ~12 min on 2 shared cores (AMD EPYC)
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

if __package__ in (None, ""):  # run as `python experiments/NAME.py`
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.common import parser, record

REPEATS = (1, 2, 4, 8, 16, 32)
PREFIX_LENGTHS = (2, 4, 8, 16, 32)
SUFFIX_TOKENS = 16
HEAVY = 8  # canaries inserted at least this often must be exposed or extracted
EXCESS_BITS = 8.0
CONTROL_TOLERANCE = 2.0  # bits from chance


def _spearman(x, y) -> float | None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant input (all 0 or all 1) has no rank correlation
        r = spearmanr(x, y)[0]
    return float(r) if np.isfinite(r) else None


def _canaries(model, tok, leaky_tok, corpus, seed: int, rng) -> tuple[list[dict], dict]:
    """Every canary measure, one row per canary, and the run-level exposure facts."""
    from memlens.lm.canary_audit import (
        canary_columns,
        candidate_logprobs,
        exposure_plan,
        plan_exposure,
        secret_single_token,
        tokenizer_control,
    )  # fmt: skip
    from memlens.lm.measures import exposure_chance
    from memlens.lm.model import sequence_logprobs

    canaries = corpus.canaries
    n = len(canaries)
    columns, info = canary_columns(model, tok, canaries, seed=seed)
    with_others = columns["exposure_with_other_canaries"]
    skew_plan = exposure_plan(canaries, samples=2000, seed=seed, exact_limit=0)
    skew = plan_exposure(model, tok, skew_plan, n).reference
    leaky_control = tokenizer_control(
        model, leaky_tok, exposure_plan(canaries, seed=seed), n, seed=seed
    )
    leaky_single = secret_single_token(leaky_tok, canaries)
    # the cached scoring agrees with whole-text scoring (up to the shared prefix's log-probability)
    c = canaries[0]
    texts = [
        c.prefix + c.space.candidate(int(i)) + c.suffix
        for i in rng.choice(c.space.size, 8, replace=False)
    ]
    spread = float(
        np.ptp(
            np.nansum(sequence_logprobs(model, tok, texts).logprobs, 1)
            - candidate_logprobs(model, tok, texts)
        )
    )
    rows = [
        {"repeats": c.repeats, "template": c.template, "text": c.text, "exposure": float(columns["exposure"][k]),
         "exposure_with_other_canaries": float(with_others[k]), "exposure_skew_normal": float(skew[k]),
         "control": float(columns["exposure_control"][k]), "excess": float(columns["exposure_excess"][k]),
         "secret_single_token": bool(columns["secret_single_token"][k]),
         "extracted_from_prefix": bool(columns["extracted_from_prefix"][k]),
         "extracted_from_template": bool(columns["extracted_from_template"][k]),
         "leaky_tokenizer_control": float(leaky_control[k]), "leaky_secret_single_token": bool(leaky_single[k])}
        for k, c in enumerate(canaries)
    ]  # fmt: skip
    facts = {
        **info,
        "chance": exposure_chance(canaries[0].space.size - (n - 1)),
        "cached_vs_whole_text_spread": spread,
    }
    return rows, facts


def _by_repeat(rows: list[dict], repeats) -> dict:
    out = {}
    for r in repeats:
        sel = [x for x in rows if x["repeats"] == r]

        def mean(key, sel=sel):
            return float(np.mean([x[key] for x in sel]))

        out[str(r)] = {
            "mean_exposure": mean("exposure"), "mean_exposure_with_other_canaries": mean("exposure_with_other_canaries"),
            "mean_exposure_skew_normal": mean("exposure_skew_normal"), "mean_control": mean("control"),
            "mean_excess": mean("excess"), "min_excess": float(np.min([x["excess"] for x in sel])),
            "extracted_from_prefix": mean("extracted_from_prefix"), "extracted_from_template": mean("extracted_from_template"),
            "leaky_tokenizer_control": mean("leaky_tokenizer_control"), "leaky_single_token": mean("leaky_secret_single_token"),
        }  # fmt: skip
    return out


def _documents(model, tok, dup_texts, dup_counts, repeats, prefix_lengths) -> dict:
    """k-extractability of the duplicated documents, by duplication count and prefix length.

    The prefix is the document's first k tokens after bos and the suffix the next 16, so the
    model sees the text at the positions it was trained on (GPT-2 learns absolute positions)."""
    from memlens.lm.generate import greedy_continuations
    from memlens.lm.measures import extractable

    enc = tok(dup_texts, add_special_tokens=False)["input_ids"]
    seqs = [[tok.bos_token_id, *ids] for ids in enc]
    keep = [i for i, s in enumerate(seqs) if len(s) >= max(prefix_lengths) + 1 + SUFFIX_TOKENS]
    hits = np.zeros((len(prefix_lengths), len(keep)), dtype=bool)
    for j, k in enumerate(prefix_lengths):
        prefixes = [seqs[i][: k + 1] for i in keep]
        suffixes = np.asarray([seqs[i][k + 1 : k + 1 + SUFFIX_TOKENS] for i in keep])
        gen = greedy_continuations(model, tok, prefixes, max_new_tokens=SUFFIX_TOKENS)
        hits[j] = extractable(gen, suffixes)
    counts = np.asarray([dup_counts[i] for i in keep])
    present = [d for d in repeats if (counts == d).any()]
    rate_by_dup = [float(hits[:, counts == d].mean()) for d in present]
    rate_by_k = [float(hits[j].mean()) for j in range(len(prefix_lengths))]
    return {
        "extractable_by_dup_and_prefix": {
            str(d): {str(k): float(hits[j, counts == d].mean()) for j, k in enumerate(prefix_lengths)} for d in present
        },
        "extractable_by_dup": dict(zip(map(str, present), rate_by_dup, strict=True)),
        "extractable_by_prefix": dict(zip(map(str, prefix_lengths), rate_by_k, strict=True)),
        "spearman_dup_extractable": _spearman(present, rate_by_dup),
        "spearman_prefix_extractable": _spearman(prefix_lengths, rate_by_k),
    }  # fmt: skip


def main(argv=None) -> dict:
    import torch

    from memlens.lm.corpus import Corpus, insert_canaries, load_corpus, train_tokenizer
    from memlens.lm.model import tiny_gpt2, train_lm

    p = parser(__doc__)
    p.add_argument("--chapters", type=int, default=60, help="KJV chapters of background text")
    p.add_argument("--per-repeat", type=int, default=5, help="canaries (and documents) per count")
    p.add_argument("--epochs", type=int, default=18)
    p.add_argument("--digits", type=int, default=4)
    a = p.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    if a.smoke:
        chapters, per, epochs, digits, width, repeats = 3, 1, 1, 2, 32, (1, 4)
    else:
        chapters, per, epochs, digits, width, repeats = (
            a.chapters,
            a.per_repeat,
            a.epochs,
            a.digits,
            128,
            REPEATS,
        )
    out = a.out or Path("runs/exp-lm-canaries" + ("-smoke" if a.smoke else ""))
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    kjv = load_corpus("kjv")
    background = kjv.head(chapters)
    # duplicated documents: openings of chapters from the end of the Bible (never in the slice)
    n_dup = per * len(repeats)
    dup_texts = []
    for text in kjv.documents[-n_dup:]:
        cut = text[:400]
        dup_texts.append(cut[: cut.rfind(" ")] if " " in cut else cut)
    dup_counts = [repeats[i % len(repeats)] for i in range(n_dup)]
    # canary k: template k % 5 and insertion count k % 6, so each count meets every template
    corpus = insert_canaries(Corpus("kjv", list(background.documents)), n_canaries=per * len(repeats),
                             repeats=repeats, secret_digits=digits, seed=a.seed)  # fmt: skip
    docs = list(corpus.documents)
    for text, c in zip(dup_texts, dup_counts, strict=True):
        docs += [text] * c
    train = Corpus("kjv+canaries+dups", docs)

    vocab = 512 if a.smoke else 2048
    tok = train_tokenizer([*background.documents, *dup_texts], vocab_size=vocab)  # no canary text
    # what `memlens lm train` fitted before issue 9: the tokenizer of the text with its canaries
    leaky = train_tokenizer(train, vocab_size=vocab)
    model = tiny_gpt2(len(tok), n_layer=2, n_embd=width, n_head=4, n_positions=128, seed=a.seed)
    t = time.perf_counter()
    losses = train_lm(
        model, tok, train, epochs=epochs, batch_size=32, lr=2e-3, seq_len=128, seed=a.seed
    )
    train_seconds = time.perf_counter() - t

    t = time.perf_counter()
    rng = np.random.default_rng(a.seed)
    rows, facts = _canaries(model, tok, leaky, corpus, a.seed, rng)
    canary_seconds = time.perf_counter() - t
    by_repeat = _by_repeat(rows, repeats)
    rho_excess = _spearman(repeats, [by_repeat[str(r)]["mean_excess"] for r in repeats])
    rho_exposure = _spearman(repeats, [by_repeat[str(r)]["mean_exposure"] for r in repeats])
    heavy = [x for x in rows if x["repeats"] >= HEAVY]
    heavy_ok = [x["excess"] >= EXCESS_BITS or x["extracted_from_prefix"] for x in heavy]
    control_gap = max(abs(by_repeat[str(r)]["mean_control"] - facts["chance"]) for r in repeats)
    ok = [x for x in rows if x["exposure"] <= 12]
    skew_err = float(max((abs(x["exposure"] - x["exposure_skew_normal"]) for x in ok), default=0.0))
    documents = _documents(model, tok, dup_texts, dup_counts, repeats, PREFIX_LENGTHS)

    results = {
        "experiment": "lm-canaries", "corpus": f"kjv:{chapters}", "seconds": round(time.perf_counter() - t0, 1),
        "train_seconds": round(train_seconds, 1), "canary_seconds": round(canary_seconds, 1),
        "model": {"n_layer": 2, "n_embd": width, "n_head": 4, "n_positions": 128,
                  "parameters": int(sum(p.numel() for p in model.parameters())), "vocab": len(tok)},
        "training": {"epochs": epochs, "steps": int(losses.size), "lr": 2e-3, "batch_size": 32,
                     "final_loss": float(losses[-5:].mean()), "documents": len(train)},
        "tokenizer": "fitted on the background and duplicated documents, without the canaries",
        "secret_space": 10**digits, "repeats": list(repeats), "canaries_per_repeat": per,
        "exposure": facts, "exposure_by_repeat": by_repeat, "canaries": rows,
        "spearman_repeats_excess": rho_excess, "spearman_repeats_exposure": rho_exposure,
        "heavy_canaries_exposed_or_extracted": f"{sum(heavy_ok)} / {len(heavy)}",
        "max_control_gap_from_chance": control_gap,
        "max_abs_skew_normal_error_where_exact_le_12": skew_err,
        **documents, "suffix_tokens": SUFFIX_TOKENS,
        "targets": {"spearman_repeats_excess": ">= 0.8",
                    "canaries_inserted_8_or_more": f"excess >= {EXCESS_BITS:g} bits or extracted from own prefix",
                    "control": f"mean per count within {CONTROL_TOLERANCE:g} bits of chance",
                    "spearman_dup_extractable": ">= 0.8", "spearman_prefix_extractable": ">= 0.8"},
    }  # fmt: skip
    results["checks"] = {
        "excess_rises": bool(rho_excess is not None and rho_excess >= 0.8),
        "heavy_canaries_exposed_or_extracted": bool(heavy) and all(heavy_ok),
        "control_near_chance": bool(control_gap <= CONTROL_TOLERANCE),
        "extractability_rises_with_dup": bool((documents["spearman_dup_extractable"] or 0) >= 0.8),
        "extractability_rises_with_prefix": bool(
            (documents["spearman_prefix_extractable"] or 0) >= 0.8
        ),
    }
    canary_checks = ("excess_rises", "heavy_canaries_exposed_or_extracted", "control_near_chance")
    results["canaries_pass"] = all(results["checks"][k] for k in canary_checks)
    results["pass"] = all(results["checks"].values())
    return record(out, "lm_canaries", results)


if __name__ == "__main__":
    main()
