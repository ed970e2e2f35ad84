# docs/examples/make_predictions.py — models trained and evaluated without memlens
import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
X, y = load_breast_cancer(return_X_y=True)
rng = np.random.default_rng(0)
membership = rng.random((16, len(y))) < 0.5  # which examples each model trained on
probabilities = np.stack([
    RandomForestClassifier(n_estimators=25, random_state=i).fit(X[rows], y[rows]).predict_proba(X)
    for i, rows in enumerate(membership)
])  # (models, examples, classes)
np.save(out / "membership.npy", membership)
np.save(out / "probs.npy", probabilities)
np.save(out / "labels.npy", y)
