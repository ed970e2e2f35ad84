"""``memlens lm …``: train a tiny GPT-2 on a corpus with canaries, and audit a causal LM.

Kept light at import (no torch / transformers): the main ``memlens`` app imports this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from memlens.errors import MemlensError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def _repeats(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise MemlensError(f"--repeats takes comma-separated whole numbers such as 1,2,4,8; got '{text}'.") from None
    if not values or min(values) < 1:
        raise MemlensError(f"--repeats needs whole numbers >= 1 such as 1,2,4,8; got '{text}'.")
    return values


def _ints(text: str, option: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise MemlensError(f"{option} takes comma-separated whole numbers; got '{text}'.") from None
    if not values or min(values) < 1:
        raise MemlensError(f"{option} needs positive whole numbers; got '{text}'.")
    return values


def _quiet_transformers(progress: bool) -> None:
    """Without --progress, hide transformers' own load/save progress bars too."""
    if not progress:
        from transformers.utils import logging

        logging.disable_progress_bar()


def _secret_digits(value: int) -> int | None:
    return None if value == 0 else value


Corpus_ = Annotated[str, typer.Option("--corpus", help="kjv, pydoc (':N' keeps the first N documents), or a .txt (blank-line separated) / .jsonl (a 'text' field per line) file.")]
Canaries = Annotated[int | None, typer.Option(help="Canaries to insert (Faker secrets in 'my social security number is …').", show_default=False)]
Repeats = Annotated[str, typer.Option(help="Insertions of canary k: the k-th value of this list, cycled.")]
Digits = Annotated[int, typer.Option(help="Secrets of this many random digits (exact exposure up to 5); 0 for SSN-style secrets (skew-normal exposure).")]


@app.command()
def train(
    corpus: Corpus_,
    out: Annotated[Path, typer.Option(help="New folder for the checkpoint (model, tokenizer, memlens_lm.json).")],
    canaries: Canaries = 0,
    repeats: Repeats = "1,2,4,8",
    secret_digits: Digits = 4,
    epochs: Annotated[int, typer.Option(help="Passes over the training documents.")] = 10,
    layers: Annotated[int, typer.Option(help="Transformer layers.")] = 2,
    width: Annotated[int, typer.Option(help="Embedding width (divisible by --heads).")] = 64,
    heads: Annotated[int, typer.Option(help="Attention heads.")] = 2,
    context: Annotated[int, typer.Option(help="Context length in tokens (training windows).")] = 128,
    vocab: Annotated[int, typer.Option(help="BPE vocabulary size (>= 258).")] = 2048,
    lr: Annotated[float, typer.Option(help="Learning rate (AdamW).")] = 3e-3,
    holdout: Annotated[float, typer.Option(help="Fraction of documents left out of training (the audit's non-members).")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seeds canaries, the held-out split and the model.")] = 0,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Train a byte-level BPE tokenizer and a tiny GPT-2 on CORPUS (with canaries) and save both.

    Also writes OUT/memlens_lm.json (corpus, canaries, held-out documents) so that `memlens lm
    audit --model OUT --corpus CORPUS` audits it against the right ground truth.
    """
    from rich.console import Console

    from memlens.lm.audit import CanarySpec, ModelSpec, heldout_mask, save_target, train_target
    from memlens.lm.corpus import load_corpus

    console = Console()
    _quiet_transformers(progress)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise MemlensError(f"{out} exists and is not empty; choose a new folder for the checkpoint.")
    if width % heads:
        raise MemlensError(f"--width {width} must be divisible by --heads {heads}.")
    if epochs < 1 or layers < 1 or context < 8:
        raise MemlensError("--epochs and --layers must be >= 1 and --context >= 8.")
    spec = ModelSpec(n_layer=layers, n_embd=width, n_head=heads, n_positions=context, epochs=epochs,
                     lr=lr, vocab_size=vocab)  # fmt: skip
    can = CanarySpec(n=canaries or 0, repeats=_repeats(repeats), secret_digits=_secret_digits(secret_digits), seed=seed)
    text = can.apply(load_corpus(corpus))
    heldout_mask(text, holdout, seed)  # refuse a bad split before training
    console.print(
        f"[bold]memlens lm train[/] {text.name}: {len(text)} documents"
        + (f" with {can.n} canaries × {','.join(map(str, can.repeats))}" if can.n else "")
        + f"; GPT-2 {layers}×{width}, context {context}, {epochs} epochs → {out}"
    )
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("[bold]training[/]"), BarColumn(), TextColumn("{task.completed} steps"),
                  TimeElapsedColumn(), disable=not progress) as bar:  # fmt: skip
        task = bar.add_task("train", total=None)
        model, tokenizer, held = train_target(text, spec=spec, holdout=holdout, seed=seed,
                                              progress=lambda k: bar.advance(task, k))  # fmt: skip
    save_target(model, tokenizer, out, corpus=text, corpus_arg=corpus, canaries=can, spec=spec,
                holdout=holdout, heldout=held, seed=seed)  # fmt: skip
    console.print(f"saved [bold]{out}[/] ({int((~held).sum())} training documents, {int(held.sum())} held out)")


@app.command()
def audit(
    model: Annotated[Path, typer.Option(help="A causal-LM checkpoint folder (e.g. from `memlens lm train`).")],
    corpus: Corpus_,
    out: Annotated[Path, typer.Option(help="Run directory for lm_scores.parquet and lm.json.")],
    reference: Annotated[Path | None, typer.Option(help="A second local causal-LM checkpoint scored as the reference model (the `reference` membership score).")] = None,
    canaries: Canaries = None,
    repeats: Repeats = "1,2,4,8",
    secret_digits: Digits = 4,
    models: Annotated[int, typer.Option(help="Small GPT-2s on random halves for counterfactual memorization (0: skip; else >= 2).")] = 0,
    engine_epochs: Annotated[int, typer.Option(help="Epochs of each counterfactual model.")] = 20,
    prefixes: Annotated[str, typer.Option(help="Prefix lengths (tokens) tried for extraction.")] = "4,8,16,32",
    suffix: Annotated[int, typer.Option(help="Suffix tokens greedy decoding must reproduce.")] = 16,
    seed: Annotated[int, typer.Option(help="Seeds canaries (when not recorded with the model) and the engine.")] = 0,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Membership scores, extraction, canary exposure and (with --models) counterfactual memorization.

    Canaries and held-out documents come from MODEL/memlens_lm.json when the model was trained by
    `memlens lm train`; otherwise give --canaries as the training did. Writes RUN/lm_scores.parquet
    (one row per document or canary) and RUN/lm.json.
    """
    from rich.console import Console

    from memlens.lm.audit import CanarySpec, lm_audit
    from memlens.lm.corpus import load_corpus

    console = Console()
    _quiet_transformers(progress)
    can = None
    if canaries is not None:
        can = CanarySpec(n=canaries, repeats=_repeats(repeats), secret_digits=_secret_digits(secret_digits), seed=seed)
    text = load_corpus(corpus)
    result = lm_audit(
        text, out=out, model_path=model, reference_path=reference, models=models, canaries=can, seed=seed,
        engine_epochs=engine_epochs, prefix_lengths=_ints(prefixes, "--prefixes"), suffix_length=suffix,
        progress=progress, console=console,
    )  # fmt: skip
    s = result.summary["summary"]
    console.print(
        f"{s['n_documents']} documents ({s['n_heldout']} held out), {s['n_canaries']} canaries; "
        f"extractable: {s['extractable_documents']} documents, {s['extractable_canaries']} canaries"
    )
    if s.get("exposure_by_repeats"):
        console.print("exposure by insertions: " + ", ".join(f"{r}× {e:.2f} bits" for r, e in s["exposure_by_repeats"].items()))
    for name, value in result.summary["mia"].get("auroc", {}).items():
        console.print(f"  {name:<9} AUROC {value:.3f}")
    if "note" in result.summary["mia"]:
        console.print(f"  {result.summary['mia']['note']}")
    console.print(f"wrote {out}/lm_scores.parquet, lm.json")
