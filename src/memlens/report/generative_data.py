"""Reading a generative run for its report: ``generative.json`` and its Parquet tables through the
run's store (each file checked against its checksum in ``run.json``), what the tables' columns
mean, and how numbers, sizes and conditions are worded.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GENERATIVE_JSON = "generative.json"
SAMPLES = "samples.parquet"
TRAINING = "training_examples.parquet"
GALLERY = "generative_gallery.parquet"
DENSITY = "density.parquet"
KINDS = ("diffusion", "density")

#: the samples table embeds at most this many rows (the lowest distance ratios: the most replicated)
SAMPLE_ROWS = 2000
#: the density page ranks this many examples with their images
TOP_DENSITY = 24
#: a density-memorization score of ln 10 nats: 10 times more likely under models trained on it
TENFOLD_NATS = math.log(10)
#: a diffusion run is flagged (red verdict) when at some |D| at least this fraction of samples replicate
FLAG_RATIO = 0.05

SAMPLE_HELP = {
    "model": "index of the model that generated the sample",
    "size": "|D|: how many training images that model was trained on",
    "step": "training step of the snapshot that generated the sample",
    "sample": "index of the generated sample (its seed)",
    "label": "the label the sample was generated with (– unconditional)",
    "regularization": "strength of the regularized closed-form score that generated the sample (0: none)",
    "nearest": "id of the training image nearest to the sample (ℓ2 on 8-bit pixels)",
    "second": "id of the second-nearest training image",
    "nearest_distance": "ℓ2 distance to the nearest training image (8-bit pixels, divided by √pixels)",
    "second_distance": "ℓ2 distance to the second-nearest training image",
    "ratio": "distance ratio d(nearest) / d(second nearest); below the threshold (1/3) the sample copies its nearest image",
    "replicated": "distance ratio below the threshold: the sample replicates a training image",
}
TRAINING_HELP = {
    "id": "example id: its row in the dataset",
    "label": "the example's label",
    "models_in": "how many models trained on the example",
    "replications": "samples replicating it, summed over models at each model's best snapshot",
    "nearest_count": "samples whose nearest training image it is",
}
DENSITY_HELP = {
    "id": "example id: its row in the dataset",
    "label": "the example's label",
    "memorization": "held_in − held_out in nats: how much more likely the example is under models trained on it",
    "held_in": "log-mean-exp log-likelihood under the models trained on the example",
    "held_out": "log-mean-exp log-likelihood under the models that held it out",
    "rank": "rank by memorization (1 = most memorized)",
}


def is_generative_run(path) -> bool:
    """Whether ``path`` holds a generative audit (``generative.json``)."""
    return (Path(path) / GENERATIVE_JSON).is_file()


@dataclass
class GenerativeRun:
    """What the page shows, read once: the manifest, ``generative.json`` and the tables the run holds
    (None for a table it does not hold)."""

    path: Path
    manifest: dict
    result: dict
    samples: object = None  # pandas DataFrames
    training: object = None
    gallery: object = None
    density: object = None

    @property
    def kind(self) -> str:
        return self.result["kind"]

    @property
    def config(self) -> dict:
        c = self.manifest.get("config")
        return c if isinstance(c, dict) else {}

    @property
    def classes(self) -> list[str]:
        dataset = self.config.get("dataset")
        return [str(c) for c in dataset.get("classes", [])] if isinstance(dataset, dict) else []

    @property
    def image_shape(self) -> tuple[int, ...] | None:
        shape = self.result.get("image_shape")
        try:
            shape = tuple(int(s) for s in shape) if shape else None
        except (TypeError, ValueError):
            return None
        return shape if shape and all(s > 0 for s in shape) else None


def read_run(path) -> GenerativeRun:
    """Open the run through its store and read what the page shows; damaged files are refused.

    Raises:
        RunStoreError: no run or a damaged one (the file is named), an unfinished run, or a
            ``generative.json`` that is not a diffusion or density audit's.
    """
    from memlens.errors import RunStoreError
    from memlens.store import RunStore

    path = Path(path)
    store = RunStore.open(path)  # checks the manifest, the mask and every file's size
    store.verify()  # a report vouches for the whole run: every recorded file is hashed first
    try:
        result = store.read_json(
            GENERATIVE_JSON
        )  # refused when missing or not recorded in run.json
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunStoreError(
            f"{GENERATIVE_JSON} of the run in {path} matches its checksum but is not JSON ({e}): the "
            "audit that wrote it failed. Delete the run and re-run its `memlens generative audit` command."
        ) from None
    if not isinstance(result, dict) or result.get("kind") not in KINDS:
        what = result.get("kind") if isinstance(result, dict) else type(result).__name__
        raise RunStoreError(
            f"{GENERATIVE_JSON} of the run in {path} does not describe a generative audit (its kind is "
            f"{what!r}, not one of {', '.join(KINDS)}). Re-run its `memlens generative audit` command."
        )
    files = store.manifest.get("files", {})

    def table(name):
        return store.read_table(name) if name in files else None

    run = GenerativeRun(path, store.manifest, result)
    if run.kind == "diffusion":
        run.samples, run.training, run.gallery = table(SAMPLES), table(TRAINING), table(GALLERY)
    else:
        run.density = table(DENSITY)
    return run


# --- numbers and words --------------------------------------------------------------------------


def num(v) -> float:
    """A JSON value as a float; NaN for null, text or anything else that is not a finite number."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return float("nan")
    return float(v)


def rows(value) -> list[dict]:
    """A JSON list of objects, keeping only the objects (a missing or malformed list is empty)."""
    return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []


def by_size(result: dict) -> list[dict]:
    """``by_size`` rows with a positive size, sorted by size, sizes as ints, numbers as floats."""
    out = []
    for r in rows(result.get("by_size")):
        size = num(r.get("size"))
        if math.isfinite(size) and size > 0:
            out.append({"size": int(size), "models": r.get("models"), "ratio": num(r.get("ratio")),
                        "ci_low": num(r.get("ci_low")), "ci_high": num(r.get("ci_high"))})  # fmt: skip
    return sorted(out, key=lambda r: r["size"])


def target_of(result: dict) -> float:
    """The memorization ratio the EMM is read against: ``emm.target``, else 1 − ε."""
    emm = result.get("emm") if isinstance(result.get("emm"), dict) else {}
    target = num(emm.get("target"))
    return target if math.isfinite(target) else 1.0 - num(result.get("epsilon"))


def condition_words(condition) -> tuple[str, str]:
    """(short name, sentence) for the conditioning a diffusion model was trained with."""
    if condition in (None, "", "none"):
        return "none", "unconditional (no labels)"
    text = str(condition)
    if text == "labels":
        return "true labels", "conditioned on the true class labels"
    if text == "unique":
        return "unique labels", (
            "conditioned on a unique label per training image (C = |D|), uninformative labels that "
            "Gu et al. find trigger memorization"
        )
    if text.startswith("random:"):
        c = text.split(":", 1)[1]
        return f"random labels, C = {c}", (
            f"conditioned on random labels from {c} classes (each image a uniformly drawn label), "
            "uninformative labels that Gu et al. find trigger memorization"
        )
    return text, f"conditioned on {text}"


def fmt(v, digits: int = 2) -> str:
    """A finite number with ``digits`` decimals, or an en dash."""
    v = num(v)
    return f"{v:.{digits}f}" if math.isfinite(v) else "–"


def size_words(n) -> str:
    return (
        f"{int(n):,}"
        if isinstance(n, int | float) and not isinstance(n, bool) and math.isfinite(n)
        else "?"
    )


def finite(values) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return v[np.isfinite(v)]
