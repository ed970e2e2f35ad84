"""Personal attributes inferred from text without memorization (Staab et al., ICLR 2024).

:mod:`~memlens.inference.profiles` generates synthetic profiles with known attributes and hardness
labels; :mod:`~memlens.inference.adversaries` guesses attributes (a trained TF-IDF classifier, or
any local causal LM prompted as in the paper); :mod:`~memlens.inference.scoring` judges guesses by
the paper's rules; :mod:`~memlens.inference.anonymize` removes entities as the paper's baseline does.
"""
