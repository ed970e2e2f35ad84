# docs/examples/train_function.py — a plain PyTorch loop; memlens calls train(X, y, seed) per model
import torch
from torch import nn


def make_model():
    """8×8 digit images (64 pixels) → 256 ReLU units → 10 classes."""
    return nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))


def train(X, y, seed):
    """Fit one model on the rows memlens gives it (numpy arrays) and return it."""
    torch.manual_seed(seed)
    X, y = torch.as_tensor(X), torch.as_tensor(y)
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _epoch in range(100):
        for batch in torch.randperm(len(X)).split(128):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(X[batch]), y[batch])
            loss.backward()
            optimizer.step()
    return model
