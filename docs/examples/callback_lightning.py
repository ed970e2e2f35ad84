# docs/examples/callback_lightning.py — your Lightning script, run once per model: RUN I (I = 0..7)
import sys

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import memlens as ml
from memlens.integrations import prepare, seed_for, subset_for
from memlens.integrations.lightning import AuditCallback

run, i = sys.argv[1], int(sys.argv[2])
data = ml.data.load("digits").plant(ml.data.label_noise(0.05, seed=0))  # 5% of labels flipped
prepare(data, ml.design.halves(8, data.n_examples, seed=0), run)  # the same in every job: idempotent
X = (data.X - data.X.mean(0)) / (data.X.std(0) + 1e-6)
pool = TensorDataset(torch.from_numpy(X), torch.from_numpy(data.y))  # all examples, in id order


class Classifier(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=3e-3)


L.seed_everything(seed_for(run, i), verbose=False)
trainer = L.Trainer(max_epochs=40, callbacks=[AuditCallback(run, i, pool)], logger=False,
                    enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
trainer.fit(Classifier(), DataLoader(subset_for(run, i, pool), batch_size=32, shuffle=True))
# the last of the 8 to finish assembles the run; then: memlens report RUN
