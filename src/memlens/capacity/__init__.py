"""Memorization capacity: explicit memorizing networks, width-vs-N laws, and generalization–memorization machines.

Estimators follow scikit-learn's contract (``fit``, ``predict``, ``get_params``):

* :class:`SqrtNMemorizer`, :class:`SqrtNClassifier` — Yun et al.'s explicit ReLU network with
  Θ(√N) hidden units that reproduces any N distinct points (``to_torch()`` to train it further);
* :class:`RandomizedInterpolatingNet` — Dirksen et al.'s random-hyperplane threshold network
  whose width follows the data's geometry;
* :class:`MIMM`, :class:`WIMM`, :class:`LSSVM` — Wang, Wang & Shao's least-squares
  generalization–memorization machines and their baseline;
* :class:`MASC` and :func:`layerwise_accuracy` — Ketha & Ramaswamy's minimum-angle subspace
  decoding of every layer's activations;
* :func:`bisect_width`, :class:`WidthSweepTrainer`, :func:`fit_power_law` — Daniely's minimum
  width to memorize m random labels in dimension d, on the engine.

Names are imported on first use (scikit-learn, torch), so ``import memlens.capacity`` is cheap.
"""

from .errors import CapacityInputError

_EXPORTS = {
    "SqrtNMemorizer": "sqrt_n", "SqrtNClassifier": "sqrt_n",
    "RandomizedInterpolatingNet": "interpolating", "NotInterpolatingWarning": "interpolating",
    "MIMM": "memorization_machines", "WIMM": "memorization_machines", "LSSVM": "memorization_machines",
    "NotMemorizedWarning": "memorization_machines",
    "MASC": "masc", "layerwise_accuracy": "masc",
    "RandomLabels": "width_sweep", "WidthSweepTrainer": "width_sweep", "bisect_width": "width_sweep",
    "fit_power_law": "width_sweep", "WidthBisection": "width_sweep", "PowerLawFit": "width_sweep",
}  # fmt: skip
__all__ = ["CapacityInputError", *_EXPORTS]


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
