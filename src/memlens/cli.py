"""The ``memlens`` command line: the only place where strings become objects."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from memlens.errors import MemlensError
from memlens.lm.cli import app as lm_app

app = typer.Typer(
    help="memlens: what did a trained model memorize, how much, and what does that leak?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(lm_app, name="lm", help="Language models: train, audit.")


def _stderr():
    from rich.console import Console

    return Console(stderr=True)


@app.command()
def audit(
    dataset: Annotated[str, typer.Option(help="digits, fashion-mnist, mnist-5k (':N' keeps the first N), or a .npz / .csv path.")],
    out: Annotated[Path, typer.Option(help="Run directory. Re-running the same command resumes it.")],
    plant: Annotated[list[str], typer.Option(help="Ground truth to plant and recover: label-noise:RATE, duplicates:K. Repeatable.")] = [],  # noqa: B006
    model: Annotated[str, typer.Option(help="mlp, cnn (images), logreg, or sklearn:MODULE.CLASS.")] = "mlp",
    design: Annotated[str, typer.Option(help="halves (LiRA), subsample:RATE (Feldman–Zhang), kfold:K, loo:ID,ID,…")] = "halves",
    models: Annotated[int, typer.Option(help="Number of models to train.")] = 64,
    epochs: Annotated[int | None, typer.Option(help="Training epochs per model (ensemble models). Default: enough for ≥500 steps per model, at least 20.", show_default=False)] = None,
    width: Annotated[int, typer.Option(help="Hidden units (mlp) or first conv channels (cnn).")] = 256,
    batch_size: Annotated[int, typer.Option(help="Minibatch size per model.")] = 128,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 3e-3,
    optimizer: Annotated[str, typer.Option(help="adam or sgd (momentum 0.9).")] = "adam",
    weight_decay: Annotated[float, typer.Option(help="L2 weight decay.")] = 0.0,
    precision: Annotated[str, typer.Option(help="float32, or bfloat16 (faster on CPUs with AMX).")] = "float32",
    seed: Annotated[int, typer.Option(help="Seeds the plants, the design and every model.")] = 0,
    label_column: Annotated[str | None, typer.Option(help="Label column of a .csv dataset.")] = None,
    shard_size: Annotated[int | None, typer.Option(help="Models trained together and saved as one resumable shard.")] = None,
    targets: Annotated[int, typer.Option(help="Models attacked in turn for membership inference.")] = 8,
    budget: Annotated[int | None, typer.Option(help="Plan a memorization-guided attack for this many shadow models: which examples to target and the power it buys (written to RUN/plan.json).", show_default=False)] = None,
    proxies: Annotated[str, typer.Option(help="One-model memorization proxies recorded during training, comma-separated: curvature, self-influence, learning-events (ensemble models only).")] = "",
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Train MODELS models on known subsets, observe them, and estimate memorization and leakage.

    Writes RUN/run.json, membership.npy, observations/*.npy, scores.parquet (one row per
    example) and mia.json (LiRA online/offline, RMIA, loss attack: AUC and TPR at low FPR).
    """
    from rich.console import Console

    import memlens as ml

    console = Console()
    data = ml.data.load(dataset, label_column=label_column)
    for spec in plant:
        data = data.plant(ml.data.parse_plant(spec, seed=seed))
    membership_design = ml.design.parse(design, models, data.n_examples, seed=seed)
    if epochs is None:
        from memlens.train.ensemble import auto_epochs

        epochs = auto_epochs(int(membership_design.membership.sum(axis=1).max()), batch_size)
    wanted = tuple(p.strip() for p in proxies.split(",") if p.strip())
    trainer = ml.train.parse_model(
        model, epochs=epochs, width=width, batch_size=batch_size, lr=lr, optimizer=optimizer,
        weight_decay=weight_decay, precision=precision, proxies=wanted,
    )  # fmt: skip
    console.print(
        f"[bold]memlens audit[/] {data.name}: {data.n_examples} examples, {data.n_classes} classes"
        + (f", planted {', '.join(data.plants)} ({int(data.planted.sum())} examples)" if data.plants else "")
        + f"; {models} × {model} models, design {membership_design.spec} → {out}"
    )
    run = ml.audit(
        data, membership_design, trainer, out, seed=seed, shard_size=shard_size,
        n_targets=targets, progress=progress,
    )  # fmt: skip
    _summary(console, run)
    if budget is not None:
        _plan(console, run, budget)
    from memlens.report import write_report

    console.print(f"report: [bold]{write_report(run)}[/]")


@app.command()
def report(
    run: Annotated[Path, typer.Argument(help="A run directory written by `memlens audit`.")],
) -> None:
    """Write RUN/report.html: one self-contained page (verdict, plots, examples) for a reviewer."""
    from rich.console import Console

    import memlens as ml
    from memlens.report import write_report

    Console().print(f"report: [bold]{write_report(ml.Run.open(run))}[/]")


def _plan(console, run, budget: int) -> None:
    """Choi et al.'s planning: with BUDGET shadow models, which examples can be attacked, how well."""
    import numpy as np

    from memlens.estimate.guided import plan_budget

    if budget < 1:
        raise MemlensError(f"--budget is a number of shadow models and must be at least 1; got {budget}.")
    plan = plan_budget(
        np.asarray(run.membership), np.asarray(run.observations["confidence"]), budget_models=budget,
        memorization=run.scores["memorization"].to_numpy(), seed=run.config["seed"],
    )  # fmt: skip
    run.store.save_json("plan.json", plan)
    console.print(
        f"[bold]plan for {budget} shadow model(s)[/]: attack the {plan['recommended_targets']} "
        f"examples those shadows can resolve (most memorized first: ids {plan['selected_ids'][:8]}…)"
    )
    for subset, expected in plan["expected"].items():
        measured = expected.get("empirical")
        words = [f"{subset:<9} {expected['n_examples']:>6} examples"]
        if measured:
            tpr = measured["tpr_at_fpr"]
            words.append(f"measured TPR@0.1%FPR {tpr.get('0.001', float('nan')):.1%}, TPR@1%FPR {tpr.get('0.01', float('nan')):.1%}")
        formula = expected.get("formula") or {}
        if formula:
            words.append("formula " + ", ".join(f"TPR@{k} {v:.1%}" for k, v in formula.items()))
        console.print("  " + "; ".join(words))
    if plan.get("note"):
        console.print(f"  {plan['note']}")
    console.print(f"wrote {run.path}/plan.json")


def _summary(console, run) -> None:
    scores = run.scores
    mem = scores["memorization"]
    nan = int(mem.isna().sum())
    console.print(
        f"memorization ≥ 0.5: [bold]{int((mem >= 0.5).sum())}[/] of {len(scores)} examples"
        + (f"; {nan} example(s) had too few IN or OUT models and got NaN" if nan else "")
    )
    warned: set[str] = set()
    for name, m in run.mia.get("attacks", {}).items():
        if "auc" in m:
            tpr = m["tpr_at_fpr"]
            console.print(
                f"  {name:<13} AUC {m['auc']:.3f}   TPR@0.1%FPR {tpr['0.001']:.3%}   TPR@1%FPR {tpr['0.01']:.3%}"
            )
            warned.update(m.get("warnings", []))
        else:
            console.print(f"  {name:<13} {m.get('note', '')}")
    for w in sorted(warned):
        console.print(f"  [yellow]caution:[/] {w}")
    if "note" in run.mia:
        console.print(f"  {run.mia['note']}")
    console.print(f"wrote {run.path}/scores.parquet, mia.json; inspect with `memlens show {run.path}`")


@app.command()
def show(
    run: Annotated[Path, typer.Argument(help="A run directory written by `memlens audit`.")],
    top: Annotated[int, typer.Option(help="How many examples to list.")] = 20,
    sort: Annotated[str, typer.Option(help="Score column to sort by (descending).")] = "memorization",
) -> None:
    """The most memorized examples as a table, and planted-vs-found when a plant was made."""
    from rich.console import Console
    from rich.table import Table

    import memlens as ml

    console = Console()
    r = ml.Run.open(run)
    scores = r.scores
    if sort not in scores.columns:
        raise MemlensError(f"No score column '{sort}'. Columns: {', '.join(scores.columns)}.")
    cfg = r.config
    console.print(
        f"[bold]{run}[/]: {cfg['dataset']['name']}, {cfg['design']['n_models']} models "
        f"({cfg['trainer'].get('model', cfg['trainer'].get('estimator'))}), design {cfg['design']['spec']}, seed {cfg['seed']}"
    )
    ranked = scores.sort_values(sort, ascending=False, na_position="last").head(top)
    classes = cfg["dataset"].get("classes")
    table = Table(title=f"top {top} by {sort}")
    for col in ("id", "label", "original", sort, "± se", "in/out", "planted"):
        table.add_column(col, justify="right" if col not in ("planted",) else "left")
    for row in ranked.itertuples():
        def name(c):
            return (classes[c] if classes else str(c))
        table.add_row(
            str(row.id), name(row.label), name(row.original_label) if row.original_label != row.label else "",
            f"{getattr(row, sort):.3f}", f"{row.memorization_stderr:.3f}",
            f"{row.in_count}/{row.out_count}", row.plant or "",
        )  # fmt: skip
    console.print(table)
    if scores["planted"].any():
        from memlens.estimate.planted import planted_recovery

        found = planted_recovery(scores["planted"].to_numpy(), scores[sort].to_numpy())
        console.print(
            f"planted {found['n_planted']} examples: AUROC of {sort} for finding them "
            f"{found['auroc']:.3f}; {found['found_in_top']} of them are among the top "
            f"{found['n_planted']} ({found['precision_at_k']:.1%})"
        )


def main() -> None:
    """Entry point: memlens errors become one clear paragraph and exit code 2, never a traceback."""
    try:
        app()  # standalone: typer reports usage errors itself and exits 2
    except MemlensError as e:
        _stderr().print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        _stderr().print("interrupted: finished shards are saved; re-run the same command to resume.")
        sys.exit(130)


if __name__ == "__main__":
    main()
