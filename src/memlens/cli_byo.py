"""Command line for auditing the user's own model: ``memlens observe`` (saved checkpoints),
``memlens import`` (predictions computed anywhere) and ``memlens audit --trainer`` (the user's
training function). Registered on :data:`memlens.cli.app`; strings become objects here only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from memlens.errors import MemlensError

#: `memlens audit` options that configure memlens's own models, and so clash with --trainer
BUILTIN_MODEL_OPTIONS = ("model", "epochs", "width", "batch_size", "lr", "optimizer", "weight_decay",
                         "precision", "proxies")  # fmt: skip


def function_trainer(ctx: typer.Context, spec: str, data, design, *, seed: int, out: Path):
    """The :class:`~memlens.train.Function` that ``memlens audit --trainer SPEC`` trains with.

    Refuses options of memlens's own models, loads the function, and — for a new run — trains
    and observes its first model before anything is written, so a function that fails or returns
    something memlens cannot observe is refused with nothing on disk (that model is kept).
    """
    from memlens.cli import _console, _literal
    from memlens.train import Function, model_seeds

    given = [
        "--" + name.replace("_", "-") for name in BUILTIN_MODEL_OPTIONS
        # by name: typer may vendor its own click, whose ParameterSource is another enum
        if getattr(ctx.get_parameter_source(name), "name", None) in ("COMMANDLINE", "ENVIRONMENT")
    ]  # fmt: skip
    if given:
        raise MemlensError(
            f"--trainer trains with your own function, so {', '.join(given)} (settings of memlens's own "
            "models) do not apply: your function decides how to train. Drop them."
        )
    trainer = Function.from_spec(spec)
    if not (Path(out) / "run.json").exists():
        _console().print(f"checking {_literal(spec)} on model 0 before writing anything (the model is kept)")
        trainer.check(data, design.membership[0], model_seeds(seed, design.n_models)[0])
    return trainer


def _check_counts(**counts) -> None:
    meaning = {"targets": "models attacked in turn", "shard_size": "models saved together",
               "batch_size": "examples per forward pass"}  # fmt: skip
    for name, value in counts.items():
        if value is not None and value < 1:
            raise MemlensError(f"--{name.replace('_', '-')} ({meaning[name]}) must be at least 1; got {value}.")


def observe(
    checkpoints: Annotated[str, typer.Option(help="Glob pattern of the M checkpoints, in quotes so the shell leaves it alone ('ckpt/model-*.pt'). PyTorch state_dict files (.pt, .pth, .bin, .ckpt, .safetensors), loaded with torch.load(weights_only=True) into the module --model-factory builds; Hugging Face model folders (holding config.json); scikit-learn models saved with skops (.skops). They are sorted by name in natural order (model-2 before model-10), and the i-th is row i of a --membership mask.", show_default=False)],
    membership: Annotated[Path, typer.Option(help="Which examples each checkpoint trained on: a boolean .npy/.npz mask (checkpoints × examples, rows in the checkpoints' natural name order), or a manifest naming each checkpoint (file name or stem): .json object mapping each name to the list of ids it trained on, or .csv with columns checkpoint,id. Ids are the dataset's row numbers 0…N−1.", show_default=False)],
    dataset: Annotated[str, typer.Option(help="The examples the checkpoints are observed on, as for `memlens audit`: digits, fashion-mnist, mnist-5k (':N' keeps the first N), or a .npz / .csv path.", show_default=False)],
    out: Annotated[Path, typer.Option(help="Run directory. Re-running the same command resumes it.", show_default=False)],
    model_factory: Annotated[str | None, typer.Option(help="FILE.py:FUNCTION or module:function. For state_dict files, FUNCTION() returns the untrained torch.nn.Module the weights load into; for Hugging Face folders, FUNCTION(folder) returns the loaded model (default: AutoModelForSequenceClassification.from_pretrained(folder, local_files_only=True)). The file is imported, so its top-level code runs.", show_default=False)] = None,
    allow_pickle: Annotated[bool, typer.Option("--allow-pickle", help="Also load scikit-learn models from joblib/pickle files (.joblib, .pkl) and .skops files holding types skops does not trust by default. RISK: unpickling runs whatever code the file names, so a malicious or corrupted file can take over this machine. Use it only for files you made or trust; prefer skops (skops.io.dump), which needs no flag for scikit-learn's own estimators.")] = False,
    label_column: Annotated[str | None, typer.Option(help="Label column of a .csv dataset.")] = None,
    targets: Annotated[int, typer.Option(help="Models attacked in turn for membership inference.")] = 8,
    shard_size: Annotated[int, typer.Option(help="Checkpoints observed together and saved as one resumable shard.")] = 8,
    batch_size: Annotated[int, typer.Option(help="Examples per forward pass of a PyTorch model.")] = 1024,
    device: Annotated[str, typer.Option(help="Where PyTorch checkpoints are observed: auto (a CUDA GPU when torch sees one), cpu or cuda. Recorded in run.json, not part of the run's identity.")] = "auto",
    progress: Annotated[bool, typer.Option(help="Show progress: a live bar on a terminal; in a log, a line every 5 s.")] = True,
) -> None:
    """Audit M models you already trained: observe each checkpoint on every example, then estimate.

    Writes the same run directory as `memlens audit` (run.json, membership.npy, observations/,
    scores.parquet, mia.json, report.html); `memlens show` and `memlens report` work on it.
    """
    import memlens as ml
    from memlens.cli import _console, _literal, _summary
    from memlens.report import write_report
    from memlens.train.checkpoints import (
        Checkpoints,
        checkpoint_names,
        find_checkpoints,
        read_membership,
        resolve_kind,
    )
    from memlens.train.function import load_callable

    _check_counts(targets=targets, shard_size=shard_size, batch_size=batch_size)
    data = ml.data.load(dataset, label_column=label_column)
    paths = find_checkpoints(checkpoints)
    names = checkpoint_names(paths)
    factory = load_callable(model_factory, option="--model-factory") if model_factory else None
    resolve_kind(paths, names, factory=factory, allow_pickle=allow_pickle)
    mask = read_membership(membership, names, data.n_examples)
    from memlens.train import device as devices

    devices.check_request(device)
    trainer = Checkpoints(paths, mask, factory=factory, allow_pickle=allow_pickle, batch_size=batch_size,
                          factory_spec=model_factory, device=device)  # fmt: skip
    design = ml.design.Design("given", 0, mask)
    console = _console()
    shown = [f"{i} ← {names[i]}" for i in range(min(3, len(names)))]
    if len(names) > 3:
        shown += ["…", f"{len(names) - 1} ← {names[-1]}"]
    console.print(
        f"[bold]memlens observe[/] {_literal(data.name)}: {data.n_examples} examples, {data.n_classes} classes; "
        f"{len(paths)} {trainer.kind} checkpoints, sorted by name in natural order and "
        + ("given rows by the manifest's names" if membership.suffix.lower() in (".json", ".csv") else "matched to membership rows")
        + f" ({_literal(', '.join(shown))}) → {_literal(out)}"
    )
    if not (out / "run.json").exists():
        trainer.check(data)  # every checkpoint opened, the first observed, before anything is written
    run = ml.audit(data, design, trainer, out, shard_size=shard_size, n_targets=targets, progress=progress)
    _summary(console, run)
    console.print(f"report: [bold]{_literal(write_report(run))}[/]")


def import_predictions(
    membership: Annotated[Path, typer.Option(help="Which examples each model trained on: a boolean (models × examples) .npy, .npz, or a Parquet table with columns model, id, member.", show_default=False)],
    labels: Annotated[Path, typer.Option(help="The class of each example, (examples,) integers 0…C−1: .npy, .npz (an array 'labels' or 'y'; 'class_names' too if present) or Parquet (columns id, label).", show_default=False)],
    out: Annotated[Path, typer.Option(help="Run directory to write.", show_default=False)],
    logits: Annotated[Path | None, typer.Option(help="Each model's logits on each example, (models × examples × classes): .npy, .npz, or Parquet (columns model, id and a list column of C logits).", show_default=False)] = None,
    probs: Annotated[Path | None, typer.Option(help="Instead of --logits: class probabilities, (models × examples × classes), each row summing to 1.", show_default=False)] = None,
    losses: Annotated[Path | None, typer.Option(help="Instead of --logits: per-example losses (models × examples), the negative log-likelihood of the label. Then LiRA runs on −loss and RMIA does not run, as said above.", show_default=False)] = None,
    targets: Annotated[int, typer.Option(help="Models attacked in turn for membership inference.")] = 8,
    shard_size: Annotated[int, typer.Option(help="Models saved together as one shard.")] = 32,
) -> None:
    """Make a run directory from predictions computed anywhere, then estimate memorization and leakage.

    Give the membership mask, the labels and exactly one of --logits, --probs or --losses. With
    logits or probabilities every estimate of `memlens audit` is computed; with losses only, the
    logit-scaled confidence cannot be recovered, so LiRA (online, offline) runs on −loss, RMIA is
    not run, and memorization is the Feldman–Zhang difference on exp(−loss). `memlens show` and
    `memlens report` work on the result; there is no dataset, so the report shows no examples.
    """
    import numpy as np

    import memlens as ml
    from memlens.cli import _console, _literal, _summary
    from memlens.importing import LOSS_ONLY_NOTE, read_array
    from memlens.importing import import_predictions as write_run
    from memlens.report import write_report

    _check_counts(targets=targets, shard_size=shard_size)
    given = {flag: path for flag, path in (("--logits", logits), ("--probs", probs), ("--losses", losses)) if path}
    if len(given) != 1:
        raise MemlensError(
            "Give exactly one of --logits, --probs or --losses (the models' outputs on every example); "
            f"got {', '.join(given) or 'none'}."
        )
    (flag, path), = given.items()
    mask = read_array(membership, flag="--membership")
    values = read_array(path, flag=flag)
    y = read_array(labels, flag="--labels")
    class_names = None
    if labels.suffix.lower() == ".npz":
        with np.load(labels, allow_pickle=False) as archive:
            if "class_names" in archive.files and len(archive.files) > 1:
                class_names = [str(c) for c in archive["class_names"]]
    kind = {"--logits": "logits", "--probs": "probabilities", "--losses": "losses"}[flag]
    run = write_run(out, membership=mask, labels=y, class_names=class_names, n_targets=targets,
                    shard_size=shard_size, name=f"imported {kind}", **{kind: values})  # fmt: skip
    console = _console()
    console.print(
        f"[bold]memlens import[/] {kind} of {run.membership.shape[0]} models × {run.membership.shape[1]} "
        f"examples from {_literal(path)} (membership {_literal(membership)}, labels {_literal(labels)}) "
        f"→ {_literal(out)}"
    )
    _summary(console, run)
    if kind == "losses":
        console.print(f"  {LOSS_ONLY_NOTE}")
    console.print(f"report: [bold]{_literal(write_report(ml.Run.open(out)))}[/]")
