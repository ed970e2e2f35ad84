"""``memlens capacity …``: how wide a network must be to memorize N examples, and what its layers still know.

``construct`` fits one explicit memorizing construction at several training-set sizes N and
records the width it needed, its parameters, whether it fits every training example, and how it
does on the examples it did not see; the log–log slope of width against N says how the width
grows (√N for Yun et al.'s memorizer, ~N for kernel machines that store every example).
``decode`` runs MASC layer by layer on one or more audit runs that stored their hidden activations
(one per label-corruption rate, say).
``sweep`` trains two-layer networks of many widths on m random labels in dimension d and finds the
smallest width that fits them (Daniely: it grows as m/d), per (m, d), with the exponent.

Kept light at import (no torch, no scikit-learn): the main ``memlens`` app imports this module.
"""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from memlens.capacity.errors import CapacityInputError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

METHODS = ("sqrt-n", "interpolating", "mimm", "wimm")
#: the log–log slope of width against N each construction is built to have (None: no fixed rate)
REFERENCE_SLOPE = {"sqrt-n": 0.5, "interpolating": None, "mimm": 1.0, "wimm": 1.0}
CONSTRUCTIONS = "constructions.parquet"
MASC_TABLE = "masc.parquet"
SWEEP_TABLE = "sweep.parquet"
SUMMARY = "capacity.json"


# --------------------------------------------------------------------------------------- pure parts


def loglog_slope(x, y, *, confidence: float = 0.95) -> dict:
    """Least-squares fit of log y = a + b·log x: the slope b, intercept a and a t-interval for b.

    :func:`memlens.capacity.width_sweep.fit_power_law` for three points or more; with two the
    slope is exact but no interval exists (``low``/``high`` are None). An exact power law
    y = c·x^b gives b with an interval of zero width.

    Example:
        >>> fit = loglog_slope([100, 400, 1600], [10, 20, 40])
        >>> round(fit["slope"], 6), round(fit["low"], 6), round(fit["high"], 6)
        (0.5, 0.5, 0.5)
    """
    from memlens.capacity.width_sweep import fit_power_law

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 2 or np.ptp(x) == 0:
        raise CapacityInputError(
            f"A log–log slope needs at least two different sizes; got {x.tolist()}. Pass two or more distinct values.")
    if len(x) == 2:
        slope = float(np.diff(np.log(y))[0] / np.diff(np.log(x))[0])
        return {"slope": slope, "intercept": float(np.log(y[0]) - slope * np.log(x[0])), "confidence": confidence,
                "points": 2, "low": None, "high": None}
    fit = fit_power_law(x, y, confidence=confidence)
    return {"slope": fit.exponent, "intercept": fit.log_prefactor, "confidence": confidence, "points": fit.n,
            "low": fit.ci_low, "high": fit.ci_high}


def parse_sizes(text: str | None, available: int) -> tuple[int, ...]:
    """--sizes as whole numbers 2 ≤ N ≤ available; default: 100, 200, 400, … up to ``available``."""
    if text is None:
        sizes, n = [], 100
        while n <= available:
            sizes.append(n)
            n *= 2
        if not sizes:
            raise CapacityInputError(
                f"The dataset has {available} examples, fewer than the smallest default size 100; pass --sizes.")
        return tuple(sizes)
    try:
        sizes = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise CapacityInputError(f"--sizes takes comma-separated whole numbers such as 100,200,400; got '{text}'.") from None
    if not sizes or min(sizes) < 2:
        raise CapacityInputError(f"--sizes needs whole numbers of at least 2 examples; got '{text}'.")
    if len(set(sizes)) != len(sizes):
        raise CapacityInputError(f"--sizes lists a size twice ('{text}'); give each size once.")
    if max(sizes) > available:
        raise CapacityInputError(
            f"--sizes asks for {max(sizes)} examples but the dataset has {available}; use sizes up to {available} "
            "(or a larger dataset).")
    return tuple(sorted(sizes))


def balanced_order(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random order of the example ids that deals the classes out in turn (0th of each class, then 1st, …).

    Its first N ids are as class-balanced as the data allows, and the subsets for growing N are
    nested, so width against N is not blurred by drawing a new subset each time.
    """
    perm = rng.permutation(len(labels))
    rank = np.empty(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        members = perm[labels[perm] == c]
        rank[members] = np.arange(len(members))
    return perm[np.argsort(rank[perm], kind="stable")]


# --------------------------------------------------------------------------------------- fitting


def _fit_one(method: str, X: np.ndarray, y: np.ndarray, *, seed: int, n_hidden: int) -> tuple[object, dict]:
    """Fit ``method`` on (X, y); return a predict function and the widths/parameters/error it reports."""
    if method == "sqrt-n":
        from memlens.capacity.sqrt_n import SqrtNMemorizer

        classes, codes = np.unique(y, return_inverse=True)
        net = SqrtNMemorizer(random_state=seed).fit(X, codes.astype(float))

        def predict(Z):  # the real output rounded to the nearest class code
            return classes[np.clip(np.rint(net.predict(Z)), 0, len(classes) - 1).astype(int)]

        widths = tuple(int(w) for w in net.hidden_widths_)
        return predict, {"widths": widths, "width_total": sum(widths), "width_data_sized": sum(widths),
                         "parameters": int(net.n_parameters_), "max_abs_error": float(net.max_abs_error_)}
    if method == "interpolating":
        from memlens.capacity.interpolating import (
            NotInterpolatingWarning,
            RandomizedInterpolatingNet,
        )

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotInterpolatingWarning)  # recorded as the training accuracy
            net = RandomizedInterpolatingNet(n_hidden, random_state=seed).fit(X, y)
        widths = tuple(int(w) for w in net.hidden_widths_)
        return net.predict, {"widths": widths, "width_total": sum(widths), "width_data_sized": widths[1],
                             "parameters": int(net.n_parameters_), "max_abs_error": None}
    from sklearn.multiclass import OneVsRestClassifier

    from memlens.capacity.memorization_machines import MIMM, WIMM, NotMemorizedWarning

    machine = MIMM() if method == "mimm" else WIMM()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotMemorizedWarning)  # recorded as the training accuracy
        model = machine.fit(X, y) if len(np.unique(y)) == 2 else OneVsRestClassifier(machine).fit(X, y)
    machines = [model] if model is machine else list(model.estimators_)
    kernel_units = sum(len(m.support_vectors_) for m in machines)
    memory_units = sum(len(m.memory_inputs_) for m in machines)
    parameters = sum(m.support_vectors_.size + m.dual_coef_.size + 1 + m.memory_inputs_.size + m.memory_coef_.size
                     for m in machines)  # every number the machines keep to predict
    return model.predict, {"widths": (kernel_units, memory_units), "width_total": kernel_units + memory_units,
                           "width_data_sized": kernel_units + memory_units, "parameters": int(parameters),
                           "max_abs_error": None, "machines": len(machines)}


def _check_pool(method: str, X: np.ndarray, y: np.ndarray) -> None:
    """Refuse, naming dataset ids, what no memorizing construction can fit: non-finite rows, conflicting copies."""
    from memlens.capacity.sqrt_n import check_finite, conflicting_duplicates

    check_finite(X)
    conflicts = conflicting_duplicates(X, y)
    if conflicts:
        groups = "; ".join("{" + ", ".join(map(str, g[:5].tolist())) + ("…" if len(g) > 5 else "") + "}"
                           for g in conflicts[:5])
        raise CapacityInputError(
            f"{len(conflicts)} group(s) of examples have identical features but different labels (dataset ids "
            f"{groups}{' and more' if len(conflicts) > 5 else ''}), so the {method} construction cannot memorize "
            "them. Drop or relabel all but one example of each group (with --labels random, use another --seed).")
    if len(np.unique(y)) < 2:
        raise CapacityInputError(f"All examples have one label ({y[0]!r}); a classifier needs two classes or more.")


def run_constructions(method: str, X: np.ndarray, y: np.ndarray, sizes, order: np.ndarray, *, seed: int,
                      n_hidden: int = 1000, progress: bool = True) -> list[dict]:
    """One row per N: fit ``method`` on the first N ids of ``order``; score it there and on the rest."""
    from memlens.progress import track

    rows = []
    with track(len(sizes), unit="sizes", label="constructing", description=method, enabled=progress) as advance:
        for n in sizes:
            fit_ids, rest_ids = order[:n], order[n:]
            start = time.perf_counter()
            predict, info = _fit_one(method, X[fit_ids], y[fit_ids], seed=seed, n_hidden=n_hidden)
            seconds = time.perf_counter() - start
            train_acc = float((predict(X[fit_ids]) == y[fit_ids]).mean())
            held = float((predict(X[rest_ids]) == y[rest_ids]).mean()) if len(rest_ids) else None
            widths = info.pop("widths")
            rows.append({"n": int(n), "n_classes": int(len(np.unique(y[fit_ids]))), "widths": list(widths),
                         "layers": len(widths), **info, "train_accuracy": train_acc,
                         "interpolates": train_acc == 1.0, "heldout_n": int(len(rest_ids)),
                         "heldout_accuracy": held, "seconds": round(seconds, 4)})
            advance(1)
    return rows


def _frame(rows: list[dict]):
    import pandas as pd

    frame = pd.DataFrame(rows)
    frame["widths"] = frame["widths"].map(lambda w: ",".join(map(str, w)))  # one string column: Parquet-plain
    return frame


def _write_table(path: Path, frame) -> None:
    from memlens.files import atomic_path

    with atomic_path(path, ".parquet") as tmp:
        frame.to_parquet(tmp, index=False)


def _console():
    from rich.console import Console

    return Console(emoji=False)


def _literal(text) -> str:
    from rich.markup import escape

    return escape("".join(c if c in "\n\t" or c.isprintable() else ascii(c)[1:-1] for c in str(text)))


# --------------------------------------------------------------------------------------- commands

Out = Annotated[Path, typer.Option(help="Output directory: capacity.json, the table and report.html are written there.")]


@app.command()
def construct(
    method: Annotated[str, typer.Option(help="sqrt-n (Yun et al.'s two-hidden-layer memorizer, widths 2⌈√N⌉−1, 2⌈√N⌉), interpolating (Dirksen et al.'s random threshold net), mimm or wimm (LS-SVM plus a memory term; one-vs-rest for more than two classes).")],
    out: Out,
    dataset: Annotated[str, typer.Option(help="digits, fashion-mnist, mnist-5k (':N' keeps the first N), or a .npz / .csv path. Its training pool is used.")] = "digits",
    labels: Annotated[str, typer.Option(help="given: the dataset's labels; random: uniformly random ones over its classes (memorization with no pattern to learn).")] = "given",
    sizes: Annotated[str | None, typer.Option(help="Comma-separated training-set sizes N, e.g. 100,200,400. Default: 100, 200, 400, … up to the dataset's size.", show_default=False)] = None,
    hidden: Annotated[int, typer.Option(help="Random hyperplanes (layer-1 width) of --method interpolating.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seeds the subsets, random labels and the constructions.")] = 0,
    label_column: Annotated[str | None, typer.Option(help="Label column of a .csv dataset.")] = None,
    progress: Annotated[bool, typer.Option(help="Show progress.")] = True,
) -> None:
    """Fit a memorizing construction at each size N; record widths, parameters, training and held-out accuracy.

    Each N uses the first N examples of one class-balanced random order (nested subsets); the rest
    of the pool is held out. Writes OUT/constructions.parquet (one row per N), OUT/capacity.json
    (with the log–log slope of total hidden width against N and its 95% interval) and OUT/report.html.
    """
    import memlens as ml
    from memlens import seeds

    if method not in METHODS:
        raise CapacityInputError(f"Unknown --method '{method}'. Use one of: {', '.join(METHODS)}.")
    if labels not in ("given", "random"):
        raise CapacityInputError(f"--labels takes 'given' or 'random'; got '{labels}'.")
    if hidden < 1:
        raise CapacityInputError(f"--hidden must be at least 1 hyperplane; got {hidden}.")
    data = ml.data.load(dataset, label_column=label_column)
    X, y = np.asarray(data.X, dtype=np.float64), np.asarray(data.y)
    wanted = parse_sizes(sizes, len(X))
    if labels == "random":
        y = seeds.rng(seed, "capacity:labels").choice(np.unique(y), size=len(y))
    _check_pool(method, X, y)
    order = balanced_order(y, seeds.rng(seed, "capacity:subsets"))
    random_state = seeds.to_int(seeds.sequence(seed, "capacity:constructions"), "int31")
    console = _console()
    console.print(f"[bold]memlens capacity construct[/] {_literal(method)} on {_literal(data.name)} ({labels} labels): "
                  f"N = {', '.join(map(str, wanted))} → {_literal(out)}")
    start = time.perf_counter()
    rows = run_constructions(method, X, y, wanted, order, seed=random_state, n_hidden=hidden, progress=progress)
    fit = loglog_slope([r["n"] for r in rows], [r["width_total"] for r in rows])
    data_sized = loglog_slope([r["n"] for r in rows], [r["width_data_sized"] for r in rows])
    summary = {
        "kind": "constructions", "method": method, "dataset": data.name, "labels": labels, "seed": seed,
        "pool": len(X), "features": int(X.shape[1]), "classes": int(len(np.unique(y))), "sizes": list(wanted),
        "n_hidden": hidden if method == "interpolating" else None,
        "slope": fit, "slope_data_sized": data_sized, "reference_slope": REFERENCE_SLOPE[method],
        "all_interpolate": all(r["interpolates"] for r in rows), "rows": rows,
        "seconds": round(time.perf_counter() - start, 2), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }  # fmt: skip
    _finish(out, CONSTRUCTIONS, _frame(rows), summary, console)
    ci = "" if fit["low"] is None else f" [{fit['low']:.2f}, {fit['high']:.2f}]"
    console.print(f"width ∝ N^{fit['slope']:.2f}{ci}; training accuracy "
                  f"{min(r['train_accuracy'] for r in rows):.1%} at worst")


def _finish(out: Path, table_name: str, frame, summary: dict, console) -> None:
    """Write the table, then capacity.json, then the report (each atomically)."""
    from memlens.files import write_json
    from memlens.report.capacity_section import write_capacity_report

    out.mkdir(parents=True, exist_ok=True)
    _write_table(out / table_name, frame)
    write_json(out / SUMMARY, summary)
    console.print(f"report: [bold]{_literal(write_capacity_report(out))}[/]")


def activation_layers(observations) -> int:
    """How many hidden layers an audit run observed (``activations_0`` … with ``test_activations_k``)."""
    depth = 0
    while f"activations_{depth}" in observations and f"test_activations_{depth}" in observations:
        depth += 1
    return depth


def decode_run(run, data, *, explained_variance: float = 0.99, progress: bool = True):
    """MASC per model and layer (input and every observed hidden layer) of a finished audit run: a DataFrame."""
    import pandas as pd

    from memlens.capacity.masc import layerwise_accuracy
    from memlens.progress import track

    obs = run.observations
    depth = activation_layers(obs)
    membership = np.asarray(run.membership)
    names = ["input", *[f"hidden_{k + 1}" for k in range(depth)]]
    parts = []
    with track(len(membership), unit="models", label="decoding", description="MASC", enabled=progress) as advance:
        for m in range(len(membership)):
            train = {"input": data.X, **{names[k + 1]: np.asarray(obs[f"activations_{k}"][m]) for k in range(depth)}}
            test = {"input": data.X_test,
                    **{names[k + 1]: np.asarray(obs[f"test_activations_{k}"][m]) for k in range(depth)}}
            part = layerwise_accuracy(train, test, membership[m:m + 1], data.y, data.original_y, data.y_test,
                                      explained_variance=explained_variance)
            part["model"] = m
            parts.append(part)
            advance(1)
    return pd.concat(parts, ignore_index=True), names


MASC_COLUMNS = ("train_given", "train_true", "clean", "noisy_given", "noisy_true", "test", "mean_components")


def summarize_masc(table, layers: list[str]) -> dict:
    """Per subspaces kind ("given", "true") and column, the mean and std over models of each layer (NaN → None)."""

    def plain(v: float):
        return None if not np.isfinite(v) else round(float(v), 4)

    out = {}
    for kind, part in table.groupby("subspaces"):
        grouped = part.groupby("layer")[list(MASC_COLUMNS)]
        mean, std = grouped.mean().loc[layers], grouped.std(ddof=0).loc[layers]
        out[str(kind)] = {c: {"mean": [plain(v) for v in mean[c]], "std": [plain(v) for v in std[c]]}
                          for c in MASC_COLUMNS}
    return out


def label_noise_rate(plants) -> float | None:
    """The label-noise rate a dataset's plant specs record ("label-noise:0.4" → 0.4; None when none).

    Several label-noise plants each flip ``round(rate · N)`` clean labels, so their rates add up.
    """
    rates = [float(spec.split(":", 1)[1]) for spec in plants if str(spec).startswith("label-noise:")]
    return round(sum(rates), 6) if rates else None


def _open_decodable(run_audit: Path):
    """Open an audit run and its dataset, refusing one that stored no activations or has no test split."""
    from memlens.audit import Run

    run = Run.open(run_audit)
    if activation_layers(run.observations) == 0:
        raise CapacityInputError(
            f"The run {run_audit} stored no hidden activations, so there are no layers to decode. Audit with "
            "activations on: `memlens audit … --model mlp --depth 3 --activations`, or from Python "
            "ml.audit(data, design, ml.train.Ensemble('mlp', depth=3, activations=True), out).")
    data = run.load_data()
    if data.X_test is None:
        raise CapacityInputError(
            f"The dataset of {run_audit} has no test split, which MASC is scored on; audit a dataset with one.")
    return run, data


def _run_summary(run_audit: Path, run, data, table, layers: list[str]) -> dict:
    """One audit run's MASC summary: per-layer means and stds, the best test layer, the network's accuracy."""
    membership = np.asarray(run.membership)
    correct = np.asarray(run.observations["correct"]) if "correct" in run.observations else None
    test_correct = np.asarray(run.observations["test_correct"]) if "test_correct" in run.observations else None
    masc = summarize_masc(table, layers)
    best = int(np.argmax(masc["given"]["test"]["mean"]))
    return {
        "audit_run": str(run_audit), "dataset": data.name, "plants": list(data.plants),
        "corruption": label_noise_rate(data.plants), "planted": int(np.asarray(data.planted).sum()),
        "models": int(len(membership)), "layers": layers, "masc": masc,
        "best_test_layer": layers[best], "best_test_accuracy": masc["given"]["test"]["mean"][best],
        "network_train_accuracy": None if correct is None else round(float(correct[membership].mean()), 4),
        "network_test_accuracy": None if test_correct is None else round(float(test_correct.mean()), 4),
    }  # fmt: skip


@app.command()
def decode(
    run_audits: Annotated[list[Path], typer.Argument(help="One or more finished `memlens audit` runs that stored hidden activations (e.g. one per label-noise rate).", show_default=False)],
    out: Annotated[Path | None, typer.Option(help="Output directory (default with one run: RUN_AUDIT-masc beside it; required with several).", show_default=False)] = None,
    explained_variance: Annotated[float, typer.Option(help="Fraction of each class's second moment its MASC subspace keeps.")] = 0.99,
    progress: Annotated[bool, typer.Option(help="Show progress.")] = True,
) -> None:
    """MASC layer by layer: how much of the true and the given labels each layer of the audited models still carries.

    Per model and layer (the input and each hidden layer), one subspace per class is fitted on the
    model's training examples with the labels it was trained on ("given") and with the true labels
    ("true"), and scored on them and on the test set. Several runs (say one per label-corruption
    rate) are decoded one after the other into one table with ``run`` and ``corruption`` columns.
    Writes OUT/masc.parquet, OUT/capacity.json (the first run's summary at the top level and one
    entry per run under ``runs``) and OUT/report.html.
    """
    if not 0 < explained_variance <= 1:
        raise CapacityInputError(f"--explained-variance must be in (0, 1]; got {explained_variance}.")
    if len(run_audits) > 1 and out is None:
        raise CapacityInputError(
            f"{len(run_audits)} audit runs were given but no --out; with several runs there is no single run to "
            "write beside. Pass --out DIRECTORY.")
    if len({p.resolve() for p in run_audits}) != len(run_audits):
        raise CapacityInputError(
            f"An audit run is listed twice ({', '.join(map(str, run_audits))}); give each run once.")
    out = out or run_audits[0].with_name(run_audits[0].name + "-masc")
    for run_audit in run_audits:
        if out.resolve() == run_audit.resolve():
            raise CapacityInputError(
                f"--out {out} is the audit run itself ({run_audit}); its report.html would be replaced. Choose another "
                "directory.")
    opened = [_open_decodable(p) for p in run_audits]  # refuse any bad run before decoding the first
    console = _console()
    start = time.perf_counter()
    tables, runs = [], []
    for run_audit, (run, data) in zip(run_audits, opened, strict=True):
        console.print(f"[bold]memlens capacity decode[/] {_literal(run_audit)}: {len(run.membership)} models, "
                      f"{activation_layers(run.observations)} hidden layer(s) → {_literal(out)}")
        table, layers = decode_run(run, data, explained_variance=explained_variance, progress=progress)
        entry = _run_summary(run_audit, run, data, table, layers)
        table["run"] = str(run_audit)
        table["corruption"] = np.nan if entry["corruption"] is None else entry["corruption"]  # NaN: none planted
        tables.append(table)
        runs.append(entry)
        console.print(f"best layer for the test labels: {entry['best_test_layer']} "
                      f"({entry['best_test_accuracy']:.1%} MASC test accuracy)")
    import pandas as pd

    summary = {
        "kind": "masc", **runs[0],
        "explained_variance": explained_variance, "runs": runs,
        "seconds": round(time.perf_counter() - start, 2), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }  # fmt: skip
    _finish(out, MASC_TABLE, pd.concat(tables, ignore_index=True), summary, console)


def _whole_numbers(text: str, option: str, minimum: int) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise CapacityInputError(f"{option} takes comma-separated whole numbers such as 32,64; got '{text}'.") from None
    if not values or min(values) < minimum:
        raise CapacityInputError(f"{option} needs whole numbers of at least {minimum}; got '{text}'.")
    return tuple(sorted(set(values)))


def sweep_fit(rows: list[dict]) -> dict:
    """The exponent of q_min against m/d over the settings where a width fitted, or why there is none."""
    found = [r for r in rows if r["q_min"] is not None]
    ratios = {r["m_over_d"] for r in found}
    if len(found) < 2 or len(ratios) < 2:
        return {"slope": None, "reason": f"{len(found)} setting(s) found a width, over {len(ratios)} distinct m/d; "
                "an exponent needs two distinct m/d with a width"}
    return loglog_slope([r["m_over_d"] for r in found], [r["q_min"] for r in found])


@app.command()
def sweep(
    out: Out,
    m: Annotated[str, typer.Option("--m", help="Comma-separated numbers of random-label points m.")] = "256,1024",
    d: Annotated[str, typer.Option("--d", help="Comma-separated input dimensions d; every (m, d) pair is swept.")] = "8,16,32",
    draws: Annotated[int, typer.Option(help="Independent random-label draws per (m, d) and width.")] = 5,
    required: Annotated[int, typer.Option(help="Draws a width must fit (100% training accuracy) to pass.")] = 4,
    probes: Annotated[int, typer.Option(help="Widths probed per bisection round (each × --draws models, trained as one batch).")] = 13,
    rounds: Annotated[int, typer.Option(help="Bisection rounds at most per (m, d).")] = 4,
    epochs: Annotated[int, typer.Option(help="Full-batch Adam epochs at most per model (a model stops once it fits).")] = 3000,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 0.05,
    seed: Annotated[int, typer.Option(help="Seeds the random-label draws and the models.")] = 0,
    progress: Annotated[bool, typer.Option(help="Show progress.")] = True,
) -> None:
    """Daniely's width sweep: the smallest width q_min at which SGD fits m random ±1 labels in dimension d.

    Per (m, d), rounds of probe widths × draws narrow the bracket around q_min (OUT/mM-dD/round-R,
    engine runs: re-running the same command resumes them). Writes OUT/sweep.parquet (one row per
    (m, d)), OUT/capacity.json with the exponent of q_min against m/d (Daniely: about 1) and
    OUT/report.html. The defaults take about ten minutes on two CPU cores.
    """
    from memlens.capacity.width_sweep import bisect_width

    ms, ds = _whole_numbers(m, "--m", 2), _whole_numbers(d, "--d", 1)
    for name, value in (("--draws", draws), ("--required", required), ("--probes", probes), ("--rounds", rounds),
                        ("--epochs", epochs)):
        if value < 1:
            raise CapacityInputError(f"{name} must be at least 1; got {value}.")
    if required > draws:
        raise CapacityInputError(f"--required ({required}) cannot exceed --draws ({draws}): no width could pass.")
    if not (math.isfinite(lr) and lr > 0):
        raise CapacityInputError(f"--lr must be a positive number; got {lr}.")
    if seed < 0:
        raise CapacityInputError(f"--seed must be a whole number >= 0; got {seed}.")
    console = _console()
    settings = [(mm, dd) for mm in ms for dd in ds]
    console.print(f"[bold]memlens capacity sweep[/] {len(settings)} settings (m ∈ {{{m}}}, d ∈ {{{d}}}), "
                  f"{draws} draws each → {_literal(out)}")
    rows, start = [], time.perf_counter()
    for mm, dd in settings:
        t = time.perf_counter()
        result = bisect_width(mm, dd, out / f"m{mm}-d{dd}", draws=draws, required=required, probes=probes,
                              max_rounds=rounds, data_seed=seed, seed=seed,
                              trainer_options={"epochs": epochs, "lr": lr}, progress=progress)
        rows.append({"m": mm, "d": dd, "m_over_d": mm / dd, "q_min": result.q_min,
                     "bracket_low": int(result.bracket[0]),
                     "bracket_high": None if result.bracket[1] is None else int(result.bracket[1]),
                     "q_min_d_over_m": None if result.q_min is None else result.q_min * dd / mm,
                     "rounds": result.rounds, "models": len(result.probes),
                     "fitted_draws_by_width": {str(w): f"{a}/{b}" for w, (a, b) in result.pass_counts().items()},
                     "seconds": round(time.perf_counter() - t, 2)})
        console.print(f"m={mm} d={dd}: q_min={result.q_min} (bracket {result.bracket})")
    summary = {
        "kind": "sweep", "m": list(ms), "d": list(ds), "draws": draws, "required": required, "probes": probes,
        "rounds": rounds, "epochs": epochs, "lr": lr, "seed": seed, "dataset": "random labels on the sphere",
        "slope": sweep_fit(rows), "reference_slope": 1.0, "rows": rows,
        "seconds": round(time.perf_counter() - start, 2), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }  # fmt: skip
    import pandas as pd

    frame = pd.DataFrame([{k: v for k, v in r.items() if k != "fitted_draws_by_width"} for r in rows])
    _finish(out, SWEEP_TABLE, frame, summary, console)
    fit = summary["slope"]
    if fit.get("slope") is not None:
        ci = "" if fit.get("low") is None else f" [{fit['low']:.2f}, {fit['high']:.2f}]"
        console.print(f"q_min ∝ (m/d)^{fit['slope']:.2f}{ci}")
