"""Self-supervised encoders: the déjà vu test of Meehan et al. (NeurIPS 2023).

Pure estimators of arrays (``dejavu``): KNN label decoding of background crops with −entropy
confidence, the dataset-level accuracy gap on the p% most confident crops, the sample-level
partition (memorized / correlated / misrepresented / unassociated), both symmetrized over A↔B,
and the background crop outside an object's bounding box.
"""

from .dejavu import (
    DatasetLevelResult,
    DejaVuInputError,
    KNNLabelInference,
    SamplePartition,
    background_crop,
    correct_predictions,
    dataset_level_test,
    knn_label_inference,
    largest_background_box,
    sample_level_partition,
    symmetrized,
)

__all__ = [
    "DatasetLevelResult",
    "DejaVuInputError",
    "KNNLabelInference",
    "SamplePartition",
    "background_crop",
    "correct_predictions",
    "dataset_level_test",
    "knn_label_inference",
    "largest_background_box",
    "sample_level_partition",
    "symmetrized",
]
