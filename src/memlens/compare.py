"""Compare audits of the same examples: did a mitigation remove memorization, and at what cost?

``memlens compare RUN_BEFORE RUN_AFTER [RUN_AFTER …] --out DIR`` reads finished classifier audits
(``scores.parquet``, ``mia.json``, ``run.json``; ``privacy.json`` when the trainer was DP-SGD)
and puts them side by side on the examples they share: mean Feldman–Zhang memorization with a
bootstrap interval, membership inference (TPR at 0.1% and 1% FPR with the intervals ``mia.json``
holds, AUC, the audited ε lower bound), the accountant's ε upper bound, test accuracy, and, paired
example by example against RUN_BEFORE, how much memorization fell (a paired bootstrap interval, a
sign test and Wilcoxon's signed-rank test) and which examples it fell on most and least.

The estimators (:func:`mean_interval`, :func:`paired_change`, :func:`largest_changes`,
:func:`model_mean_interval`, :func:`pareto_front`, :func:`example_mismatches`) are pure functions
of arrays; :func:`load_run` reads one run through its checksummed store, and :func:`compare_runs`
writes ``DIR/compare.json``, ``DIR/compare.parquet`` and ``DIR/report.html``. DIR is *not* a run
directory (no manifest, no checksums): its files are plain atomic writes, rewritten whole by each
compare, and a folder holding a run is refused as DIR.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from memlens.errors import MemlensError

#: FPR levels the comparison reports (the keys of mia.json's ``tpr_at_fpr``)
LEVELS = ("0.001", "0.01")
#: bootstrap replicates for the memorization intervals (seeded: the same runs give the same page)
REPLICATES = 1000
COMPARE_JSON, COMPARE_PARQUET = "compare.json", "compare.parquet"


class CompareError(MemlensError):
    """The runs given to ``memlens compare`` cannot be compared as they are."""


# --- pure estimators ---------------------------------------------------------------------------


def mean_interval(values, *, replicates: int = REPLICATES, level: float = 0.95, seed: int = 0) -> dict:
    """Mean of the finite ``values`` with a percentile bootstrap interval (resampling the values).

    Used for mean memorization over examples and, on paired differences, for the mean change
    (the paired bootstrap: resampling examples keeps each example's before and after together).
    Returns ``{"mean", "low", "high", "n"}``; NaN everywhere when no value is finite.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"mean": math.nan, "low": math.nan, "high": math.nan, "n": 0}
    rng = np.random.default_rng(seed)
    means = np.empty(replicates)
    block = max(1, 2_000_000 // v.size)  # replicates per block: bounded memory at 60,000 examples
    for start in range(0, replicates, block):
        stop = min(start + block, replicates)
        means[start:stop] = v[rng.integers(0, v.size, size=(stop - start, v.size))].mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return {"mean": float(v.mean()), "low": float(low), "high": float(high), "n": int(v.size)}


def model_mean_interval(per_model, *, level: float = 0.95) -> dict:
    """Mean over models of a per-model figure (test accuracy) with a Student-t interval over models.

    Models are independent training runs, so the t interval is the textbook one; with one model
    there is no spread to estimate and the interval is NaN.
    """
    from scipy import stats

    v = np.asarray(per_model, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"mean": math.nan, "low": math.nan, "high": math.nan, "models": 0}
    mean = float(v.mean())
    if v.size < 2:
        return {"mean": mean, "low": math.nan, "high": math.nan, "models": int(v.size)}
    half = float(stats.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return {"mean": mean, "low": mean - half, "high": mean + half, "models": int(v.size)}


def paired_change(before, after, *, replicates: int = REPLICATES, seed: int = 0) -> dict:
    """Memorization change ``after − before`` on the examples scored in both runs.

    Args:
        before, after: (N,) float, the same examples in the same order; NaN = not scored (an
            example excluded from training, or too few models on one side).

    Returns:
        ``n_common``; ``mean``, ``low``, ``high`` (paired bootstrap over the common examples),
        ``median``; ``decreased``, ``increased``, ``unchanged`` counts; ``sign_test_p`` (two-sided
        binomial test on decreases vs increases, ties dropped) and ``wilcoxon_p`` (signed-rank,
        ties dropped); both p-values are 1 when nothing changed.
    """
    from scipy import stats

    b, a = np.asarray(before, dtype=np.float64), np.asarray(after, dtype=np.float64)
    if b.shape != a.shape or b.ndim != 1:
        raise CompareError(f"before and after must be (N,) arrays over the same examples; got {b.shape} and {a.shape}.")
    common = np.isfinite(b) & np.isfinite(a)
    change = a[common] - b[common]
    out = {"n_common": int(common.sum()), **{k: v for k, v in mean_interval(change, replicates=replicates, seed=seed).items() if k != "n"}}
    out["median"] = float(np.median(change)) if change.size else math.nan
    out["decreased"], out["increased"] = int((change < 0).sum()), int((change > 0).sum())
    out["unchanged"] = int((change == 0).sum())
    moved = change[change != 0]
    if moved.size == 0:
        out["sign_test_p"] = out["wilcoxon_p"] = 1.0 if change.size else math.nan
    else:
        out["sign_test_p"] = float(stats.binomtest(out["decreased"], moved.size, 0.5).pvalue)
        out["wilcoxon_p"] = float(stats.wilcoxon(moved).pvalue)
    return out


def largest_changes(ids, labels, before, after, k: int, *, planted=None) -> tuple[list[dict], list[dict]]:
    """The ``k`` common examples whose memorization fell most, and the ``k`` it fell least (rose most).

    Ties are broken by id, so the lists are the same every time. Each row: id, label, before,
    after, change, planted.
    """
    ids = np.asarray(ids, dtype=np.int64)
    b, a = np.asarray(before, dtype=np.float64), np.asarray(after, dtype=np.float64)
    planted = np.zeros(len(ids), bool) if planted is None else np.asarray(planted, bool)
    rows = np.flatnonzero(np.isfinite(b) & np.isfinite(a))
    change = a[rows] - b[rows]
    fell = rows[np.lexsort((ids[rows], change))]  # most negative change first
    rose = rows[np.lexsort((ids[rows], -change))]  # most positive change first

    def row(i: int) -> dict:
        return {"id": int(ids[i]), "label": int(labels[i]), "before": float(b[i]), "after": float(a[i]),
                "change": float(a[i] - b[i]), "planted": bool(planted[i])}

    return [row(i) for i in fell[:k]], [row(i) for i in rose[:k]]


def pareto_front(utility, leakage) -> list[int]:
    """Indices of the points no other point beats (utility at least as high *and* leakage at least
    as low, one strictly), sorted by utility. Points with a NaN coordinate are left out."""
    u, l_ = np.asarray(utility, dtype=np.float64), np.asarray(leakage, dtype=np.float64)
    ok = np.flatnonzero(np.isfinite(u) & np.isfinite(l_))
    front = [i for i in ok if not any(
        u[j] >= u[i] and l_[j] <= l_[i] and (u[j] > u[i] or l_[j] < l_[i]) for j in ok)]
    return sorted(front, key=lambda i: (u[i], -l_[i]))


def example_mismatches(reference: dict, other: dict, *, shown: int = 5) -> list[str]:
    """How ``other``'s examples differ from ``reference``'s, in words (empty when they are the same).

    Each is ``{"name", "n", "fingerprint", "ids", "labels"}``: the dataset's name and
    fingerprint from run.json, and the examples' ids and labels.
    """
    problems = []
    if reference["name"] != other["name"]:
        problems.append(f"dataset {other['name']!r} instead of {reference['name']!r}")
    if reference["n"] != other["n"]:
        problems.append(f"{other['n']:,} examples instead of {reference['n']:,}")
    fa, fb = reference.get("fingerprint"), other.get("fingerprint")
    if fa and fb and fa != fb:
        problems.append(f"dataset fingerprint {fb[:12]}… instead of {fa[:12]}… (other examples, labels or plants)")
    if reference["n"] == other["n"]:
        ids_a, ids_b = np.asarray(reference["ids"]), np.asarray(other["ids"])
        if not np.array_equal(ids_a, ids_b):
            at = np.flatnonzero(ids_a != ids_b)[:shown]
            problems.append("other example ids at rows " + ", ".join(f"{r} ({ids_b[r]} instead of {ids_a[r]})" for r in at))
        else:
            la, lb = np.asarray(reference["labels"]), np.asarray(other["labels"])
            differ = np.flatnonzero(la != lb)
            if differ.size:
                first = ", ".join(f"id {ids_a[r]}: {lb[r]} instead of {la[r]}" for r in differ[:shown])
                problems.append(f"{differ.size:,} other label(s) (first {first})")
    return problems


# --- one run -----------------------------------------------------------------------------------


@dataclass
class RunFacts:
    """What the comparison reads from one finished classifier audit."""

    path: Path
    name: str
    config: dict
    ids: np.ndarray  # (N,) int
    labels: np.ndarray  # (N,) int, the labels the models trained on
    planted: np.ndarray  # (N,) bool
    memorization: np.ndarray  # (N,) float, NaN = not scored
    mia: dict
    privacy: dict | None = None
    test_accuracy_per_model: np.ndarray | None = None  # (M,) or None without a test split
    excluded: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    gallery: dict = field(default_factory=dict)  # id → stored contents (gallery.parquet)

    @property
    def examples(self) -> dict:
        dataset = self.config.get("dataset", {})
        return {"name": dataset.get("name"), "n": len(self.ids), "fingerprint": dataset.get("fingerprint"),
                "ids": self.ids, "labels": self.labels}


def load_run(path) -> RunFacts:
    """Open a finished classifier audit through its store (every file checked against run.json)."""
    from memlens.audit import Run
    from memlens.classifier_estimates import EXAMPLES, GALLERY

    path = Path(path)
    run = Run.open(path)
    files = run.store.manifest.get("files", {})
    if not run.store.complete:
        raise CompareError(f"The run in {path} has not finished training, so it cannot be compared. "
                           f"{run.store._how_to_finish()}")
    missing = [n for n in ("scores.parquet", "mia.json") if n not in files]
    if missing:
        raise CompareError(
            f"{path} is not a finished classifier audit: it has no {' or '.join(missing)} (a language-model or "
            "generative run, or estimates never written). Compare runs written by `memlens audit`; "
            f"`memlens report {path} --rescore` rewrites missing estimates of a classifier run.")
    scores = run.scores
    if "memorization" not in scores.columns:
        raise CompareError(f"{path / 'scores.parquet'} has no memorization column; `memlens report {path} --rescore` "
                           "rebuilds it from the stored arrays.")
    if EXAMPLES in files:
        examples = run.store.read_table(EXAMPLES)
        ids, labels = examples["id"].to_numpy(np.int64), examples["label"].to_numpy(np.int64)
        planted = examples["planted"].to_numpy(bool)
    else:
        ids, labels = scores["id"].to_numpy(np.int64), scores["label"].to_numpy(np.int64)
        planted = scores["planted"].to_numpy(bool) if "planted" in scores else np.zeros(len(ids), bool)
    position = {int(i): r for r, i in enumerate(scores["id"].to_numpy(np.int64))}
    memorization = np.full(len(ids), np.nan)
    values = scores["memorization"].to_numpy(np.float64)
    for r, i in enumerate(ids.tolist()):
        if i in position:
            memorization[r] = values[position[i]]
    test_accuracy = None
    if "test_correct" in run.observations:
        test_accuracy = np.asarray(run.observations["test_correct"], dtype=np.float64).mean(axis=1)
    design = run.config.get("design", {})
    excluded = np.asarray(design.get("excluded") or [], dtype=np.int64)
    privacy = run.store.read_json("privacy.json") if "privacy.json" in files else None
    gallery = {}
    if GALLERY in files:
        gallery = {int(r["id"]): r for r in run.store.read_table(GALLERY).to_dict("records")}
    return RunFacts(path=path, name=path.name or str(path), config=run.config, ids=ids, labels=labels,
                    planted=planted, memorization=memorization, mia=run.mia, privacy=privacy,
                    test_accuracy_per_model=test_accuracy, excluded=excluded, gallery=gallery)


def check_same_examples(runs: list[RunFacts]) -> None:
    """Refuse runs that are not over the same examples, listing every difference from the first."""
    reference = runs[0]
    lines = []
    for run in runs[1:]:
        problems = example_mismatches(reference.examples, run.examples)
        if problems:
            lines.append(f"{run.path}: " + "; ".join(problems))
    if lines:
        raise CompareError(
            f"The runs are not over the same examples as {reference.path} (the BEFORE run), so memorization "
            "cannot be paired example by example:\n  - " + "\n  - ".join(lines)
            + "\nCompare audits of the same dataset, with the same plants and plant seed; a mitigation changes "
            "the training (the trainer, or the design's excluded examples), never the examples.")


def attack_figures(mia: dict) -> dict:
    """Per attack with results: AUC, TPR and its interval at each level, and its ε lower bound."""
    out = {}
    for name, m in (mia.get("attacks") or {}).items():
        if not isinstance(m, dict) or "auc" not in m:
            continue
        eps = (m.get("epsilon_lower_bound") or {}).get("epsilon")
        out[name] = {
            "auc": float(m["auc"]),
            "tpr_at_fpr": {k: float(m["tpr_at_fpr"][k]) for k in LEVELS if k in m.get("tpr_at_fpr", {})},
            "tpr_ci": {k: [float(x) for x in m["tpr_ci"][k]] for k in LEVELS if k in (m.get("tpr_ci") or {})},
            "epsilon_lower_bound": None if eps is None else float(eps),
        }
    return out


def best_attack(attacks: dict) -> str | None:
    """The attack with the highest TPR at 0.1% FPR (then 1%, then AUC), as the audit report picks it."""
    if not attacks:
        return None
    return max(attacks, key=lambda n: (*[attacks[n]["tpr_at_fpr"].get(k, -1.0) for k in LEVELS], attacks[n]["auc"]))


def _differences(old, new, prefix: str = "") -> list[str]:
    """``key: old → new`` for every setting that differs between two configurations."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [line for key in sorted(set(old) | set(new))
                for line in _differences(old.get(key), new.get(key), f"{prefix}{key}.")]
    if old != new:
        def show(v):
            if isinstance(v, list) and len(v) > 6:
                return f"[{len(v):,} items]"
            return "absent" if v is None else str(v)
        return [f"{prefix.rstrip('.')}: {show(old)} → {show(new)}"]
    return []


def mitigation(run: RunFacts, before: RunFacts | None) -> dict:
    """The run's training, in words: DP-SGD from privacy.json, exclusions from the design, and every
    trainer or design setting that differs from the BEFORE run."""
    words, label = [], None
    trainer, design = run.config.get("trainer", {}), run.config.get("design", {})
    if run.privacy:
        p = run.privacy
        eps = p.get("target_epsilon") if p.get("target_epsilon") is not None else p.get("epsilon")
        label = f"DP-SGD ε={_g(eps)}"
        words.append(f"{p.get('mechanism', 'DP-SGD')} ({p.get('library', '?')}): accountant ε = {_g(p.get('epsilon'))} "
                     f"at δ = {_g(p.get('delta'))} ({p.get('accountant', '?')}), noise multiplier "
                     f"{_g(p.get('noise_multiplier'))}, clipping norm {_g(p.get('max_grad_norm'))}, {p.get('epochs', '?')} epochs")
    if len(run.excluded):
        reason = design.get("exclusion") or "excluded by the design"
        words.append(f"{len(run.excluded):,} examples excluded from training ({reason})")
        label = label or f"removed {len(run.excluded):,} ({reason})"
    changed = [] if before is None or before is run else [
        d for d in _differences(before.config.get("trainer", {}), trainer, "trainer.")
        + _differences(before.config.get("design", {}), design, "design.")
        # exclusions are described above; a setting the AFTER trainer lacks (another kind of trainer) is noise
        if not d.startswith(("design.excluded", "design.exclusion")) and not d.endswith("→ absent")]
    if changed:
        words.append("differs from the BEFORE run in " + "; ".join(changed))
        named = [c for c in changed if not c.startswith("design.canaries")] or changed  # ids make a poor label
        label = label or ", ".join(c.split(": ", 1)[0].split(".", 1)[-1] + "=" + c.rsplit(" → ", 1)[-1] for c in named[:2])
    if not words:
        words.append("no mitigation: " + ("the BEFORE run" if before is None or before is run else "the same training as the BEFORE run"))
    return {"label": label or run.name, "words": words, "config_differences": changed}


def _g(x) -> str:
    try:
        return f"{float(x):.3g}"
    except (TypeError, ValueError):
        return "?"


def run_summary(run: RunFacts, before: RunFacts | None = None) -> dict:
    """Everything the comparison reports about one run on its own (JSON-ready)."""
    attacks = attack_figures(run.mia)
    best = best_attack(attacks)
    bounds = [a["epsilon_lower_bound"] for a in attacks.values() if a["epsilon_lower_bound"] is not None]
    one_run = run.mia.get("one_run") if isinstance(run.mia.get("one_run"), dict) else None
    one_run_eps = None if one_run is None or one_run.get("epsilon_lower_bound") is None else float(one_run["epsilon_lower_bound"])
    planted = run.planted & np.isfinite(run.memorization)
    privacy = None
    if run.privacy:
        privacy = {k: run.privacy.get(k) for k in ("mechanism", "library", "accountant", "delta", "target_epsilon",
                                                   "noise_multiplier", "max_grad_norm", "epochs", "epsilon")}
    excluded = set(run.excluded.tolist())
    unscored = [int(i) for i, m in zip(run.ids.tolist(), run.memorization, strict=True)
                if not np.isfinite(m) and i not in excluded]
    return {
        "name": run.name, "path": str(run.path), "n_examples": len(run.ids),
        "mitigation": mitigation(run, before),
        "removed": {"excluded": sorted(excluded), "exclusion": run.config.get("design", {}).get("exclusion"),
                    "unscored": len(unscored)},
        "memorization": mean_interval(run.memorization),
        "planted_memorization": mean_interval(run.memorization[planted]) if run.planted.any() else None,
        "attacks": attacks,
        "best_attack": best,
        "epsilon_lower_bound": max(bounds) if bounds else None,
        "one_run_epsilon_lower_bound": one_run_eps,
        "privacy": privacy,
        "epsilon_upper_bound": None if not run.privacy or run.privacy.get("epsilon") is None else float(run.privacy["epsilon"]),
        "test_accuracy": None if run.test_accuracy_per_model is None else model_mean_interval(run.test_accuracy_per_model),
    }


def pair_summary(before: RunFacts, after: RunFacts, before_summary: dict, after_summary: dict, *, top: int) -> dict:
    """BEFORE against one AFTER, example by example on the examples both scored."""
    change = paired_change(before.memorization, after.memorization)
    planted = None
    if before.planted.any():
        b, a = np.where(before.planted, before.memorization, np.nan), np.where(after.planted, after.memorization, np.nan)
        planted = paired_change(b, a)
    fell_most, fell_least = largest_changes(before.ids, before.labels, before.memorization, after.memorization, top,
                                            planted=before.planted)
    removed_after = sorted(set(after.excluded.tolist()) - set(before.excluded.tolist()))

    def tpr(summary, level):
        best = summary["best_attack"]
        return None if best is None else summary["attacks"][best]["tpr_at_fpr"].get(level)

    acc_b, acc_a = before_summary["test_accuracy"], after_summary["test_accuracy"]
    accuracy_points = None if acc_b is None or acc_a is None else 100 * (acc_a["mean"] - acc_b["mean"])
    result = {
        "before": before_summary["name"], "after": after_summary["name"],
        "label": after_summary["mitigation"]["label"],
        "removed": {"excluded_by_after": removed_after, "not_compared": len(before.ids) - change["n_common"]},
        "memorization_change": change,
        "planted_memorization_change": planted,
        "tpr_at_fpr": {k: {"before": tpr(before_summary, k), "after": tpr(after_summary, k)} for k in LEVELS},
        "epsilon_lower_bound": {"before": before_summary["epsilon_lower_bound"], "after": after_summary["epsilon_lower_bound"]},
        "test_accuracy_change_points": accuracy_points,
        "fell_most": fell_most,
        "fell_least": fell_least,
    }
    result["verdict"] = verdict_sentence(result, after_summary)
    return result


def _pct(x) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    return f"{100 * x:.1f}%" if x >= 0.1 or x == 0 else f"{100 * x:.2g}%"


def _signed(x: float, digits: int = 2) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:+.{digits}f}".replace("-", "−")


def verdict_sentence(pair: dict, after_summary: dict) -> str:
    """One line per mitigation: "DP-SGD ε=4: memorization −0.21 (−0.25…−0.17), TPR@0.1% 3.1% → 0.4%, …"."""
    c = pair["memorization_change"]
    digits = 2 if math.isfinite(c["mean"]) and abs(c["mean"]) >= 0.05 else 3  # a small change keeps its digits
    parts = [f"memorization {_signed(c['mean'], digits)} ({_signed(c['low'], digits)}…{_signed(c['high'], digits)}) "
             f"on {c['n_common']:,} examples"]
    planted = pair.get("planted_memorization_change")
    if planted and planted["n_common"]:
        parts.append(f"planted examples {_signed(planted['mean'])} ({_signed(planted['low'])}…{_signed(planted['high'])})")
    t = pair["tpr_at_fpr"]["0.001"]
    if t["before"] is not None or t["after"] is not None:
        parts.append(f"TPR@0.1% {_pct(t['before'])} → {_pct(t['after'])}")
    e = pair["epsilon_lower_bound"]
    if e["before"] is not None and e["after"] is not None:
        parts.append(f"audited ε ≥ {e['before']:.2f} → {e['after']:.2f}")
    if after_summary.get("epsilon_upper_bound") is not None:
        parts.append(f"accountant ε ≤ {after_summary['epsilon_upper_bound']:.3g}")
    if pair["test_accuracy_change_points"] is not None:
        parts.append(f"test accuracy {_signed(pair['test_accuracy_change_points'], 1)} points")
    removed = len(pair["removed"]["excluded_by_after"])
    if removed:
        parts.append(f"{removed:,} removed examples left out")
    return f"{pair['label']}: " + ", ".join(parts)


# --- the command -------------------------------------------------------------------------------


def check_out(out: Path, runs) -> None:
    """Refuse an output folder that is a file or a run directory (the report would overwrite the run's)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CompareError(f"--out {out} is a file; give a folder for compare.json, compare.parquet and report.html.")
    if (out / "run.json").exists() or any(out.resolve() == Path(r).resolve() for r in runs):
        raise CompareError(f"--out {out} is a run directory; its report.html would be replaced. Choose another folder "
                           "(the comparison is not a run and writes its own).")


def unique_names(paths) -> list[str]:
    """A short, distinct name per run: the folder's name, with its parent's (or a number) when they clash."""
    names = [Path(p).name or str(p) for p in paths]
    for i, p in enumerate(paths):
        if names.count(names[i]) > 1:
            parent = Path(p).resolve().parent.name
            names[i] = f"{parent}/{names[i]}" if parent else names[i]
    seen: dict[str, int] = {}
    for i, n in enumerate(names):
        seen[n] = seen.get(n, 0) + 1
        if seen[n] > 1:
            names[i] = f"{n} ({seen[n]})"
    return names


def compare_runs(paths, out, *, top: int = 10) -> dict:
    """Compare RUN_BEFORE (``paths[0]``) with each RUN_AFTER; write DIR's three files; return compare.json's dict.

    Every input is checked (the runs, ``top``, ``out``) before anything is written.
    """
    out = Path(out)
    check_out(out, paths)
    result, runs = compare(paths, top=top)
    write_outputs(out, result, runs)
    return result


def compare(paths, *, top: int = 10) -> tuple[dict, list[RunFacts]]:
    """compare.json's dict for RUN_BEFORE (``paths[0]``) against each RUN_AFTER, and the runs read; writes nothing."""
    paths = [Path(p) for p in paths]
    if len(paths) < 2:
        raise CompareError("memlens compare needs RUN_BEFORE and at least one RUN_AFTER (two run directories or more).")
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise CompareError(f"--top (examples listed per comparison) must be at least 1; got {top!r}.")
    runs = [load_run(p) for p in paths]
    for run, name in zip(runs, unique_names(paths), strict=True):
        run.name = name
    check_same_examples(runs)
    before = runs[0]
    summaries = [run_summary(r, before) for r in runs]
    summaries[0]["role"] = "before"
    for s in summaries[1:]:
        s["role"] = "after"
    pairs = [pair_summary(before, r, summaries[0], s, top=top) for r, s in zip(runs[1:], summaries[1:], strict=True)]
    result = {
        "format": "memlens-compare", "version": 1, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "note": "DIR is not a run directory: these files are written whole by each `memlens compare` and carry no "
                "checksums; the runs compared are read through their own checksummed stores.",
        "before": summaries[0]["name"], "n_examples": len(before.ids),
        "dataset": {k: before.config.get("dataset", {}).get(k) for k in ("name", "fingerprint", "n_classes")},
        "runs": summaries, "comparisons": pairs,
        "frontier": frontier(summaries),
    }
    return result, runs


def frontier(summaries: list[dict]) -> dict:
    """The runs on the privacy–utility Pareto front: highest test accuracy for the least leakage."""
    acc = [np.nan if s["test_accuracy"] is None else s["test_accuracy"]["mean"] for s in summaries]
    out = {}
    for key, leak in (("tpr_at_0.001", [_best_tpr(s, "0.001") for s in summaries]),
                      ("epsilon_lower_bound", [np.nan if s["epsilon_lower_bound"] is None else s["epsilon_lower_bound"]
                                               for s in summaries])):
        out[key] = [summaries[i]["name"] for i in pareto_front(acc, leak)]
    return out


def _best_tpr(summary: dict, level: str) -> float:
    best = summary["best_attack"]
    return np.nan if best is None else summary["attacks"][best]["tpr_at_fpr"].get(level, np.nan)


def example_rows(runs: list[RunFacts]):
    """compare.parquet: one row per example per AFTER run (id, label, planted, run, before, after, change, removed)."""
    import pandas as pd

    before = runs[0]
    frames = []
    for run in runs[1:]:
        removed = np.isin(before.ids, run.excluded)
        frames.append(pd.DataFrame({
            "id": before.ids, "label": before.labels, "planted": before.planted, "run": run.name,
            "memorization_before": before.memorization, "memorization_after": run.memorization,
            "change": run.memorization - before.memorization, "removed": removed,
        }))
    return pd.concat(frames, ignore_index=True)


def write_outputs(out: Path, result: dict, runs: list[RunFacts]) -> None:
    """compare.json, compare.parquet and report.html, each written whole (atomic rename)."""
    from memlens.files import atomic_path, write_json
    from memlens.report.compare_section import build_compare

    out.mkdir(parents=True, exist_ok=True)
    write_json(out / COMPARE_JSON, _finite(result))
    with atomic_path(out / COMPARE_PARQUET, ".parquet") as tmp:
        example_rows(runs).to_parquet(tmp, index=False)
    from memlens.report.page import save_page

    save_page(out, build_compare(result, runs, out))


def _finite(obj):
    """NaN and infinities as null, so compare.json is strict JSON."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if isinstance(obj, float | np.floating) and not math.isfinite(float(obj)):
        return None
    return obj


def summary_table(result: dict):
    """A rich table of the comparison for the terminal: one row per run."""
    from rich.markup import escape as markup_escape
    from rich.table import Table

    def escape(text) -> str:  # literal on the terminal: no markup, no control characters
        return markup_escape("".join(c if c.isprintable() else ascii(c)[1:-1] for c in str(text)))

    table = Table(title=f"memlens compare: {escape(result['before'])} (before) against {len(result['comparisons'])} run(s)")
    for column in ("run", "mitigation", "memorization", "change vs before", "TPR@0.1%", "TPR@1%", "AUC",
                   "ε lower", "ε accountant", "test accuracy"):
        table.add_column(column, overflow="fold")
    changes = {p["after"]: p["memorization_change"] for p in result["comparisons"]}
    for s in result["runs"]:
        best = s["best_attack"]
        attack = s["attacks"].get(best, {}) if best else {}
        m = s["memorization"]
        c = changes.get(s["name"]) if s["role"] == "after" else None
        acc = s["test_accuracy"]
        table.add_row(
            escape(s["name"]), escape(s["mitigation"]["label"] if s["role"] == "after" else "before"),
            f"{m['mean']:.3f} ({m['low']:.3f}…{m['high']:.3f})" if m["n"] else "–",
            "" if c is None else f"{_signed(c['mean'], 3)} ({_signed(c['low'], 3)}…{_signed(c['high'], 3)})",
            _pct(attack.get("tpr_at_fpr", {}).get("0.001")), _pct(attack.get("tpr_at_fpr", {}).get("0.01")),
            "–" if not attack else f"{attack['auc']:.3f}",
            "–" if s["epsilon_lower_bound"] is None else f"{s['epsilon_lower_bound']:.2f}",
            "–" if s["epsilon_upper_bound"] is None else f"{s['epsilon_upper_bound']:.3g}",
            "–" if acc is None else _pct(acc["mean"]),
        )
    return table
