"""Reproduction: canary exposure and extractability grow with repetition (Secret Sharer; Carlini 2023).

A tiny GPT-2 (2 layers, 128 wide, a 2,048-token byte-level BPE trained here on the text without
the canaries) is trained on a King James slice (``kjv:N`` chapters) plus

- **canaries** ``"the pin of NAME is DDDD"``: a 4-digit secret (|R| = 10^4, enumerable) behind a
  per-canary name, so each canary has its own prefix and greedy decoding can recover each one;
  ``--per-repeat`` canaries for each insertion count in 1, 2, 4, 8, 16, 32;
- **duplicated documents**: the opening ~400 characters of later KJV chapters (not in the slice),
  ``--per-repeat`` documents for each duplication count in 1, 2, 4, 8, 16, 32.

Measured: exact exposure of each canary (every one of the 10^4 candidate texts scored with
``sequence_logprobs``; log2|R| - log2 rank), the skew-normal extrapolation from 2,000 sampled
candidates, greedy extraction of each secret from its prefix, and k-extractability of a 16-token
suffix of each duplicated document (the 16 tokens after its first k) from prefixes of k = 2, 4, 8, 16, 32 tokens.

Pass (issue 5): Spearman(insertion count, mean exposure) >= 0.9; extractability rises with
duplication (Spearman of the rate, averaged over k, against the count >= 0.8) and with prefix
length (Spearman of the rate, averaged over counts, against k >= 0.8).

    python experiments/lm_canaries.py          # ~3 min on 2 cores
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


def _spearman(x, y) -> float:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant input (all 0 or all 1) has no rank correlation
        r = spearmanr(x, y)[0]
    return float(r) if np.isfinite(r) else None


def _secret_logprobs(model, prefix: list[int], digit_ids: list[int], n_digits: int) -> np.ndarray:
    """log p(secret | prefix) of every ``n_digits``-digit secret, by enumerating the digit tree.

    One forward pass per tree level over all its nodes (1 + 10 + ... + 10^(d-1) sequences), instead
    of scoring all 10^d whole texts: the prefix's log-probability is the same for every candidate,
    so ranks, hence exposure, are those of whole-text log-probabilities. Index i = secret f"{i:0d}".
    """
    import torch

    digit = torch.tensor(digit_ids)
    scores = torch.zeros(1, dtype=torch.float64)
    with torch.inference_mode():
        for level in range(n_digits):
            n = 10**level
            # node j at this level = the first `level` digits of j, most significant first
            paths = [[(j // 10 ** (level - 1 - q)) % 10 for q in range(level)] for j in range(n)]
            ids = torch.tensor([prefix + [digit_ids[d] for d in path] for path in paths])
            step = []
            for b in range(0, n, 2048):
                logits = model(input_ids=ids[b : b + 2048]).logits[:, -1].float()
                step.append(torch.log_softmax(logits, -1)[:, digit].double())  # (B, 10)
            scores = (scores[:, None] + torch.cat(step)).reshape(-1)  # (10 n,)
    return scores.numpy()


def main(argv=None) -> dict:
    import torch

    from memlens.lm.corpus import Corpus, insert_canaries, load_corpus, train_tokenizer
    from memlens.lm.generate import greedy_continuations
    from memlens.lm.measures import exposure_exact, exposure_skew_normal, extractable
    from memlens.lm.model import sequence_logprobs, tiny_gpt2, train_lm

    p = parser(__doc__)
    p.add_argument("--chapters", type=int, default=60, help="KJV chapters of background text")
    p.add_argument("--per-repeat", type=int, default=5, help="canaries (and documents) per count")
    p.add_argument("--epochs", type=int, default=12)
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
    prefix_lengths = PREFIX_LENGTHS
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

    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(a.seed)
    names: list[str] = []
    while len(names) < per * len(repeats):
        n = fake.first_name()
        if n not in names:
            names.append(n)
    corpus = Corpus("kjv+canaries", list(background.documents))
    for k, name in enumerate(names):
        corpus = insert_canaries(
            corpus, n_canaries=1, repeats=(repeats[k % len(repeats)],),
            template=f"the pin of {name} is " + "{secret}", secret_digits=digits, seed=a.seed * 1000 + k,
        )  # fmt: skip
    docs = list(corpus.documents)
    for text, c in zip(dup_texts, dup_counts, strict=True):
        docs += [text] * c
    train = Corpus("kjv+canaries+dups", docs)

    # tokenizer without the canaries: digits stay single bytes (no merge learnt from a repeated secret)
    tok = train_tokenizer([*background.documents, *dup_texts], vocab_size=512 if a.smoke else 2048)
    model = tiny_gpt2(len(tok), n_layer=2, n_embd=width, n_head=4, n_positions=128, seed=a.seed)
    t = time.perf_counter()
    losses = train_lm(
        model, tok, train, epochs=epochs, batch_size=32, lr=2e-3, seq_len=128, seed=a.seed
    )
    train_seconds = time.perf_counter() - t

    # --- exposure: every candidate secret behind each canary's own prefix -----------------------
    rows = []
    rng = np.random.default_rng(a.seed)
    digit_ids = tok.convert_tokens_to_ids(list("0123456789"))
    tree_check = 0.0
    for canary in corpus.canaries:
        full = tok(canary.text, add_special_tokens=False)["input_ids"]
        if tok.convert_ids_to_tokens(full[-digits:]) != list(canary.secret):
            raise RuntimeError(
                "the tokenizer merged digits; the digit-tree enumeration needs one token per digit"
            )
        total = _secret_logprobs(model, [tok.bos_token_id, *full[:-digits]], digit_ids, digits)
        if (
            canary is corpus.canaries[0]
        ):  # the tree agrees with whole-text scoring (up to log p(prefix))
            pick = rng.choice(total.size, size=8, replace=False)
            lp = sequence_logprobs(
                model, tok, [canary.prefix + canary.space.candidate(int(i)) for i in pick]
            )
            whole = np.nansum(lp.logprobs, axis=1)
            tree_check = float(np.ptp(whole - total[pick]))
        own = total[int(canary.secret)]
        exact = exposure_exact(own, total)
        sample = total[rng.choice(total.size, size=min(2000, total.size), replace=False)]
        extrap = exposure_skew_normal(own, sample, space_size=canary.space.size)
        # greedy extraction of the secret from the prefix
        enc = tok(canary.text, add_special_tokens=False, return_offsets_mapping=True)
        ids, offsets = enc["input_ids"], enc["offset_mapping"]
        n_pre = sum(1 for (s, e) in offsets if e <= len(canary.prefix.rstrip()))
        prefix = [tok.bos_token_id, *ids[:n_pre]]
        suffix = ids[n_pre:]
        gen = greedy_continuations(model, tok, [prefix], max_new_tokens=len(suffix))
        rows.append({
            "repeats": canary.repeats, "secret": canary.secret, "exposure": float(exact),
            "exposure_skew_normal": float(extrap),
            "extracted": bool(extractable(gen, np.asarray([suffix]))[0]),
            "greedy": tok.decode(gen[0]),
        })  # fmt: skip
    by_repeat = {}
    for r in repeats:
        sel = [x for x in rows if x["repeats"] == r]
        by_repeat[str(r)] = {
            "mean_exposure": float(np.mean([x["exposure"] for x in sel])),
            "min_exposure": float(np.min([x["exposure"] for x in sel])),
            "mean_exposure_skew_normal": float(np.mean([x["exposure_skew_normal"] for x in sel])),
            "extracted_fraction": float(np.mean([x["extracted"] for x in sel])),
        }
    mean_exp = [by_repeat[str(r)]["mean_exposure"] for r in repeats]
    rho_exposure = _spearman(repeats, mean_exp)
    ok = [x for x in rows if x["exposure"] <= 12]
    extrap_err = float(
        max((abs(x["exposure"] - x["exposure_skew_normal"]) for x in ok), default=0.0)
    )

    # --- k-extractability of duplicated documents -------------------------------------------------
    # the prefix is the document's first k tokens after bos and the suffix the next 16, so the
    # model sees the text at the positions it was trained on (GPT-2 learns absolute positions)
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
    table = {
        str(d): {str(k): float(hits[j, counts == d].mean()) for j, k in enumerate(prefix_lengths)}
        for d in repeats if (counts == d).any()
    }  # fmt: skip
    rate_by_dup = [float(hits[:, counts == d].mean()) for d in repeats if (counts == d).any()]
    dups_present = [d for d in repeats if (counts == d).any()]
    rate_by_k = [float(hits[j].mean()) for j in range(len(prefix_lengths))]
    rho_dup = _spearman(dups_present, rate_by_dup)
    rho_k = _spearman(prefix_lengths, rate_by_k)

    results = {
        "experiment": "lm-canaries", "corpus": f"kjv:{chapters}", "seconds": round(time.perf_counter() - t0, 1),
        "train_seconds": round(train_seconds, 1),
        "model": {"n_layer": 2, "n_embd": width, "n_head": 4, "n_positions": 128,
                  "parameters": int(sum(p.numel() for p in model.parameters())), "vocab": len(tok)},
        "training": {"epochs": epochs, "steps": int(losses.size), "lr": 2e-3, "batch_size": 32,
                     "final_loss": float(losses[-5:].mean()), "documents": len(train)},
        "secret_space": 10**digits, "repeats": list(repeats), "canaries_per_repeat": per,
        "exposure_by_repeat": by_repeat, "canaries": rows,
        "spearman_repeats_exposure": rho_exposure,
        "max_abs_skew_normal_error_where_exact_le_12": extrap_err,
        "digit_tree_vs_whole_text_spread": tree_check,
        "extractable_by_dup_and_prefix": table, "extractable_by_dup": dict(zip(map(str, dups_present), rate_by_dup, strict=True)),
        "extractable_by_prefix": dict(zip(map(str, prefix_lengths), rate_by_k, strict=True)),
        "spearman_dup_extractable": rho_dup, "spearman_prefix_extractable": rho_k,
        "suffix_tokens": SUFFIX_TOKENS,
        "targets": {"spearman_repeats_exposure": ">= 0.9", "spearman_dup_extractable": ">= 0.8",
                    "spearman_prefix_extractable": ">= 0.8"},
    }  # fmt: skip
    results["checks"] = {
        "exposure_rises": bool(rho_exposure is not None and rho_exposure >= 0.9),
        "extractability_rises_with_dup": bool(rho_dup is not None and rho_dup >= 0.8),
        "extractability_rises_with_prefix": bool(rho_k is not None and rho_k >= 0.8),
    }
    results["pass"] = all(results["checks"].values())
    return record(out, "lm_canaries", results)


if __name__ == "__main__":
    main()
