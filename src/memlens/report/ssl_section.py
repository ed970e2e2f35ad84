"""The déjà vu report: does a self-supervised encoder reveal its training images' objects from their backgrounds?

:func:`write_ssl_report` turns the run directory written by ``memlens ssl dejavu`` (``dejavu.json``,
read through the run's store, checksums verified) into ``RUN/report.html``: a verdict with the gap
between target and reference on the 20% most confident background crops, the reference against
chance and criteria (a)–(d); accuracy against the fraction of most confident crops (target vs
reference, projector and backbone), the gap against epochs, and the sample-level partition per
layer; then a table per snapshot. The page uses the classification report's shell
(:func:`memlens.report.page.shell`): inline figures, no network.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from memlens.errors import RunStoreError
from memlens.report.facts import Section, duration, esc, pct
from memlens.report.plots import ATTACK_COLORS, INK, THRESHOLD, _figure, _legend, _png_uri
from memlens.report.sections import _figure as _card
from memlens.report.verdict import _tile

__all__ = ["accuracy_plot", "build_ssl", "gap_plot", "is_ssl_run", "partition_plot", "write_ssl_report"]

LAYER_STYLE = {"projector": "-", "backbone": "--"}
PART_COLORS = {"memorized": "#c53030", "correlated": "#2b6cb0", "misrepresented": "#b7791f", "unassociated": "#a0aec0"}


def is_ssl_run(path) -> bool:
    """A directory written by ``memlens ssl dejavu`` (it holds dejavu.json and no audit's scores.parquet)."""
    path = Path(path)
    return (path / "dejavu.json").is_file() and not (path / "scores.parquet").exists()


def write_ssl_report(run_path) -> Path:
    """Write ``run_path / "report.html"`` for a déjà vu run, atomically; return its path.

    Example:
        >>> from memlens.report.ssl_section import write_ssl_report
        >>> write_ssl_report("runs/dejavu")                             # doctest: +SKIP
        PosixPath('runs/dejavu/report.html')
    """
    from memlens.report.page import save_page
    from memlens.store import RunStore

    path = Path(run_path)
    store = RunStore.open(path)
    if "dejavu.json" not in store.manifest.get("files", {}):
        raise RunStoreError(f"{path} holds no finished déjà vu test (dejavu.json); run `memlens ssl dejavu --out "
                            f"{path}` (the same command resumes it).")
    store.verify()  # the page vouches for the run: every file hashed first
    return save_page(path, build_ssl(path, store.read_json("dejavu.json")))


def _series(result: dict, layer: str, key: str, snapshot: int = -1) -> np.ndarray:
    return np.asarray(result["layers"][layer]["snapshots"][snapshot][key], dtype=np.float64)


def _at(result: dict, layer: str, key: str, fraction: float, snapshot: int = -1) -> float:
    fractions = [round(float(f), 6) for f in result["fractions"]]
    return float(_series(result, layer, key, snapshot)[fractions.index(round(fraction, 6))])


def _last(result: dict, layer: str, key: str) -> float | None:
    value = result["layers"][layer]["snapshots"][-1].get(key)
    return float(value) if isinstance(value, int | float) else None


def build_ssl(path: Path, result: dict) -> str:
    """The whole déjà vu page for the run at ``path`` with its ``dejavu.json`` contents, as a string."""
    from memlens.report.page import shell

    if result.get("kind") != "dejavu" or "layers" not in result:
        raise RunStoreError(f"{path / 'dejavu.json'} is not the summary of `memlens ssl dejavu`; re-run that command.")
    sections = [plots(result), table(result)]
    return shell(
        title="memlens déjà vu report", label=f"ssl · déjà vu · {esc(result.get('objective', '?'))}",
        name=str(path.name), meta=f"{esc(path)}", verdict_html=verdict(result), sections=sections, table_data="",
        footer="Written by memlens. Déjà vu: Meehan, Bordes, Vincent, Chaudhuri &amp; Guo, <i>Do SSL Models Have "
        "Déjà Vu? A Case of Unintended Memorization in Self-supervised Learning</i> (NeurIPS 2023). ",
    )  # fmt: skip


def verdict(result: dict) -> str:
    t20, r20 = _at(result, "projector", "target_accuracy", 0.2), _at(result, "projector", "reference_accuracy", 0.2)
    gap = t20 - r20
    r_all = _at(result, "projector", "reference_accuracy", 1.0)
    b_gap = _at(result, "backbone", "gap", 0.2)
    last = result["snapshots"][-1]
    part = result["layers"]["projector"]["snapshots"][-1]["partition"]
    chance = float(result.get("chance", 0.1))
    if gap >= 0.10:
        words = "The encoders remember their training images: "
    elif gap > 0.02:
        words = "Weak déjà vu: "
    else:
        words = "No déjà vu beyond noise: "
    headline = (
        f"{words}from the background alone, the target decodes the hidden object's label on its 20% most "
        f"confident crops <b>{pct(t20)}</b> of the time, the reference that never saw the images {pct(r20)} "
        f"(gap <b>{gap * 100:+.1f} points</b>; chance {pct(chance)}), at epoch {last} with projector embeddings. "
        f"{pct(part['memorized'])} of crops are decoded only by the encoder that trained on them, "
        f"{pct(part['misrepresented'])} only by the one that did not."
    )
    tiles = [
        _tile("gap, 20% most confident", f"{gap * 100:+.1f} pts", f"target {pct(t20)} vs reference {pct(r20)}"),
        _tile("reference, all crops", pct(r_all), f"chance {pct(chance)}: what the background alone reveals"),
        _tile("memorized share", pct(part["memorized"]), "target right, reference wrong"),
        _tile("backbone gap", f"{b_gap * 100:+.1f} pts", "20% most confident, the guillotine layer"),
    ]
    findings = [
        f"<b>Setup</b>: {esc(result.get('objective'))} encoders, {result.get('models')} models "
        f"({len(result.get('pairs', []))} target/reference pair(s)), {result.get('epochs')} epochs; canvases "
        f"{'×'.join(map(str, result.get('canvas', [])))}, sets "
        f"{esc(', '.join(f'{name} {count:,}' for name, count in (result.get('sets') or {}).items()))}; k = {result.get('k')} public "
        f"neighbours ({esc(result.get('knn', ''))}); symmetrized A↔B.",
        f"<b>Do the encoders see objects at all?</b> Whole public canvases are decoded from other public canvases "
        f"{pct(_last(result, 'projector', 'public_accuracy'))} (projector) and "
        f"{pct(_last(result, 'backbone', 'public_accuracy'))} (backbone) of the time; near chance, no crop could be "
        "decoded, memorized or not.",
        f"<b>Cost</b>: training {duration(result.get('training_seconds'))}"
        + (f", {result['seconds_per_epoch']:.2f} s per epoch per model" if result.get("seconds_per_epoch") else "")
        + ".",
    ]
    for key, crit in (result.get("criteria") or {}).items():
        findings.append(f"<b>{esc(key.split('_')[0])}</b> {esc(_criterion_words(key, crit))}: "
                        f"{'pass' if crit.get('pass') else '<b>fail</b>'}")
    return (
        '<section id="verdict" class="card verdict"><h1>Verdict</h1>'
        f'<p class="headline">{headline}</p><div class="tiles">{"".join(tiles)}</div>'
        f'<ul class="findings">{"".join(f"<li>{x}</li>" for x in findings)}</ul></section>'
    )


def _criterion_words(key: str, crit: dict) -> str:
    if key.startswith("a_"):
        return f"reference accuracy on all crops {crit['reference_accuracy']:.3f} ≤ {crit['threshold']}"
    if key.startswith("b_"):
        return f"gap on the 20% most confident {crit['gap']:+.3f} ≥ {crit['threshold']}"
    if key.startswith("c_"):
        return f"gap grows with epochs: {crit['first_epoch_gap']:+.3f} → {crit['last_epoch_gap']:+.3f}"
    if key.startswith("d_"):
        return f"backbone gap {crit['backbone_gap']:+.3f} below projector gap {crit['projector_gap']:+.3f}"
    return key


def accuracy_plot(result: dict) -> str:
    """Accuracy on the p% most confident crops against p: target and reference, per layer, last epoch."""
    fig, ax = _figure()
    fractions = np.asarray(result["fractions"], dtype=np.float64) * 100
    for layer in result["layers"]:
        style = LAYER_STYLE.get(layer, ":")
        ax.plot(fractions, _series(result, layer, "target_accuracy"), style, color=ATTACK_COLORS[0], linewidth=1.8,
                label=f"target, {layer}")
        ax.plot(fractions, _series(result, layer, "reference_accuracy"), style, color=ATTACK_COLORS[3],
                linewidth=1.8, label=f"reference, {layer}")
    ax.axhline(float(result.get("chance", 0.1)), color=THRESHOLD, linestyle=":", linewidth=1.2, label="chance")
    ax.set_xlabel("most confident crops kept (%)")
    ax.set_ylabel("label-inference accuracy")
    ax.set_ylim(-0.02, 1.02)
    _legend(ax, loc="best")
    return _png_uri(fig)


def gap_plot(result: dict) -> str:
    """Target − reference against epoch, on the 20% most confident and on all crops, per layer."""
    fig, ax = _figure()
    epochs = [s["epoch"] for s in result["layers"]["projector"]["snapshots"]]
    for i, fraction in enumerate((0.2, 1.0)):
        for layer in result["layers"]:
            gaps = [_at(result, layer, "gap", fraction, s) for s in range(len(epochs))]
            ax.plot(epochs, gaps, LAYER_STYLE.get(layer, ":"), marker="o", markersize=4, linewidth=1.8,
                    color=ATTACK_COLORS[i],
                    label=f"{layer}, " + ("all crops" if fraction == 1.0 else f"{int(fraction * 100)}% most confident"))
    ax.axhline(0.0, color=INK, linewidth=0.8)
    ax.set_xlabel("epoch")
    ax.set_ylabel("target − reference accuracy")
    _legend(ax, loc="best")
    return _png_uri(fig)


def partition_plot(result: dict) -> str:
    """Stacked shares of memorized / correlated / misrepresented / unassociated crops, per layer, last epoch."""
    fig, ax = _figure(height=2.6)
    layers = list(result["layers"])
    for y, layer in enumerate(layers):
        left = 0.0
        for name, share in result["layers"][layer]["snapshots"][-1]["partition"].items():
            ax.barh(y, share, left=left, color=PART_COLORS.get(name, INK), label=name if y == 0 else None)
            if share >= 0.06:
                ax.text(left + share / 2, y, f"{share:.0%}", ha="center", va="center", color="white", fontsize=8)
            left += share
    ax.set_yticks(range(len(layers)), labels=layers)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of attacked crops (A and B, symmetrized)")
    _legend(ax, loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=4)
    return _png_uri(fig)


def plots(result: dict) -> Section:
    cards = [
        _card(accuracy_plot(result), "Accuracy vs confidence", "Label-inference accuracy of the target (trained on "
              "the crop's image) and the reference (never saw it) on their own p% most confident background crops, "
              "at the last epoch; solid: projector embeddings, dashed: backbone.",
              "déjà vu is the space between the blue and the gold line, widest where the encoders are most sure; "
              "the gold line near the red dotted chance line says the background itself carries no label.",
              "line chart of accuracy against the fraction of most confident crops"),
        _card(gap_plot(result), "Gap vs epoch", "Target − reference accuracy at each snapshot epoch, on the 20% "
              "most confident and on all crops; solid: projector, dashed: backbone.",
              "a rising line means the encoders memorize more the longer they train.",
              "line chart of the accuracy gap against epoch"),
        _card(partition_plot(result), "Sample-level partition", "Each attacked crop by which encoder decodes it: "
              "memorized (only the target), correlated (both), misrepresented (only the reference), unassociated "
              "(neither), at the last epoch.",
              "with no memorization the red and gold shares are equal; red beyond gold is déjà vu.",
              "stacked bars of the partition shares per layer"),
    ]
    return Section("ssl-plots", "Plots", f'<div class="plots">{"".join(cards)}</div>')


def table(result: dict) -> Section:
    rows = []
    for layer in result["layers"]:
        for s, snap in enumerate(result["layers"][layer]["snapshots"]):
            stderr = snap.get("gap_stderr")
            index = [round(float(f), 6) for f in result["fractions"]].index(0.2)
            err = f" ± {stderr[index] * 100:.1f}" if stderr else ""
            cells = [esc(layer), str(snap["epoch"]), pct(_at(result, layer, "target_accuracy", 0.2, s)),
                     pct(_at(result, layer, "reference_accuracy", 0.2, s)),
                     f"{_at(result, layer, 'gap', 0.2, s) * 100:+.1f}{err}",
                     pct(_at(result, layer, "target_accuracy", 1.0, s)),
                     pct(_at(result, layer, "reference_accuracy", 1.0, s)),
                     pct(snap["partition"]["memorized"]), pct(snap["partition"]["misrepresented"])]
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ["layer", "epoch", "target, top 20%", "reference, top 20%",
                                             "gap (pts)", "target, all", "reference, all", "memorized",
                                             "misrepresented"])
    body = (f'<div class="card"><table class="small" id="ssl-snapshots"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")
    return Section("ssl-table", "Per epoch", body, "Symmetrized A↔B, mean over pairs (± standard error over pairs "
                   "when there are several); every fraction is in dejavu.json.")


