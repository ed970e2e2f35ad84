"""The ``memlens`` command line: the only place where strings become objects."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from memlens.capacity.cli import app as capacity_app
from memlens.cli_process import _explain, collect_less, share_cores_politely
from memlens.errors import MemlensError
from memlens.executors import parse as parse_executor
from memlens.generative.cli import app as generative_app
from memlens.inference.cli import infer_attributes
from memlens.lm.cli import app as lm_app
from memlens.mitigations.cli_options import apply as apply_mitigations
from memlens.ssl.cli import app as ssl_app
from memlens.train.dp import from_cli as dp_trainer
from memlens.train.dp import privacy_words as dp_words

app = typer.Typer(
    help="memlens: what did a trained model memorize, how much, and what does that leak?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(lm_app, name="lm", help="Language models: train, audit.")
app.add_typer(generative_app, name="generative", help="Generative models (diffusion, density): audit, EMM search.")
app.add_typer(capacity_app, name="capacity", help="Memorization capacity: width needed to memorize N examples (construct, sweep), MASC layer decoding of one or more audit runs (decode).")
app.add_typer(ssl_app, name="ssl", help="Self-supervised encoders: the déjà vu test (does an encoder reveal its training images' objects from their backgrounds?).")
app.command("infer-attributes")(infer_attributes)  # personal attributes inferred from text (Staab et al.)


def _console(*, stderr: bool = False):
    """A console for user-facing output: no ``:emoji:`` codes replaced in what it prints."""
    from rich.console import Console

    return Console(stderr=stderr, emoji=False)


def _printable(text) -> str:
    """``text`` with control characters other than newline and tab shown as ``\\xNN``.

    A path, class or column name carrying an escape sequence must not drive the terminal.
    """
    return "".join(c if c in "\n\t" or c.isprintable() else ascii(c)[1:-1] for c in str(text))


def _literal(text) -> str:
    """``text`` (a path, a name from the user's data) as rich markup that prints exactly as given."""
    from rich.markup import escape

    return escape(_printable(text))


@app.command()
def audit(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option(help="digits, fashion-mnist, mnist-5k (':N' keeps the first N), or a .npz / .csv path.")],
    out: Annotated[Path, typer.Option(help="Run directory. Re-running the same command resumes it.")],
    plant: Annotated[list[str], typer.Option(help="Ground truth to plant and recover: label-noise:RATE, duplicates:K. Repeatable.")] = [],  # noqa: B006
    model: Annotated[str, typer.Option(help="mlp, cnn (images), logreg, retrieval (a RetroPrompt-style retrieval head on frozen PCA features: memlens.retrieval), or sklearn:MODULE.CLASS: any scikit-learn-compatible classifier, e.g. sklearn:sklearn.ensemble.RandomForestClassifier or sklearn:xgboost.XGBClassifier. MODULE is imported (its import-time code runs, as with any import); CLASS is created, with its defaults, only if it is a classifier (subclasses sklearn.base.ClassifierMixin, or has fit, predict_proba and get_params), and refused otherwise.")] = "mlp",
    design: Annotated[str, typer.Option(help="halves (LiRA), subsample:RATE (Feldman–Zhang), kfold:K, loo:ID,ID,…, or one-run:M (Steinke et al. 2023: M canaries each IN with probability ½ per model, all other examples always IN; the planted examples when there are plants; mia.json gains an ε lower bound from each single model).")] = "halves",
    remove_memorized: Annotated[str | None, typer.Option(help="Exclude from training the K (e.g. 27) or P% (e.g. 2%) most memorized examples of the --previous run; their memorization here is NaN.", show_default=False)] = None,
    downweight_memorized: Annotated[str | None, typer.Option(help="K|P%:WEIGHT, e.g. 2%:0.1: keep the most memorized examples of the --previous run in training with loss weight WEIGHT (each model's loss is the weighted mean). mlp, cnn, logreg.", show_default=False)] = None,
    remove_random: Annotated[str | None, typer.Option(help="Exclude K or P% random examples (drawn from --seed): the control for --remove-memorized.", show_default=False)] = None,
    previous: Annotated[Path | None, typer.Option(help="A finished `memlens audit` run over the same examples (same dataset, plants and seed of plants), whose memorization scores --remove-memorized and --downweight-memorized read.", show_default=False)] = None,
    dedup: Annotated[str | None, typer.Option(help="Exclude duplicates before training: exact (identical feature rows, whatever their labels; conflicting labels reported) or near:THRESHOLD (cosine similarity of standardized features >= THRESHOLD, e.g. near:0.95). Each group keeps its lowest id.", show_default=False)] = None,
    early_stopping: Annotated[int | None, typer.Option(help="Patience in epochs: each model stops once its test-split accuracy has not improved for this many epochs and keeps its best epoch's weights (mlp, cnn, logreg; needs a test split).", show_default=False)] = None,
    models: Annotated[int, typer.Option(help="Number of models to train.")] = 64,
    epochs: Annotated[int | None, typer.Option(help="Training epochs per model (ensemble models). Default: enough for ≥500 steps per model, at least 20.", show_default=False)] = None,
    width: Annotated[int, typer.Option(help="Hidden units (mlp) or first conv channels (cnn).")] = 256,
    depth: Annotated[int, typer.Option(help="Hidden layers of the mlp model, each --width units.")] = 1,
    activations: Annotated[bool, typer.Option(help="Also store each hidden layer's activations on the training pool and test set (mlp, cnn) as observations activations_K / test_activations_K, for `memlens capacity decode`; they take models × examples × units floats per layer.")] = False,
    batch_size: Annotated[int, typer.Option(help="Minibatch size per model.")] = 128,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 3e-3,
    optimizer: Annotated[str, typer.Option(help="adam or sgd (momentum 0.9).")] = "adam",
    weight_decay: Annotated[float, typer.Option(help="L2 weight decay.")] = 0.0,
    dp_epsilon: Annotated[float | None, typer.Option(help="Train with DP-SGD (Opacus: the dp extra, or pip install opacus) so that every model is (ε, δ)-DP for this ε: the noise multiplier is found per model by Opacus's accountant; the run writes the accountant's ε to RUN/privacy.json beside the attacks' audited ε lower bounds. mlp, cnn and logreg models.", show_default=False)] = None,
    dp_noise_multiplier: Annotated[float | None, typer.Option(help="Train with DP-SGD at this noise multiplier (noise std / clipping norm) instead of a target --dp-epsilon; the run reports the ε it gives.", show_default=False)] = None,
    dp_max_grad_norm: Annotated[float | None, typer.Option(help="DP-SGD per-example gradient clipping norm. Default 1.0.", show_default=False)] = None,
    dp_delta: Annotated[float | None, typer.Option(help="The δ of DP-SGD's (ε, δ) guarantee; refused when ≥ 1/n for a model's n training examples. Default 1e-5.", show_default=False)] = None,
    precision: Annotated[str, typer.Option(help="auto: bfloat16 where this CPU runs it natively and faster (AMX, AVX512-BF16; one short timing, cached), else float32. Or float32, bfloat16. A resumed run keeps the precision it was created with.")] = "auto",
    device: Annotated[str, typer.Option(help="Where the mlp, cnn and logreg models train: auto (a CUDA GPU when torch sees one, else the CPU), cpu or cuda (refused when there is no GPU). Recorded in run.json, but not part of the run's identity: a run may be resumed on other hardware.")] = "auto",
    seed: Annotated[int, typer.Option(help="Seeds the plants, the design and every model.")] = 0,
    label_column: Annotated[str | None, typer.Option(help="Label column of a .csv dataset.")] = None,
    shard_size: Annotated[int | None, typer.Option(help="Models trained together and saved as one resumable shard.")] = None,
    executor: Annotated[str, typer.Option(help="Where the shards train: local (this process), ray (a Ray instance started on this machine; pip install 'memlens[ray]'), ray:auto (the Ray cluster this machine belongs to) or ray:HOST:PORT (a cluster's head node). Each shard is a Ray task on one CPU; a worker that dies is retried, and the run ends the same as a local run with one thread per shard. Only this process writes the run directory.")] = "local",
    targets: Annotated[int, typer.Option(help="Models attacked in turn for membership inference.")] = 8,
    budget: Annotated[int | None, typer.Option(help="Plan a memorization-guided attack for this many shadow models: which examples to target and the power it buys (written to RUN/plan.json).", show_default=False)] = None,
    proxies: Annotated[str, typer.Option(help="One-model memorization proxies recorded during training, comma-separated: curvature, self-influence, learning-events (ensemble models only).")] = "",
    threads: Annotated[int | None, typer.Option(help="PyTorch threads for training and observing (default: PyTorch's, one per core). Fewer leaves cores to other jobs; memlens already lets its idle threads sleep (OMP_WAIT_POLICY=PASSIVE unless you set it), so two audits on one machine do not starve each other.", show_default=False)] = None,
    progress: Annotated[bool, typer.Option(help="Show training progress: a live bar on a terminal; in a log, a line every 5 s (MEMLENS_PROGRESS_INTERVAL) with models done, rate and ETA.")] = True,
    trainer_spec: Annotated[str | None, typer.Option("--trainer", help="Train with your own function instead of --model: FILE.py:FUNCTION or module:function. memlens calls FUNCTION(X, y, seed) once per model with that model's training rows (numpy arrays) and an integer seed, and observes the fitted model it returns (a torch.nn.Module, a scikit-learn estimator, a Hugging Face model, or anything with predict_proba or logits). The file is imported (its top-level code runs); the run records the function's name and its file's SHA-256, so an edited function cannot resume an old run.", show_default=False)] = None,
) -> None:
    """Train MODELS models on known subsets, observe them, and estimate memorization and leakage.

    Writes RUN/run.json, membership.npy, observations/*.npy, scores.parquet (one row per
    example) and mia.json (LiRA online/offline, RMIA, loss attack: AUC and TPR at low FPR).
    """
    import memlens as ml

    wanted = _check_audit_options(
        models=models, epochs=epochs, width=width, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
        seed=seed, shard_size=shard_size, targets=targets, budget=budget, proxies=proxies,
    )  # fmt: skip
    if threads is not None:
        if threads < 1:
            raise MemlensError(f"--threads must be at least 1; got {threads}.")
        import torch

        torch.set_num_threads(threads)
    layer_options = {**({"depth": depth} if depth != 1 else {}), **({"activations": True} if activations else {})}
    if layer_options and (trainer_spec is not None or model.startswith("sklearn:")):
        raise MemlensError(
            f"--depth and --activations shape memlens' own mlp/cnn models; {trainer_spec or model} trains its own "
            "model, whose layers memlens does not see. Use --model mlp (or cnn for --activations), or drop them.")
    console = _console()
    data = ml.data.load(dataset, label_column=label_column)
    for spec in plant:
        data = data.plant(ml.data.parse_plant(spec, seed=seed))
    membership_design = ml.design.parse(design, models, data.n_examples, seed=seed)
    membership_design, layer_options = apply_mitigations(
        membership_design, data, layer_options, console, model=model, trainer_spec=trainer_spec,
        remove_memorized=remove_memorized, remove_random=remove_random, downweight_memorized=downweight_memorized,
        previous=previous, dedup=dedup, early_stopping=early_stopping,
    )  # fmt: skip
    membership_design.check_every_model_trains()
    if trainer_spec is not None:  # the user's own training function (memlens.cli_byo)
        from memlens.cli_byo import function_trainer

        trainer = function_trainer(ctx, trainer_spec, data, membership_design, seed=seed, out=out)
    else:
        if epochs is None:
            from memlens.train.ensemble import auto_epochs

            epochs = auto_epochs(int(membership_design.membership.sum(axis=1).max()), batch_size)
        trainer = ml.train.parse_model(
            model, epochs=epochs, width=width, batch_size=batch_size, lr=lr, optimizer=optimizer,
            weight_decay=weight_decay, precision=precision, proxies=wanted, device=device, **layer_options,
        )  # fmt: skip
    trainer = dp_trainer(trainer, model=model, trainer_spec=trainer_spec, epsilon=dp_epsilon,
                         noise_multiplier=dp_noise_multiplier, max_grad_norm=dp_max_grad_norm, delta=dp_delta)  # fmt: skip
    if getattr(trainer, "model", None) == "cnn":  # else only found once the run directory exists
        from memlens.train.ensemble import _image_dims

        _image_dims(data.image_shape, data.X.shape[1])
    console.print(
        f"[bold]memlens audit[/] {_literal(data.name)}: {data.n_examples} examples, {data.n_classes} classes"
        + (f", planted {_literal(', '.join(data.plants))} ({int(data.planted.sum())} examples)" if data.plants else "")
        + f"; {models} × {_literal(trainer_spec or model)} models, design {_literal(membership_design.spec)} → {_literal(out)}"
        + _precision_words(trainer, out)
        + _device_words(trainer, device)
    )
    run = ml.audit(
        data, membership_design, trainer, out, seed=seed, shard_size=shard_size,
        n_targets=targets, progress=progress, executor=parse_executor(executor),
    )  # fmt: skip
    _summary(console, run)
    if budget is not None:
        _plan(console, run, budget)
    from memlens.report import write_report

    console.print(f"report: [bold]{_literal(write_report(run))}[/]")


def _check_audit_options(
    *, models, epochs, width, batch_size, lr, weight_decay, seed, shard_size, targets, budget, proxies: str
) -> tuple[str, ...]:
    """Refuse option values that cannot work, before anything is loaded or written; the proxy names."""
    import math

    from memlens.train.proxies import PROXIES

    meaning = {
        "--models": "models to train", "--epochs": "passes over each model's data",
        "--width": "hidden units or channels", "--batch-size": "examples per step",
        "--shard-size": "models saved together", "--targets": "models attacked in turn",
        "--budget": "shadow models to plan for",
    }  # fmt: skip
    counts = {"--models": models, "--epochs": epochs, "--width": width, "--batch-size": batch_size,
              "--shard-size": shard_size, "--targets": targets, "--budget": budget}  # fmt: skip
    for flag, value in counts.items():
        if value is not None and value < 1:
            raise MemlensError(f"{flag} ({meaning[flag]}) must be at least 1; got {value}.")
    if not (math.isfinite(lr) and lr > 0):
        raise MemlensError(f"--lr (the learning rate) must be a finite number greater than 0, such as 0.003; got {lr}.")
    if not (math.isfinite(weight_decay) and weight_decay >= 0):
        raise MemlensError(f"--weight-decay must be a finite number >= 0 (0 for none); got {weight_decay}.")
    if seed < 0:
        raise MemlensError(f"--seed must be a whole number >= 0; got {seed}.")
    names = tuple(p.strip() for p in proxies.split(",") if p.strip())
    unknown = [p for p in names if p not in PROXIES]
    if unknown:
        raise MemlensError(
            f"Unknown proxy {', '.join(map(repr, unknown))} in --proxies; choose from {', '.join(PROXIES)} "
            "(comma-separated)."
        )
    return names


def _precision_words(trainer, out: Path) -> str:
    """``'; precision bfloat16 (auto: …)'``: what the run trains in and why ('' for scikit-learn)."""
    from rich.markup import escape

    from memlens.train.precision import describe, recorded_choice

    resolve = getattr(trainer, "resolve_precision", None)
    if resolve is None:
        return ""
    return "; precision " + escape(describe(resolve(recorded_choice(out))))


def _device_words(trainer, requested: str) -> str:
    """``'; device cpu (…)'``: where the models train, resolved before anything is written."""
    from rich.markup import escape

    from memlens.train import device

    device.check_request(requested)  # a scikit-learn model ignores the device, but not a typo
    resolve = getattr(trainer, "resolve_device", None)
    if resolve is None:
        return ""
    choice = resolve()
    return f"; device {escape(device.describe([choice]))}"


@app.command()
def report(
    run: Annotated[Path, typer.Argument(help="A run directory written by `memlens audit`, `memlens lm audit`, `memlens generative audit` or `memlens capacity`.")],
    rescore: Annotated[bool, typer.Option(help="First recompute scores.parquet and mia.json from the stored arrays (after they were damaged or deleted); takes the run's lock.")] = False,
) -> None:
    """Write RUN/report.html: one self-contained page (verdict, plots, examples) for a reviewer."""
    from rich.console import Console

    import memlens as ml
    from memlens.lm.cli import is_lm_run
    from memlens.report import write_report

    if is_lm_run(run):  # a language-model run: its own page, read from lm_scores.parquet and lm.json
        from rich.markup import escape

        if rescore:
            raise MemlensError(f"{run} is a language-model run; --rescore is for `memlens audit` runs. Re-run its `memlens lm audit` command instead.")
        from memlens.report import write_lm_report

        Console().print(f"report: [bold]{escape(str(write_lm_report(run)))}[/]")
        return
    if (run / "generative.json").is_file() or (run / "emm.json").is_file():
        if rescore:
            raise MemlensError(f"{run} is a generative run; --rescore is for `memlens audit` runs. Re-run its "
                               "`memlens generative audit` command instead: it trains nothing more and rewrites "
                               "the estimates from the stored arrays.")
        if (run / "emm.json").is_file() and not (run / "generative.json").is_file():
            raise MemlensError(f"{run} holds an EMM search (emm.json); each size in it is a run of its own: "
                               f"run `memlens report {run}/size-N`.")
    if (run / "dejavu.json").is_file() and not (run / "scores.parquet").exists():  # `memlens ssl dejavu`
        if rescore:
            raise MemlensError(f"{run} was written by `memlens ssl dejavu`; --rescore is for `memlens audit` runs. "
                               "Re-run its `memlens ssl dejavu` command instead: it trains nothing more and rewrites "
                               "dejavu.json from the stored embeddings.")
        _console().print(f"report: [bold]{_literal(write_report(run))}[/]")
        return
    if (run / "capacity.json").is_file() and not (run / "scores.parquet").exists():  # `memlens capacity …`
        if rescore:
            raise MemlensError(f"{run} was written by `memlens capacity`; --rescore is for `memlens audit` runs. "
                               "Re-run its `memlens capacity` command instead.")
        _console().print(f"report: [bold]{_literal(write_report(run))}[/]")
        return
    from memlens.integrations.run import is_external_run

    if is_external_run(run):  # models trained by the user's script: assembled here once all are in
        opened = ml.integrations.finalize(run, rescore=rescore)
    else:
        opened = ml.Run.open(run)
        if rescore:
            opened.rescore()
    _console().print(f"report: [bold]{_literal(write_report(opened))}[/]")


def _plan(console, run, budget: int) -> None:
    """Choi et al.'s planning: with BUDGET shadow models, which examples can be attacked, how well."""
    import numpy as np

    from memlens.estimate.guided import plan_budget

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
        console.print(f"  {_literal(plan['note'])}")
    console.print(f"wrote {_literal(run.path)}/plan.json")


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
            console.print(f"  {name:<13} {_literal(m.get('note', ''))}")
    for w in sorted(warned):
        console.print(f"  [yellow]caution:[/] {_literal(w)}")
    if "note" in run.mia:
        console.print(f"  {_literal(run.mia['note'])}")
    if "privacy.json" in run.store.manifest.get("files", {}):  # DP-SGD: the accountant's upper bound
        console.print(f"  {_literal(dp_words(run.store.read_json('privacy.json')))}")
    console.print(f"wrote {_literal(run.path)}/scores.parquet, mia.json; inspect with `memlens show {_literal(run.path)}`")


@app.command()
def show(
    run: Annotated[Path, typer.Argument(help="A run directory written by `memlens audit`, `memlens lm audit` or `memlens generative audit`.")],
    top: Annotated[int, typer.Option(help="How many examples (documents and canaries; most replicated or most memorized images) to list.")] = 20,
    sort: Annotated[str | None, typer.Option(help="Score column to sort by (descending). Default: memorization; for a language-model run, the report's order (most exposed canaries, then extractable texts).", show_default=False)] = None,
) -> None:
    """The most memorized examples as a table, and planted-vs-found when a plant was made."""
    from rich.table import Table

    import memlens as ml
    from memlens.lm.cli import is_lm_run, show_lm_run

    if top < 1:
        raise MemlensError(f"--top (how many examples to list) must be at least 1; got {top}.")
    console = _console()
    if is_lm_run(run):
        show_lm_run(run, top=top, sort=sort, console=console)
        return
    if (run / "generative.json").is_file():
        from memlens.generative.cli import show_generative_run

        show_generative_run(run, top=top, console=console)
        return
    sort = sort or "memorization"
    r = ml.Run.open(run)
    scores = r.scores
    _check_score_columns(scores, sort, run)
    cfg = r.config
    console.print(
        f"[bold]{_literal(run)}[/]: {_literal(cfg['dataset']['name'])}, {cfg['design']['n_models']} models "
        f"({_literal(cfg['trainer'].get('model', cfg['trainer'].get('estimator')))}), design "
        f"{_literal(cfg['design']['spec'])}, seed {cfg['seed']}"
    )
    ranked = scores.sort_values(sort, ascending=False, na_position="last").head(top)
    classes = cfg["dataset"].get("classes")

    def name(label) -> str:
        label = int(label)
        return _literal(classes[label] if classes and 0 <= label < len(classes) else label)

    table = Table(title=f"top {top} by {_literal(sort)}")
    for col in ("id", "label", "original", _literal(sort), "± se", "in/out", "planted"):
        table.add_column(col, justify="right" if col != "planted" else "left")
    for row, value in zip(ranked.itertuples(), ranked[sort].to_numpy(), strict=True):
        table.add_row(
            str(row.id), name(row.label), name(row.original_label) if row.original_label != row.label else "",
            f"{value:.3f}", f"{row.memorization_stderr:.3f}",
            f"{row.in_count}/{row.out_count}", _literal(row.plant or ""),
        )  # fmt: skip
    console.print(table)
    if scores["planted"].any():
        from memlens.estimate.planted import planted_recovery

        found = planted_recovery(scores["planted"].to_numpy(), scores[sort].to_numpy())
        console.print(
            f"planted {found['n_planted']} examples: AUROC of {_literal(sort)} for finding them "
            f"{found['auroc']:.3f}; {found['found_in_top']} of them are among the top "
            f"{found['n_planted']} ({found['precision_at_k']:.1%})"
        )


#: the columns `memlens show` prints besides the one it sorts by
SHOWN_COLUMNS = ("id", "label", "original_label", "memorization_stderr", "in_count", "out_count", "planted", "plant")


def _check_score_columns(scores, sort: str, run: Path) -> None:
    """Refuse a --sort column that is absent or not numeric, naming the columns that would work."""
    import pandas as pd

    from memlens.errors import RunStoreError

    missing = [c for c in SHOWN_COLUMNS if c not in scores.columns]
    if missing:
        raise RunStoreError(
            f"{run}/scores.parquet lacks the column(s) {', '.join(missing)}: it was not written by this "
            f"memlens. `memlens report {run} --rescore` rebuilds it from the stored arrays."
        )
    numeric = [
        str(c) for c in scores.columns
        if pd.api.types.is_numeric_dtype(scores[c]) and not pd.api.types.is_bool_dtype(scores[c])
    ]  # fmt: skip
    if sort not in scores.columns:
        raise MemlensError(f"No score column '{sort}' to sort by. Numeric columns: {', '.join(numeric)}.")
    if sort not in numeric:
        raise MemlensError(
            f"Column '{sort}' holds {scores[sort].dtype} values, not numbers, so it cannot rank "
            f"examples. Sort by a numeric column: {', '.join(numeric)}."
        )


from memlens import cli_byo  # noqa: E402  (auditing your own model: observe, import, audit --trainer)

app.command("observe")(cli_byo.observe)
app.command("import")(cli_byo.import_predictions)

from memlens.integrations import cli as integrations_cli  # noqa: E402  (your own script, one model a run)

app.command("prepare")(integrations_cli.prepare)
app.command("finalize")(integrations_cli.finalize)


@app.command()
def compare(
    runs: Annotated[list[Path], typer.Argument(help="RUN_BEFORE, then one or more RUN_AFTER: finished `memlens audit` runs of the same examples.", show_default=False)],
    out: Annotated[Path, typer.Option(help="Folder for compare.json, compare.parquet and report.html (not a run directory).")],
    top: Annotated[int, typer.Option(help="Examples listed per mitigation whose memorization fell most, and least.")] = 10,
) -> None:
    """Did the fix work? Memorization (paired per example), TPR at low FPR, ε bounds and test accuracy of each RUN_AFTER against RUN_BEFORE."""
    from memlens.compare import compare_runs, summary_table

    result = compare_runs(runs, out, top=top)
    console = _console()
    console.print(summary_table(result))
    for pair in result["comparisons"]:
        console.print(_literal(pair["verdict"]), soft_wrap=True)
    console.print(f"report: [bold]{_literal(out / 'report.html')}[/]; compare.json, compare.parquet beside it")


def main() -> None:
    """Entry point: every error becomes one paragraph (what, where, what to do), never a traceback.

    Exit code 2 for what the user can fix (bad input, a damaged run, a full or read-only disk,
    too little memory), 1 for a bug in memlens, 130 for Ctrl-C. ``MEMLENS_DEBUG=1`` re-raises
    instead, with the traceback.
    """
    import gc
    import os

    share_cores_politely()
    thresholds = collect_less()
    try:
        app()  # standalone: typer reports usage errors itself and exits 2
    except KeyboardInterrupt:
        _fail("interrupted: finished shards are saved; re-run the same command to resume.", 130, label="")
    except Exception as e:
        if os.environ.get("MEMLENS_DEBUG", "") not in ("", "0"):
            raise
        _fail(*_explain(e))
    finally:
        gc.set_threshold(*thresholds)


def _fail(message: str, code: int, *, label: str = "error: ") -> NoReturn:
    """Print ``message`` to stderr as one literal paragraph and exit with ``code``."""
    from rich.text import Text

    text = Text(label, style="bold red")
    text.append(_printable(message))
    _console(stderr=True).print(text, soft_wrap=True, highlight=False)
    sys.exit(code)


if __name__ == "__main__":
    main()
