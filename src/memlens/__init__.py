"""memlens: what did a trained model memorize, how much, and what does that leak?

The engine is one experiment seen from many sides: train many models on known subsets of the
data (``design``), observe every model on every example (``train``/``observe``), keep both
matrices in a run directory (``store``), and estimate from them with pure functions
(``estimate``).
"""

__version__ = "0.1.0"

from memlens import data, design, estimate, integrations, train  # noqa: E402
from memlens.audit import Run, audit  # noqa: E402
from memlens.errors import MemlensError  # noqa: E402

__all__ = ["MemlensError", "Run", "audit", "data", "design", "estimate", "integrations", "train", "__version__"]
