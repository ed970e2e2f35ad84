"""Reproduction: membership scores of a small LM trained several epochs reach AUROC >= 0.6.

Documents are Python's help topics (``pydoc_data.topics``) split into paragraphs (200–1,000
characters, cut at a space; ~700 documents), shuffled and split into three equal parts: the
target model trains on part A (members), part B is held out (non-members), and a reference model
of the same shape trains on part C, disjoint from both. Both are tiny GPT-2s (2 layers, 128 wide,
a 2,048-token byte-level BPE trained on all paragraphs), ``--epochs`` epochs each.

Scores (higher = member; ``memlens.lm.measures``): loss, zlib ratio, Min-K% (k = 20%), Min-K%++
(k = 20%) and the reference-model ratio (mean log p target - mean log p reference). Each is
evaluated with ``memlens.estimate.attack_metrics`` (AUROC, TPR at 1% / 10% FPR), at the final
epoch and at a checkpoint after a third of the epochs (does the AUROC grow with training?).

Pass (issue 5): every score's AUROC >= 0.6.

    python experiments/lm_membership.py        # ~4 min on 2 cores
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as `python experiments/NAME.py`
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.common import parser, record

SCORES = ("loss", "zlib", "min_k", "min_k_pp", "reference")


def paragraphs(min_chars: int = 200, max_chars: int = 1000) -> list[str]:
    """pydoc help topics split at blank lines; long paragraphs cut at a space before max_chars."""
    from memlens.lm.corpus import load_corpus

    out = []
    for doc in load_corpus("pydoc").documents:
        for para in doc.split("\n\n"):
            para = para.strip()
            if len(para) < min_chars:
                continue
            if len(para) > max_chars:
                para = para[: para.rfind(" ", 0, max_chars)]
            out.append(para)
    return list(dict.fromkeys(out))  # exact duplicates would be members and non-members at once


def _scores(model, ref_lp, tok, texts) -> dict:
    from memlens.lm.measures import (
        loss_score,
        min_k_plus_plus_score,
        min_k_score,
        reference_ratio_score,
        zlib_score,
    )
    from memlens.lm.model import sequence_logprobs

    lp = sequence_logprobs(model, tok, texts, batch_size=64, truncate=True)
    return {
        "loss": loss_score(lp.logprobs),
        "zlib": zlib_score(lp.logprobs, texts),
        "min_k": min_k_score(lp.logprobs, k=0.2),
        "min_k_pp": min_k_plus_plus_score(lp.logprobs, lp.mean, lp.var, k=0.2),
        "reference": reference_ratio_score(lp.logprobs, ref_lp),
    }


def main(argv=None) -> dict:
    import torch

    from memlens.estimate import attack_metrics
    from memlens.lm.corpus import train_tokenizer
    from memlens.lm.model import sequence_logprobs, tiny_gpt2, train_lm

    p = parser(__doc__)
    p.add_argument("--epochs", type=int, default=15)
    a = p.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    docs = paragraphs()
    rng = np.random.default_rng(a.seed)
    docs = [docs[i] for i in rng.permutation(len(docs))]
    if a.smoke:
        docs, epochs, width, vocab = docs[:36], 2, 32, 512
    else:
        epochs, width, vocab = a.epochs, 128, 2048
    out = a.out or Path("runs/exp-lm-membership" + ("-smoke" if a.smoke else ""))
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    third = len(docs) // 3
    members, nonmembers, reference = (
        docs[:third],
        docs[third : 2 * third],
        docs[2 * third : 3 * third],
    )
    texts = members + nonmembers
    labels = np.r_[np.ones(len(members), bool), np.zeros(len(nonmembers), bool)]
    tok = train_tokenizer(docs, vocab_size=vocab)

    def fresh(seed):
        return tiny_gpt2(len(tok), n_layer=2, n_embd=width, n_head=4, n_positions=256, seed=seed)

    kw = dict(batch_size=16, lr=2e-3, seq_len=256)
    ref = fresh(a.seed + 1)
    ref_losses = train_lm(ref, tok, reference, epochs=epochs, seed=a.seed + 1, **kw)
    ref_lp = sequence_logprobs(ref, tok, texts, batch_size=64, truncate=True).logprobs

    # target: a short run (a third of the epochs) and the full run, each from scratch
    curves, finals = {}, {}
    early = max(1, epochs // 3)
    for name, n_ep in (("early", early), ("final", epochs)):
        model = fresh(a.seed)
        losses = train_lm(model, tok, members, epochs=n_ep, seed=a.seed, **kw)
        scores = _scores(model, ref_lp, tok, texts)
        curves[name] = {s: attack_metrics(labels, v, fprs=(0.01, 0.1)) for s, v in scores.items()}
        finals[name] = {
            "epochs": n_ep,
            "steps": int(losses.size),
            "final_loss": float(losses[-5:].mean()),
        }
        if name == "final":
            lp = sequence_logprobs(model, tok, texts, batch_size=64, truncate=True).logprobs
            mean_loss_members = float(-np.nanmean(lp[labels]))
            mean_loss_nonmembers = float(-np.nanmean(lp[~labels]))

    auroc = {s: curves["final"][s]["auc"] for s in SCORES}
    results = {
        "experiment": "lm-membership", "corpus": "pydoc paragraphs (200-1000 chars)",
        "seconds": round(time.perf_counter() - t0, 1),
        "n_members": len(members), "n_nonmembers": len(nonmembers), "n_reference_docs": len(reference),
        "model": {"n_layer": 2, "n_embd": width, "n_head": 4, "n_positions": 256, "vocab": len(tok),
                  "parameters": int(sum(p.numel() for p in model.parameters()))},
        "training": {**kw, "target": finals, "reference": {"epochs": epochs, "final_loss": float(ref_losses[-5:].mean())}},
        "token_loss_members": mean_loss_members, "token_loss_nonmembers": mean_loss_nonmembers,
        "auroc": auroc, "auroc_early": {s: curves["early"][s]["auc"] for s in SCORES},
        "tpr_at_fpr": {s: curves["final"][s]["tpr_at_fpr"] for s in SCORES},
        "targets": {"auroc": ">= 0.6 for every score"},
    }  # fmt: skip
    results["checks"] = {f"auroc_{s}_ge_0.6": bool(auroc[s] >= 0.6) for s in SCORES}
    results["checks"]["auroc_grows_with_epochs"] = bool(
        all(auroc[s] >= results["auroc_early"][s] for s in SCORES)
    )
    results["pass"] = all(
        v for k, v in results["checks"].items() if k.startswith("auroc_") and "ge" in k
    )
    return record(out, "lm_membership", results)


if __name__ == "__main__":
    main()
