"""Datasets with stable integer ids, bundled loaders and planted ground truth.

A :class:`Dataset` holds the training pool (the examples membership refers to), an optional
held-out test set, and ``planted``: a record of what was deliberately corrupted, so a test or
an audit knows the right answer.
"""

from memlens.data.dataset import Dataset, validate
from memlens.data.loaders import DATASETS, load
from memlens.data.plants import duplicates, label_noise, parse_plant

__all__ = ["DATASETS", "Dataset", "duplicates", "label_noise", "load", "parse_plant", "validate"]
