"""Self-supervised encoders: the déjà vu test of Meehan et al. (NeurIPS 2023).

Pure estimators of arrays (``dejavu``): KNN label decoding of background crops with −entropy
confidence (FAISS, else scikit-learn), the dataset-level accuracy gap on the p% most confident
crops, the sample-level partition (memorized / correlated / misrepresented / unassociated), both
symmetrized over A↔B, and the background crop outside an object's bounding box. End to end
(``memlens ssl dejavu``): synthetic canvases (``canvas``), VICReg / SimCLR encoders trained on the
engine (``trainer``, ``objectives``; loaded on first use, as they import torch), and the estimates
of a run's stored embeddings written as dejavu.json (``audit``).
"""

from .audit import dejavu_audit, dejavu_estimates
from .canvas import Canvas, CanvasError, make_canvas
from .dejavu import (
    DatasetLevelResult,
    DejaVuInputError,
    KNNLabelInference,
    SamplePartition,
    background_crop,
    correct_predictions,
    dataset_level_test,
    knn_backend,
    knn_label_inference,
    largest_background_box,
    nearest_neighbours,
    sample_level_partition,
    symmetrized,
)

_TORCH_NAMES = {"SSLTrainer": "trainer", "dejavu_design": "trainer", "vicreg_loss": "objectives",
                "simclr_loss": "objectives"}


def __getattr__(name):  # the torch-backed parts load on first use: `memlens --help` stays fast
    if name in _TORCH_NAMES:
        from importlib import import_module

        return getattr(import_module(f".{_TORCH_NAMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Canvas",
    "CanvasError",
    "SSLTrainer",
    "dejavu_audit",
    "dejavu_design",
    "dejavu_estimates",
    "make_canvas",
    "simclr_loss",
    "vicreg_loss",
    "DatasetLevelResult",
    "DejaVuInputError",
    "KNNLabelInference",
    "SamplePartition",
    "background_crop",
    "correct_predictions",
    "dataset_level_test",
    "knn_backend",
    "knn_label_inference",
    "largest_background_box",
    "nearest_neighbours",
    "sample_level_partition",
    "symmetrized",
]
