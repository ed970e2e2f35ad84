"""Encoder–decoder models on the engine: a synthetic translation task, tiny BART models trained
here, per-pair memorization measures and sequence-level knowledge distillation (seed notes §4)."""
