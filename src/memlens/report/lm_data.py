"""Reading a language-model run for its report: thresholds and column help, ``lm_scores.parquet``
and ``lm.json``, the rows' order, and how numbers and counts are worded.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

#: a canary with at least this many bits of exposure is "exposed" (2^-10: ranked in the top 0.1%
#: of its secret space by the model's likelihood)
EXPOSED_BITS = 10.0
EXCERPT = 200

LM_HELP = {
    "id": "document id in the corpus, or canary-K",
    "kind": "document (a corpus text) or canary (a planted secret, inserted `repeats` times)",
    "text": "the text's first characters",
    "repeats": "how many times the text occurs in the training corpus (canaries: insertion count)",
    "member": "whether the model trained on the text (held-out documents: no)",
    "canary": "whether the row is a planted canary",
    "exposure": "canary exposure in bits: log2(secret-space size) − log2(rank of the true secret), "
    "ranked against the space minus the other canaries' secrets",
    "exposure_control": "exposure of the canary under untrained models with the same configuration and "
    "tokenizer (mean of a few initialisations): what the tokenizer alone gives; chance ≈ 1.44 bits",
    "exposure_excess": f"exposure − control: what training added; ≥ {EXPOSED_BITS:g} bits means exposed",
    "secret_single_token": "the secret is one token of the tokenizer's vocabulary (fitted on text containing "
    "it): its exposure reflects the tokenizer",
    "extracted_from_prefix": "greedy decoding from the canary's own prefix (its name, record fields, label) "
    "writes the secret",
    "extracted_from_template": "greedy decoding from the bare template label shared by the canaries of its "
    "template (no name) writes this canary's secret",
    "extractable_at_k": "shortest prefix (tokens) from which greedy decoding reproduces the suffix exactly; -1 if none",
    "min_k": "Min-K% membership score (higher = more likely a member)",
    "min_k_pp": "Min-K%++ membership score (higher = more likely a member)",
    "zlib": "log-likelihood over zlib-compressed size (higher = more likely a member)",
    "loss": "mean token log-probability, i.e. minus the loss (higher = more likely a member)",
    "reference": "log-likelihood under the target minus under a reference model (higher = more likely a member)",
    "counterfactual": "counterfactual memorization: token accuracy of models trained on it minus held out",
    "longest_verbatim_span": "longest run of greedily generated tokens found verbatim in a training document",
    "granularity": "most literal memorization in the greedy generation against the true continuation: "
    "verbatim (≥ 50 characters in common), approximate (case-folded BLEU or case- and space-free edit "
    "similarity ≥ 0.75), paraphrase (embedding cosine ≥ 0.8, BLEU < 0.75), idea (≥ half of its numbers "
    "and names restated) or none; empty if too short to test. Details: lm_granularity.parquet",
}

SCORE_NAMES = {
    "loss": "loss",
    "zlib": "zlib ratio",
    "min_k": "Min-K%",
    "min_k_pp": "Min-K%++",
    "reference": "reference-model ratio",
}


def is_lm_run(path) -> bool:
    """Whether ``path`` holds a language-model audit (``lm_scores.parquet``)."""
    return (Path(path) / "lm_scores.parquet").is_file()



# --- reading ------------------------------------------------------------------------------------


def _read(path: Path):
    import pandas as pd

    from memlens.errors import RunStoreError

    if not is_lm_run(path):
        raise RunStoreError(
            f"{path} has no lm_scores.parquet: the language-model audit did not finish. Re-run its "
            "`memlens lm audit` command, then write the report."
        )
    frame = pd.read_parquet(path / "lm_scores.parquet")
    try:
        result = json.loads((path / "lm.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        result = {"note": "lm.json is missing from the run."}
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        result = {"note": f"lm.json is damaged ({e})."}
    if not isinstance(result, dict):
        result = {"note": "lm.json does not hold an object."}
    return frame, result


def _col(frame, name: str, dtype=np.float64, fill=np.nan) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), fill, dtype=dtype)
    return frame[name].to_numpy(dtype=dtype, na_value=fill)


def exposure_column(frame) -> str:
    """The column verdicts read: ``exposure_excess`` (over the tokenizer-only control) when the run
    has it, else ``exposure`` (runs audited before the control existed)."""
    return "exposure_excess" if "exposure_excess" in frame.columns else "exposure"


def sort_rows(frame):
    """Most exposed canaries first (by excess over the control when present), then extractable
    texts (shortest prefix first), then the longest verbatim span; the table keeps this order
    among rows with no exposure."""
    exposure = np.nan_to_num(_col(frame, exposure_column(frame)), nan=-np.inf)
    k = _col(frame, "extractable_at_k", np.float64, -1.0)
    extractable = k >= 0
    span = np.nan_to_num(_col(frame, "longest_verbatim_span"), nan=-np.inf)
    order = np.lexsort((-span, np.where(extractable, k, np.inf), ~extractable, -exposure))
    return frame.iloc[order].reset_index(drop=True)


# --- numbers and labels -------------------------------------------------------------------------

#: how the summary and configuration name their counts, so both say the same thing the same way
COUNT_LABELS = {
    "n_documents": "documents (canary copies not counted)",
    "n_canary_copies": "canary copies inserted",
    "n_members": "documents trained on (members)",
    "n_heldout": "documents held out (non-members)",
    "heldout": "documents held out (non-members)",
    "n_canaries": "canaries",
}


def _number(v):
    """Floats as 4 significant digits (lm.json keeps full precision), recursively; others as they are."""
    if isinstance(v, float):
        if not math.isfinite(v):
            return "–"
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"
    if isinstance(v, list | tuple):
        return [_number(x) for x in v]
    if isinstance(v, dict):
        return {k: _number(x) for k, x in v.items()}
    return v


def _items(block: dict, *, config: bool = False) -> list[tuple[str, object]]:
    """(label, formatted value) pairs of an lm.json block, with the counts labelled as above."""
    labels = dict(COUNT_LABELS)
    if config and "n_canary_copies" not in block:  # runs audited before the copies were counted apart
        labels["n_documents"] = "texts (canary copies included)"
    return [(labels.get(k, k if config else k.replace("_", " ")), _number(v)) for k, v in block.items()]


