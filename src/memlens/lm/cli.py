"""``memlens lm …``: train a tiny GPT-2 on a corpus with canaries, and audit a causal LM.

Kept light at import (no torch / transformers): the main ``memlens`` app imports this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

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


def _recorded_corpus(model: Path) -> str:
    """The corpus a `memlens lm train` checkpoint records, or a MemlensError saying to pass --corpus."""
    from memlens.lm.audit import RECORD, read_record

    record = read_record(model) if model.is_dir() else None
    recorded = (record or {}).get("corpus")
    if not recorded:
        raise MemlensError(
            f"{model} records no training corpus (no {RECORD} from `memlens lm train`); pass --corpus "
            "with the corpus the model was trained on."
        )
    path = Path(recorded)
    if path.suffix in (".txt", ".jsonl") and not path.is_absolute():
        raise MemlensError(
            f"{model}/{RECORD} names the corpus by a relative path, {recorded} (an older memlens "
            "recorded it so); pass --corpus with that file's path."
        )
    if path.suffix in (".txt", ".jsonl") and not path.is_file():
        raise MemlensError(
            f"{model} was trained on {recorded}, which is no longer there; pass --corpus with the "
            "file's new path."
        )
    return recorded


def _rate(x: float) -> str:
    """A rate in percent, short: 0.917 → '92', 0.083 → '8.3', 0 → '0'."""
    x = 100 * float(x)
    return f"{x:.0f}" if x == 0 or x >= 10 else f"{x:.1f}"


def membership_table(mia: dict):
    """lm.json's membership numbers as a rich Table: AUROC, then per FPR level the held-out TPR
    and the FPR its threshold let through, each with its 95% interval (None without scores)."""
    from rich.table import Table

    aurocs = mia.get("auroc") or {}
    if not aurocs:
        return None
    low = (mia.get("low_fpr") or {}).get("scores") or {}
    levels = sorted({k for v in low.values() for k in v.get("tpr_at_fpr", {})}, key=float)
    table = Table(box=None, padding=(0, 1), title_justify="left", caption_justify="left",
                  title="membership: training vs held-out documents, % (95% interval)",
                  caption="TPR: threshold set on one half of the documents, measured on the other half, "
                          "with the FPR it let through there" if levels else None)  # fmt: skip
    table.add_column("score")
    table.add_column("AUROC", justify="right")
    for level in levels:
        words = f"{float(level) * 100:g}%"
        table.add_column(f"TPR@{words}", justify="right")
        table.add_column(f"FPR@{words}", justify="right")
    for name, value in aurocs.items():
        cells = [name, f"{value:.3f}"]
        for level in levels:
            if name not in low:
                cells += ["–", "–"]
                continue
            got = low[name]
            for rate, ci in ((got["tpr_at_fpr"], got["tpr_ci"]), (got["fpr_achieved"], got["fpr_ci"])):
                cells.append(f"{_rate(rate[level])} ({_rate(ci[level][0])}–{_rate(ci[level][1])})")
        table.add_row(*cells)
    return table


def print_membership(console, mia: dict) -> None:
    """The membership table, then lm.json's cautions and note (as text: they are not markup)."""
    from rich.text import Text

    table = membership_table(mia)
    if table is not None:
        console.print(table)
    for w in mia.get("warnings", []):
        console.print(Text.assemble(("caution: ", "yellow"), w))
    if "note" in mia:
        console.print(Text(str(mia["note"])))


def _secret_digits(value: int) -> int | None:
    return None if value == 0 else value


Corpus_ = Annotated[str, typer.Option("--corpus", help="kjv, pydoc (':N' keeps the first N documents), or a .txt (blank-line separated) / .jsonl (a 'text' field per line) file.")]
Canaries = Annotated[int | None, typer.Option(help="Canaries to insert: Faker PII records, each with its own name or e-mail and a labelled secret ('Norma Fisher, SSN …').", show_default=False)]
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
    """Train a byte-level BPE tokenizer on CORPUS without the canaries, and a tiny GPT-2 on CORPUS
    with them; save both.

    Also writes OUT/memlens_lm.json (corpus, files by absolute path; canaries; held-out documents)
    so that `memlens lm audit --model OUT` audits it against the right ground truth.
    """
    from rich.console import Console

    from memlens.lm.audit import CanarySpec, ModelSpec, heldout_mask, save_target, train_target
    from memlens.lm.corpus import load_corpus

    console = Console(emoji=False)  # user strings (paths, corpus names) print as given
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
    plain = load_corpus(corpus)
    text = can.apply(plain)
    heldout_mask(text, holdout, seed)  # refuse a bad split before training
    console.print(
        f"[bold]memlens lm train[/] {escape(text.name)}: {len(text)} documents"
        + (f" with {can.n} canaries × {','.join(map(str, can.repeats))}" if can.n else "")
        + f"; GPT-2 {layers}×{width}, context {context}, {epochs} epochs → {escape(str(out))}"
    )
    from memlens.progress import track

    with track(None, unit="steps", enabled=progress, console=console) as advance:
        model, tokenizer, held = train_target(text, spec=spec, holdout=holdout, seed=seed, progress=advance)
    # the corpus as loaded names a file by its absolute path, so the audit finds it from anywhere
    save_target(model, tokenizer, out, corpus=text, corpus_arg=plain.name, canaries=can, spec=spec,
                holdout=holdout, heldout=held, seed=seed)  # fmt: skip
    console.print(f"saved [bold]{escape(str(out))}[/] ({int((~held).sum())} training documents, {int(held.sum())} held out)")


@app.command()
def audit(
    model: Annotated[Path, typer.Option(help="A causal-LM checkpoint folder (e.g. from `memlens lm train`).")],
    out: Annotated[Path, typer.Option(help="Run directory for lm_scores.parquet and lm.json.")],
    corpus: Annotated[str | None, typer.Option("--corpus", help="The training corpus (as for `lm train`). Default: the one MODEL/memlens_lm.json records.", show_default=False)] = None,
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

    The corpus, canaries and held-out documents come from MODEL/memlens_lm.json when the model was
    trained by `memlens lm train`; otherwise give --corpus and --canaries as the training did.
    Writes RUN/lm_scores.parquet (one row per document or canary), RUN/lm.json and RUN/report.html.
    """
    from rich.console import Console

    from memlens.lm.audit import CanarySpec, lm_audit
    from memlens.lm.corpus import load_corpus

    console = Console(emoji=False)  # user strings (paths, corpus names) print as given
    _quiet_transformers(progress)
    can = None
    if canaries is not None:
        can = CanarySpec(n=canaries, repeats=_repeats(repeats), secret_digits=_secret_digits(secret_digits), seed=seed)
    text = load_corpus(corpus if corpus is not None else _recorded_corpus(model))
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
        control, excess = s.get("control_by_repeats", {}), s.get("excess_by_repeats", {})
        console.print(
            "exposure by insertions (bits: exposure, tokenizer-only control, excess): "
            + ", ".join(f"{r}× {e:.2f} / {control.get(r, float('nan')):.2f} / {excess.get(r, float('nan')):.2f}"
                        for r, e in s["exposure_by_repeats"].items()), highlight=False,
        )  # fmt: skip
        console.print(
            f"  {s.get('exposed_canaries', 0)} canaries exposed ({s.get('exposed_rule', '')}); secret written "
            f"by greedy decoding: {s.get('extracted_from_prefix', 0)} from their own prefix, "
            f"{s.get('extracted_from_template', 0)} from the bare template", highlight=False,
        )  # fmt: skip
        if s.get("single_token_note"):
            console.print(f"  [yellow]caution:[/] {escape(s['single_token_note'])}")
    print_membership(console, result.summary["mia"])
    console.print(f"wrote {escape(str(out))}/lm_scores.parquet, lm.json")


# --- `memlens show RUN` on a language-model run ---------------------------------------------------


def is_lm_run(run: Path) -> bool:
    """Whether ``run`` was written by `memlens lm audit` (``lm_scores.parquet`` or ``lm.json``, and
    no classifier ``scores.parquet``)."""
    run = Path(run)
    lm_files = (run / "lm_scores.parquet").is_file() or (run / "lm.json").is_file()
    return lm_files and not (run / "scores.parquet").exists()


def _read_lm_run(run: Path):
    """(lm_scores.parquet as a DataFrame, lm.json as a dict), or a RunStoreError saying what to do."""
    import json

    import pandas as pd

    from memlens.errors import RunStoreError

    if not (run / "lm_scores.parquet").is_file():
        raise RunStoreError(
            f"{run} has no lm_scores.parquet: the language-model audit did not finish. Re-run its "
            "`memlens lm audit` command."
        )
    try:
        frame = pd.read_parquet(run / "lm_scores.parquet")
    except (OSError, ValueError) as e:  # pyarrow's errors derive from these
        raise RunStoreError(
            f"{run}/lm_scores.parquet is damaged ({e}); re-run its `memlens lm audit` command."
        ) from None
    try:
        result = json.loads((run / "lm.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        result = {}
    return frame, result if isinstance(result, dict) else {}


def _cell(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, bool) or not isinstance(value, float):
        return str(value)
    return f"{value:.{digits}f}"


def show_lm_run(run: Path, *, top: int = 20, sort: str | None = None, console=None) -> None:
    """Print a language-model run: what was audited, membership numbers, the top ``top`` rows.

    Rows come in the report's order (most exposed canaries, then extractable texts, shortest
    prefix first, then the longest verbatim span) or by the numeric column ``sort``, highest
    first (``extractable_at_k``: shortest extracting prefix first, never-extracted last).
    """
    import numpy as np
    import pandas as pd
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from memlens.report.lm_section import EXPOSED_BITS, exposure_column, sort_rows

    console = console or Console()
    run = Path(run)
    frame, result = _read_lm_run(run)
    config = result.get("config") if isinstance(result.get("config"), dict) else {}
    kind = frame["kind"].astype(str) if "kind" in frame.columns else pd.Series("document", index=frame.index)
    docs, can = frame[kind == "document"], frame[kind == "canary"]
    held = int((~docs["member"].astype(bool)).sum()) if "member" in docs.columns else 0
    verdict_column = exposure_column(frame)  # the excess over the tokenizer-only control when measured
    exposed = int((can[verdict_column] >= EXPOSED_BITS).sum()) if verdict_column in can.columns else 0
    k = frame["extractable_at_k"] if "extractable_at_k" in frame.columns else pd.Series(-1, index=frame.index)
    header = Text.assemble(
        (str(run), "bold"),
        f": language-model audit of {config.get('model', '?')} on {config.get('corpus', '?')}; "
        f"{len(docs)} documents ({held} held out), {len(can)} canaries ({exposed} exposed, "
        f"{'excess over control' if verdict_column == 'exposure_excess' else 'exposure'} ≥ {EXPOSED_BITS:g} bits); extractable: {int((k[kind == 'document'] >= 0).sum())} documents, "
        f"{int((k[kind == 'canary'] >= 0).sum())} canaries",
    )  # Text, not markup: paths and corpus names may hold brackets
    console.print(header)
    print_membership(console, result.get("mia") if isinstance(result.get("mia"), dict) else {})

    if sort is None:
        ranked = sort_rows(frame).head(top)
        title = f"top {top}: most exposed canaries, then extractable texts (shortest prefix first)"
    else:
        numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and c != "member"]
        if sort not in numeric:
            raise MemlensError(
                f"No numeric column '{sort}' in {run}/lm_scores.parquet; sort by one of {', '.join(numeric)}."
            )
        if sort == "extractable_at_k":  # a shorter extracting prefix is more memorized; -1 = never
            key = frame[sort].where(frame[sort] >= 0, np.inf)
            ranked = frame.loc[key.sort_values(kind="stable").index].head(top)
        else:
            ranked = frame.sort_values(sort, ascending=False, na_position="last", kind="stable").head(top)
        title = f"top {top} by {sort}"
    # exposure: the column verdicts read (the excess over the tokenizer-only control when measured)
    columns = ["id", "repeats", "member", verdict_column, "extractable_at_k"]  # canaries' ids say so
    if sort is not None and sort not in columns:
        columns.append(sort)
    columns = [c for c in columns if c in ranked.columns and not ranked[c].isna().all()]
    short = {"repeats": "×", "exposure_excess": "excess", "exposure": "exposure", "extractable_at_k": "k"}
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  caption=f"×: insertions; {short[verdict_column]}: {verdict_column} in bits; k: extractable_at_k "
                          "(shortest extracting prefix, -1: none)", caption_justify="left")  # fmt: skip
    for c in columns:
        table.add_column(short.get(c, c), justify="left" if c == "id" else "right")
    table.add_column("text", overflow="fold", min_width=20)
    for row in ranked.to_dict("records"):
        cells = [_cell(row[c], 1 if c.startswith("exposure") else 3) for c in columns]
        if "member" in columns:
            cells[columns.index("member")] = "yes" if row["member"] else "held out"
        excerpt = " ".join(str(row.get("text") or "").split())[:80]
        table.add_row(*(Text(c) for c in cells), Text(excerpt))
    console.print(table)
    console.print(Text(f"every row and plot: {run}/report.html (`memlens report {run}` rewrites it)"))
