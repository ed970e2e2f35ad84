"""``memlens prepare`` and ``memlens finalize``: a run whose models the user's own script trains."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from memlens.errors import MemlensError


def prepare(
    out: Annotated[Path, typer.Option(help="Run directory to create. Running the same command again changes nothing.")],
    dataset: Annotated[str | None, typer.Option(help="digits, fashion-mnist, mnist-5k (':N' keeps the first N), or a .npz / .csv path. Or give --labels.", show_default=False)] = None,
    labels: Annotated[Path | None, typer.Option(help="A .npy file of the N integer labels (0..C-1) of your own examples, in id order, instead of --dataset.", show_default=False)] = None,
    classes: Annotated[str | None, typer.Option(help="Class names for --labels, comma-separated (default 0, 1, …).", show_default=False)] = None,
    plant: Annotated[list[str], typer.Option(help="Ground truth to plant (with --dataset): label-noise:RATE, duplicates:K. Repeatable.")] = [],  # noqa: B006
    design: Annotated[str, typer.Option(help="halves (LiRA), subsample:RATE (Feldman–Zhang), kfold:K, loo:ID,ID,…")] = "halves",
    models: Annotated[int, typer.Option(help="Number of models your script will train (one run of it per model).")] = 16,
    seed: Annotated[int, typer.Option(help="Seeds the plants, the design and each model's seed (seed_for).")] = 0,
    label_column: Annotated[str | None, typer.Option(help="Label column of a .csv dataset.")] = None,
) -> None:
    """Create a run for models trained by your own script: which examples each model trains on.

    Trains nothing. Then run your script once per model i = 0..MODELS-1 (by hand, as a job
    array, in parallel): it trains on memlens.integrations.subset_for(RUN, i, data) and passes
    the Hugging Face or Lightning AuditCallback(RUN, i, data), which writes model i into RUN. The
    last model to finish assembles the run; `memlens report RUN` writes the page.
    """
    import numpy as np

    import memlens as ml
    from memlens.cli import _console, _literal

    if (dataset is None) == (labels is None):
        raise MemlensError("Give either --dataset (a memlens dataset or file) or --labels (a .npy of your labels), not both or neither.")
    if models < 1:
        raise MemlensError(f"--models (models your script will train) must be at least 1; got {models}.")
    if seed < 0:
        raise MemlensError(f"--seed must be a whole number >= 0; got {seed}.")
    if labels is not None:
        if plant:
            raise MemlensError("--plant changes a memlens dataset's labels; with --labels, plant in your own data.")
        try:
            data = np.load(labels, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise MemlensError(f"--labels {labels} could not be read as a .npy array ({e}).") from None
        from memlens.integrations.run import as_labels

        names = [c.strip() for c in classes.split(",")] if classes else None
        data = as_labels(data, names)
        n = len(data)
        kwargs = {"classes": names, "name": labels.name}
    else:
        if classes:
            raise MemlensError("--classes names the classes of --labels; a --dataset has its own.")
        data = ml.data.load(dataset, label_column=label_column)
        for spec in plant:
            data = data.plant(ml.data.parse_plant(spec, seed=seed))
        n, kwargs = data.n_examples, {}
    membership_design = ml.design.parse(design, models, n, seed=seed)
    path = ml.integrations.prepare(data, membership_design, out, seed=seed, **kwargs)
    counts = membership_design.membership.sum(axis=1)
    console = _console()
    console.print(
        f"[bold]memlens prepare[/] {_literal(path)}: {models} models, design {_literal(membership_design.spec)}, "
        f"{n} examples ({int(counts.min())}–{int(counts.max())} per model)."
    )
    console.print(
        f"Next: run your training script for each model i in 0..{models - 1}, training on "
        f"subset_for({_literal(str(path))!r}, i, data) with AuditCallback({_literal(str(path))!r}, i, data); "
        f"then `memlens report {_literal(path)}`."
    )


def finalize(
    run: Annotated[Path, typer.Argument(help="A run directory made by `memlens prepare` (or memlens.integrations.prepare).")],
) -> None:
    """Assemble a run whose models your script trained, once all are in, and write its report.

    The callback of the last model to finish does this by itself; run it by hand after a job
    was started with finalize=False, or to see which models are still missing.
    """
    import memlens as ml
    from memlens.cli import _console, _literal, _summary
    from memlens.report import write_report

    finished = ml.integrations.finalize(run)
    console = _console()
    _summary(console, finished)
    console.print(f"report: [bold]{_literal(write_report(ml.Run.open(run)))}[/]")
