"""Reproduction: counterfactual memorization is higher for rare than for heavily duplicated documents.

Documents are Python's help topics (``pydoc_data.topics``) split into paragraphs and cut at a
space to 120–240 characters (short: each fits the engine models' 64-token context), shuffled.
``--unique`` of them appear once in the training corpus (rare); ``--duplicated`` others appear
``--copies`` times each (heavily duplicated). Every copy is a document of its own, so the engine's
halves design puts each copy IN for exactly half of the ``--models`` models, independently of
the other copies of the same text.

The engine (:func:`memlens.lm.audit._engine`: :class:`memlens.lm.engine.LMTrainer` with the
resumable :class:`memlens.store.RunStore` under ``--out``) trains ``--models`` tiny GPT-2s
(1 layer, 64 wide, 64-token context, a 1,024-token byte-level BPE trained on the corpus) for
``--epochs`` epochs each and reports counterfactual memorization (Zhang et al.) per document:
token accuracy IN minus OUT. A duplicated text's value is the mean over its copies.

Pass (issue 5): mean counterfactual of the rare documents >= 3x that of the duplicated ones.

    python experiments/lm_counterfactual.py        # ~1 min on 2 cores
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as `python experiments/NAME.py`
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.common import parser, record


def short_paragraphs(min_chars: int = 120, max_chars: int = 240) -> list[str]:
    """pydoc help-topic paragraphs, cut at a space before ``max_chars``; exact duplicates dropped."""
    from memlens.lm.corpus import load_corpus

    out = []
    for doc in load_corpus("pydoc").documents:
        for para in doc.split("\n\n"):
            para = " ".join(para.split())
            if len(para) < min_chars:
                continue
            if len(para) > max_chars:
                para = para[: para.rfind(" ", 0, max_chars)]
            out.append(para)
    return list(dict.fromkeys(out))


def main(argv=None) -> dict:
    import torch

    from memlens.lm.audit import _engine
    from memlens.lm.corpus import Corpus, train_tokenizer

    p = parser(__doc__)
    p.add_argument("--models", type=int, default=10)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--unique", type=int, default=60)
    p.add_argument("--duplicated", type=int, default=6)
    p.add_argument("--copies", type=int, default=12)
    a = p.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    if a.smoke:
        a.models, a.epochs, a.unique, a.duplicated, a.copies = 4, 2, 8, 2, 4
    out = a.out or Path("runs/exp-lm-counterfactual" + ("-smoke" if a.smoke else ""))
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    paras = short_paragraphs()
    rng = np.random.default_rng(a.seed)
    paras = [paras[i] for i in rng.permutation(len(paras))[: a.unique + a.duplicated]]
    rare, dup = paras[: a.unique], paras[a.unique :]
    documents = list(rare) + [t for t in dup for _ in range(a.copies)]
    ids = [f"rare-{i}" for i in range(len(rare))] + [
        f"dup-{j}-copy-{c}" for j in range(len(dup)) for c in range(a.copies)
    ]
    text_of = np.r_[np.arange(len(rare)), np.repeat(len(rare) + np.arange(len(dup)), a.copies)]
    corpus = Corpus("pydoc-short-paragraphs", documents, ids)
    tok = train_tokenizer(corpus, vocab_size=1024)

    members = np.ones(len(corpus), dtype=bool)  # every document is a training document
    engine, per_doc = _engine(corpus, members, tok, a.models, out, a.seed, a.epochs, 64,
                              not a.no_progress)  # fmt: skip
    per_text = np.array([np.nanmean(per_doc[text_of == t]) for t in range(len(paras))])
    rare_cf, dup_cf = per_text[: len(rare)], per_text[len(rare) :]
    mean_rare, mean_dup = float(np.nanmean(rare_cf)), float(np.nanmean(dup_cf))
    ratio = mean_rare / mean_dup if mean_dup > 0 else float("inf")
    results = {
        "experiment": "lm-counterfactual",
        "corpus": "pydoc paragraphs cut to 120-240 chars",
        "seconds": round(time.perf_counter() - t0, 1),
        "n_rare": len(rare), "n_duplicated": len(dup), "copies": a.copies,
        "n_training_documents": len(corpus), "models": a.models, "epochs": a.epochs,
        "vocab": len(tok), "engine": engine, "measure": "token accuracy IN minus OUT",
        "mean_counterfactual_rare": mean_rare,
        "mean_counterfactual_duplicated": mean_dup,
        "median_counterfactual_rare": float(np.nanmedian(rare_cf)),
        "median_counterfactual_duplicated": float(np.nanmedian(dup_cf)),
        "ratio_rare_over_duplicated": ratio,
        "difference_rare_minus_duplicated": mean_rare - mean_dup,
        "counterfactual_duplicated_per_text": [float(v) for v in dup_cf],
        "targets": {"ratio_rare_over_duplicated": ">= 3"},
    }  # fmt: skip
    results["checks"] = {"ratio_ge_3": bool(ratio >= 3), "rare_positive": bool(mean_rare > 0)}
    results["pass"] = all(results["checks"].values())
    return record(out, "lm_counterfactual", results)


if __name__ == "__main__":
    main()
