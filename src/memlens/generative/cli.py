"""``memlens generative …``: audit a generative model configuration, search its EMM.

Kept light at import (no torch): the main ``memlens`` app imports this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from memlens.errors import MemlensError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def _numbers(text: str | None, option: str, kind=int) -> tuple:
    if text is None:
        return ()
    try:
        values = tuple(kind(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise MemlensError(f"{option} takes comma-separated numbers such as 16,32,64; got '{text}'.") from None
    if not values or min(values) <= 0:
        raise MemlensError(f"{option} needs numbers above 0; got '{text}'.")
    return values


def _snapshot_steps(snapshots: str | None, steps: int) -> tuple[int, ...]:
    """--snapshots as given, else a quarter, half and all of --steps (models that do not train ignore it)."""
    return _numbers(snapshots, "--snapshots") or tuple(sorted({max(1, steps // 4), max(1, steps // 2), steps}))


def load_images(spec: str, pool: int):
    """A memlens dataset (``digits``, ``fashion-mnist:6000``, a file), optionally average-pooled."""
    import memlens as ml

    from .audit import pooled

    data = ml.data.load(spec)
    return pooled(data, pool) if pool > 1 else data


Dataset_ = Annotated[str, typer.Option("--dataset", help="digits, fashion-mnist, mnist-5k (':N' keeps the first N) or a .csv/.npz/.parquet file; pixels in [0, 1].")]
Out = Annotated[Path, typer.Option(help="Run directory (created, or resumed when it holds the same audit).")]
Condition_ = Annotated[str, typer.Option(help="Diffusion conditioning: none, labels (true classes), random:C (a random label among C per training image), unique (one label per image).")]
Steps = Annotated[int, typer.Option(help="Training steps of each trained diffusion model (mlp-edm, unet).")]
Snapshots = Annotated[str | None, typer.Option(help="Steps at which each trained model is sampled (default: a quarter, half and all of --steps); its ratio is the highest.", show_default=False)]
Samples = Annotated[int, typer.Option(help="Samples generated per model (per snapshot).")]
Pool = Annotated[int, typer.Option(help="Average-pool images K×K first (e.g. 2: Fashion-MNIST 28×28 → 14×14).")]
Seed = Annotated[int, typer.Option(help="Seeds the subsets, the models and the samples.")]
Progress = Annotated[bool, typer.Option(help="Show progress bars.")]
Device = Annotated[str, typer.Option(help="Where trained diffusion models run: cpu, cuda or auto.")]
Ema = Annotated[float, typer.Option(help="Decay of the weights' exponential moving average, which generates the samples.")]
EmaWarmup = Annotated[bool, typer.Option(help="Warm the average up as min(EMA, (1+t)/(10+t)), so that short runs do not sample from weights close to their initialisation.")]


@app.command()
def audit(
    dataset: Dataset_,
    model: Annotated[str, typer.Option(help="closed-form (the optimal denoiser, no training), mlp-edm, unet (diffusers UNet2DModel), vae, gmm or kde.")],
    out: Out,
    condition: Condition_ = "none",
    sizes: Annotated[str, typer.Option(help="Training-set sizes |D| of the diffusion models (class-balanced, nested).")] = "16,32,64,128,256,512,1024",
    repeats: Annotated[int, typer.Option(help="Models per size (diffusion) or repetitions of the K folds (density).")] = 1,
    folds: Annotated[int, typer.Option(help="K of the K-fold design of density models.")] = 10,
    steps: Steps = 20_000,
    snapshots: Snapshots = None,
    samples: Samples = 1000,
    hidden: Annotated[int, typer.Option(help="Width of the mlp-edm denoiser's hidden layers.")] = 256,
    lr: Annotated[float, typer.Option(help="Adam learning rate of trained diffusion models.")] = 1e-3,
    batch_size: Annotated[int, typer.Option(help="Training batch of trained diffusion models.")] = 128,
    ema: Ema = 0.999,
    ema_warmup: EmaWarmup = True,
    regularization: Annotated[str, typer.Option(help="closed-form only: tikhonov or density-floor.")] = "tikhonov",
    strengths: Annotated[str | None, typer.Option(help="closed-form only: regularization strengths to sample too, e.g. 1e-3,1e-2,1e-1.", show_default=False)] = None,
    epochs: Annotated[int, typer.Option(help="vae only: training epochs.")] = 150,
    bandwidth: Annotated[float, typer.Option(help="kde only: Gaussian kernel bandwidth.")] = 0.2,
    components: Annotated[int, typer.Option(help="gmm only: mixture components (diagonal covariances).")] = 10,
    pool: Pool = 1,
    feature_space: Annotated[bool, typer.Option(help="Also test diffusion samples in the feature space of a small CNN trained on the images' labels.")] = True,
    device: Device = "cpu",
    seed: Seed = 0,
    progress: Progress = True,
) -> None:
    """Memorization of one generative model configuration; writes RUN/generative.json, Parquet tables and RUN/report.html.

    Diffusion models: one model per size, each sampled (EDM Heun, 18 steps) and every sample tested
    for replication (nearest/second-nearest training image ratio < 1/3 on 8-bit pixels); the
    memorization ratio per |D| and the EMM read off the grid. Density models: a K-fold design, the
    log-likelihood of every example, and the cross-validated memorization score per example.
    A killed audit resumes when the same command is run again.
    """
    from rich.console import Console

    from .audit import generative_audit

    console = Console(emoji=False)
    data = load_images(dataset, pool)
    size_list = _numbers(sizes, "--sizes")
    snapshot_list = _snapshot_steps(snapshots, steps)
    console.print(f"[bold]memlens generative audit[/] {escape(data.name)} ({len(data.X)} examples), {model}"
                  + (f", conditioning {condition}" if condition != "none" else "") + f" → {escape(str(out))}")
    result = generative_audit(
        data, model, out, sizes=size_list, repeats=repeats, folds=folds, seed=seed, progress=progress,
        feature_space=feature_space,
        condition=condition, steps=steps, snapshots=snapshot_list, samples=samples, hidden=hidden, lr=lr,
        batch_size=batch_size, ema=ema, ema_warmup=ema_warmup, strengths=_numbers(strengths, "--strengths", float), regularization=regularization,
        epochs=epochs, bandwidth=bandwidth, components=components, device=device)
    _print_summary(console, result)
    _write_report(console, out)


@app.command()
def emm(
    dataset: Dataset_,
    model: Annotated[str, typer.Option(help="closed-form, mlp-edm or unet.")],
    out: Out,
    condition: Condition_ = "none",
    start: Annotated[int, typer.Option(help="The first |D|; doubled while the model memorizes.")] = 16,
    target: Annotated[float, typer.Option(help="1 − ε: the memorization ratio that counts as memorizing.")] = 0.9,
    tolerance: Annotated[float, typer.Option(help="Stop bisecting when the bracket is within this fraction of its lower end.")] = 0.1,
    max_size: Annotated[int | None, typer.Option(help="The largest |D| to try (default: the dataset's size).", show_default=False)] = None,
    repeats: Annotated[int, typer.Option(help="Models (different subsets) per size; their mean ratio counts.")] = 1,
    steps: Steps = 20_000,
    snapshots: Snapshots = None,
    samples: Samples = 1000,
    hidden: Annotated[int, typer.Option(help="Width of the mlp-edm denoiser's hidden layers.")] = 256,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 1e-3,
    ema: Ema = 0.999,
    ema_warmup: EmaWarmup = True,
    pool: Pool = 1,
    device: Device = "cpu",
    seed: Seed = 0,
    progress: Progress = True,
) -> None:
    """Effective model memorization: the largest |D| at which MODEL still memorizes ≥ TARGET of its samples.

    Trains at |D| = START, 2·START, … until the ratio falls below TARGET, then bisects between the
    last two sizes. Each size is an engine run in OUT/size-<D>; OUT/emm.json logs the search. A
    killed search resumes where it stopped when the same command is run again.
    """
    from rich.console import Console

    from .audit import DIFFUSION_MODELS, check_images, make_trainer
    from .emm import emm_search

    console = Console(emoji=False)
    if model not in DIFFUSION_MODELS:
        raise MemlensError(f"EMM is defined for diffusion models ({', '.join(DIFFUSION_MODELS)}); got {model!r}.")
    data = load_images(dataset, pool)
    check_images(data)
    snapshot_list = _snapshot_steps(snapshots, steps)
    trainer = make_trainer(model, condition=condition, steps=steps, snapshots=snapshot_list, samples=samples,
                           hidden=hidden, lr=lr, ema=ema, ema_warmup=ema_warmup, device=device)
    console.print(f"[bold]memlens generative emm[/] {escape(data.name)}, {model}"
                  + (f", conditioning {condition}" if condition != "none" else "")
                  + f": target ratio {target:g} → {escape(str(out))}")

    def step(size: int, ratio: float) -> None:
        console.print(f"  |D| = {size}: memorization ratio {ratio:.3f}", highlight=False)

    record = emm_search(data, trainer, out, start=start, target=target, tolerance=tolerance,
                        max_size=max_size, repeats=repeats, seed=seed, progress=progress, on_step=step)
    console.print(escape(record["emm"]["message"]), highlight=False)
    console.print(f"wrote {escape(str(out))}/emm.json")


def _print_summary(console, result: dict) -> None:
    if result.get("kind") == "diffusion":
        for row in result["by_size"]:
            console.print(f"  |D| = {row['size']}: memorization ratio {row['ratio']:.3f} "
                          f"({row['ci_low']:.3f}–{row['ci_high']:.3f})", highlight=False)
        for row in result.get("regularization", []):
            console.print(f"  {row['kind']} {row['strength']:g}: replicated {row['collapse']:.3f}", highlight=False)
        console.print(escape(result["emm"]["message"]), highlight=False)
        if "feature_space" in result:
            console.print("  in the CNN feature space: " + ", ".join(
                f"|D| = {r['size']}: {r['ratio']:.3f}" for r in result["feature_space"]["by_size"]), highlight=False)
    else:
        d = result["density"]
        console.print(f"  memorization score (nats): median {d['median']:.3g}, 95th percentile {d['p95']:.3g}, "
                      f"max {d['max']:.3g}; top examples: {', '.join(str(t['id']) for t in d['top'][:8])}",
                      highlight=False)


def show_generative_run(run: Path, *, top: int, console) -> None:
    """`memlens show` on a generative run: its summary, then the most replicated (diffusion) or
    most memorized (density) training examples, read through the store (checksums checked)."""
    from rich.table import Table

    from memlens.store import RunStore

    store = RunStore.open(run)
    result = store.read_json("generative.json")
    console.print(f"[bold]{escape(str(run))}[/]: {escape(str(result.get('dataset')))}, {escape(str(result.get('model')))}"
                  + (f", conditioning {escape(str(result['condition']))}" if result.get("condition") else ""))
    _print_summary(console, result)
    if result.get("kind") == "diffusion":
        frame = store.read_table("training_examples.parquet")
        ranked = frame[frame["replications"] > 0].sort_values("replications", ascending=False, kind="stable")
        columns = ("id", "label", "models_in", "replications", "nearest_count")
        title = "most replicated training images"
    else:
        ranked = store.read_table("density.parquet").sort_values("rank", kind="stable")
        columns = ("rank", "id", "label", "memorization", "held_in", "held_out")
        title = "most memorized examples (nats)"
    table = Table(title=title, box=None, title_justify="left")
    for c in columns:
        table.add_column(c, justify="right")
    for row in ranked.head(top).itertuples():
        table.add_row(*(f"{v:.3g}" if isinstance(v, float) else str(v) for v in (getattr(row, c) for c in columns)))
    console.print(table if len(ranked) else "no training image was replicated")


def _write_report(console, out: Path) -> None:
    from memlens.report.generative_section import write_generative_report

    console.print(f"report: [bold]{escape(str(write_generative_report(out)))}[/]")
