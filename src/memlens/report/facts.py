"""What every part of the report shares: escaping, :class:`Section`, numbers in words, reading a
page's JSON summary, and :class:`Facts`, the classification run's facts read once.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import numpy as np

STRONG = 0.5  # memorization at or above this is "strongly memorized"
GALLERY_SIZE = 24


def esc(value) -> str:
    """HTML-escape any value (quotes too, so it is safe in attributes)."""
    return html.escape(str(value), quote=True)


@dataclass
class Section:
    """One titled part of the page; later modalities append their own."""

    id: str
    title: str
    body: str  # trusted HTML built by this package
    subtitle: str = ""  # trusted HTML

    def html(self) -> str:
        sub = f'<p class="sub">{self.subtitle}</p>' if self.subtitle else ""
        return f'<section id="{esc(self.id)}"><h2>{esc(self.title)}</h2>{sub}{self.body}</section>'


# --- numbers in words ------------------------------------------------------------------------


def read_summary(path, name: str, *, valid, missing: str, foreign: str) -> dict:
    """The JSON object ``path / name`` a page renders; ``missing`` / ``foreign`` (RunStoreError)
    when the file is absent, or is not an object that ``valid(obj)`` accepts."""
    import json
    from pathlib import Path

    from memlens.errors import RunStoreError

    try:
        result = json.loads((Path(path) / name).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunStoreError(missing) from None
    if not isinstance(result, dict) or not valid(result):
        raise RunStoreError(foreign)
    return result


def number(x) -> float:
    """``x`` as a float, NaN when it is missing or not a number (values read from a run's JSON)."""
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def pct(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    x *= 100
    if x == 0 or x >= 10:
        return f"{x:.1f}%" if x < 99.95 or x == 100 else f"{x:.2f}%"
    return f"{x:.2f}%" if x >= 0.1 else f"{x:.3f}%"


def fpr_words(key: str) -> str:
    """An FPR level as a short percentage: ``"0.001"`` → ``"0.1%"``."""
    return f"{float(key) * 100:g}%"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, s = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {s:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _count(n: int, what: str, plural: str | None = None) -> str:
    return f"{n:,} {what if n == 1 else (plural or what + 's')}"


# --- the run's facts, read once ----------------------------------------------------------------


@dataclass
class Facts:
    manifest: dict
    scores: object  # pandas DataFrame
    mia: dict
    classes: list[str]
    curve: dict | None = None  # training_curve.json: the attacks at each evaluation, when recorded
    privacy: dict | None = None  # privacy.json: the DP-SGD accountant's ε, when the models were trained with it

    @property
    def config(self) -> dict:
        return self.manifest.get("config", {})

    @property
    def dataset(self) -> dict:
        return self.config.get("dataset", {})

    @property
    def planted(self) -> np.ndarray | None:
        if "planted" not in self.scores.columns:
            return None
        planted = self.scores["planted"].to_numpy(dtype=bool)
        return planted if planted.any() else None

    @property
    def memorization(self) -> np.ndarray:
        return self.scores["memorization"].to_numpy(dtype=np.float64)

    def attacks(self) -> dict:
        """Attacks with results (an ``auc``), in mia.json's order."""
        return {
            k: v
            for k, v in self.mia.get("attacks", {}).items()
            if isinstance(v, dict) and "auc" in v
        }

    def best_attack(self) -> str | None:
        """The attack with the highest TPR at the lowest FPR level (then the next level, then AUC)."""
        attacks = self.attacks()
        if not attacks:
            return None

        def key(name):
            m = attacks[name]
            levels = sorted(m.get("tpr_at_fpr", {}), key=float)
            return (*[m["tpr_at_fpr"][k] for k in levels], m["auc"])

        return max(attacks, key=key)

    def trainer_words(self) -> str:
        t = self.config.get("trainer", {})
        if t.get("trainer") == "ensemble" or "model" in t:
            bits = [str(t.get("model", "model"))]
            if "width" in t and t.get("model") != "linear":  # a linear model has no width
                bits.append(f"width {t['width']}")
            if "epochs" in t:
                bits.append(f"{t['epochs']} epochs")
            if "optimizer" in t:
                bits.append(f"{t['optimizer']} lr {t.get('lr', '?')}")
            if "batch_size" in t:
                bits.append(f"batch {t['batch_size']}")
            bits += self.mitigation_words()
            return bits[0] + (f" ({', '.join(bits[1:])})" if len(bits) > 1 else "")
        if "estimator" in t:
            return str(t["estimator"]).rsplit(".", 1)[-1]
        return str(t.get("trainer", "unknown trainer"))

    def mitigation_words(self) -> list[str]:
        """What the run did against memorization: weight decay, early stopping, down-weighting, DP-SGD,
        examples excluded by the design (removal, deduplication)."""
        t, design = self.config.get("trainer", {}), self.config.get("design", {})
        words = []
        if t.get("weight_decay"):
            words.append(f"weight decay {t['weight_decay']:g}")
        if t.get("early_stopping"):
            words.append(f"early stopping (patience {t['early_stopping']})")
        if t.get("downweighted"):
            words.append(f"{len(t['downweighted'])} examples down-weighted to {t.get('downweight', 0):g}")
        if self.privacy:
            words.append(f"DP-SGD ε ≤ {self.privacy['epsilon']:.2f}")
        if design.get("excluded"):
            words.append(f"{len(design['excluded'])} examples excluded ({design.get('exclusion', 'removed')})")
        return words

    def data_words(self) -> str:
        d = self.dataset
        parts = [_count(int(d.get("n_examples", len(self.scores))), "example"),
                 _count(int(d.get("n_classes", len(self.classes))), "class", "classes")]  # fmt: skip
        shape = d.get("image_shape")
        if shape:
            parts.append("×".join(map(str, shape)) + " images")
        elif "n_features" in d:
            parts.append(_count(int(d["n_features"]), "feature"))
        return ", ".join(parts)

