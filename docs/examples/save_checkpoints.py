# docs/examples/save_checkpoints.py — train 8 models elsewhere, save weights and who saw what
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from train_function import train

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
X, y = load_digits(return_X_y=True)
X, y = (X[:1000] / 16).astype(np.float32), y[:1000]
np.savez(out / "digits.npz", X=X, y=y)  # the examples; an example's id is its row

rng = np.random.default_rng(0)
membership = rng.random((8, len(y))) < 0.5  # model i trains on the rows where membership[i]
for i, rows in enumerate(membership):
    model = train(X[rows], y[rows], seed=i)
    torch.save(model.state_dict(), out / f"model-{i}.pt")
np.save(out / "membership.npy", membership)
