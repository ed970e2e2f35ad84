"""Encoder–decoder models on the core engine: one tiny BART per membership row, observed per pair.

:class:`Seq2SeqTrainer` follows :class:`memlens.train.base.Trainer`. ``fit_observe`` trains one
model per membership row on that row's pairs and observes every model on every training pair;
each observation is an (m, N) float32 array (:mod:`memlens.seq2seq.measures` defines them):

* ``replicated`` — greedy output == target (0/1);
* ``prefix_ratio`` — the extractive-memorization prefix ratio (NaN where the pair is not a
  candidate or no prefix reproduces the target); ``extractive`` — ratio ≤ 0.75 (0/1);
* ``oscillatory`` and ``natural`` — the two hallucination detectors (0/1);
* ``chrf`` — sentence chrF of the output against the target (0–100);
* ``token_prob`` — geometric-mean probability of the target's tokens under teacher forcing (the
  paper's per-pair measure for counterfactual memorization), ``token_accuracy`` and
  ``logprob_sum`` of the same;
* ``confidence`` — geometric-mean probability of the model's own greedy output (Adaptive-SeqKD).

Counterfactual memorization is then :func:`counterfactual` on a halves design: ``token_prob`` IN
minus OUT (Dankers & Raunak's 10 models on 50/50 splits).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from memlens.errors import MemlensError
from memlens.seq2seq import measures
from memlens.seq2seq.task import PairSet

Progress = Callable[[int], None]
OBSERVATIONS = ("replicated", "prefix_ratio", "extractive", "oscillatory", "natural", "chrf",
                "token_prob", "token_accuracy", "logprob_sum", "confidence")  # fmt: skip


@dataclass
class Seq2SeqTrainer:
    """Trains tiny BART translation models; observes the §4 measures on every pair.

    ``language`` (a function sentence → ``"source"``/``"target"``/None, e.g.
    :meth:`memlens.seq2seq.task.TranslationRule.language`) completes the extractive-memorization
    filter as the paper's language ID does; without it that check is skipped.
    """

    tokenizer: object = field(repr=False)
    d_model: int = 64
    encoder_layers: int = 1
    decoder_layers: int = 1
    heads: int = 4
    ffn: int | None = None
    max_positions: int = 64
    init_std: float = 0.1
    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    osc_min_count: int = 3
    osc_margin: int = 2
    nat_min_sources: int = 5
    language: Callable | None = field(default=None, repr=False)
    units_per_model: int = 1

    def __post_init__(self):
        if self.tokenizer is None:
            raise MemlensError("Seq2SeqTrainer needs a tokenizer (memlens.seq2seq.model.train_tokenizer).")
        if self.epochs < 1:
            raise MemlensError(f"epochs must be >= 1; got {self.epochs}.")
        if self.d_model % self.heads:
            raise MemlensError(f"d_model {self.d_model} must be divisible by the {self.heads} heads.")

    def config(self) -> dict:
        from memlens.seq2seq.model import tokenizer_fingerprint

        cfg = {k: v for k, v in asdict(self).items() if k not in ("tokenizer", "language", "units_per_model")}
        cfg["model"] = "tiny-bart"
        cfg["vocab_size"] = self.tokenizer.get_vocab_size()
        cfg["tokenizer"] = tokenizer_fingerprint(self.tokenizer)
        cfg["language_id"] = getattr(self.language, "__qualname__", None) if self.language else None
        return cfg

    def new_model(self, seed: int):
        from memlens.seq2seq.model import tiny_bart

        return tiny_bart(
            self.tokenizer.get_vocab_size(), d_model=self.d_model, encoder_layers=self.encoder_layers,
            decoder_layers=self.decoder_layers, heads=self.heads, ffn=self.ffn,
            max_positions=self.max_positions, init_std=self.init_std, seed=seed,
        )  # fmt: skip

    def fit(self, pairs: PairSet, seed: int, *, model=None, epochs: int | None = None,
            lr: float | None = None, progress: Progress | None = None):  # fmt: skip
        """A model trained on ``pairs`` (or ``model`` trained further: a fine-tune)."""
        from memlens.seq2seq.model import encode, train_seq2seq

        model = model if model is not None else self.new_model(seed)
        train_seq2seq(
            model, encode(self.tokenizer, pairs.sources), encode(self.tokenizer, pairs.targets),
            epochs=epochs or self.epochs, batch_size=self.batch_size, lr=lr or self.lr, seed=seed,
            progress=progress,
        )  # fmt: skip
        return model

    def translate(self, model, sources, *, beams: int = 1) -> tuple[list[str], np.ndarray]:
        """Translations (greedy, or beam search with ``beams`` > 1) and their confidence
        (geometric-mean token probability)."""
        from memlens.seq2seq.model import beam_translate, decode, encode, greedy_translate

        decoder = greedy_translate if beams == 1 else lambda m, s, **kw: beam_translate(m, s, beams=beams, **kw)
        t = decoder(model, encode(self.tokenizer, sources), max_new_tokens=self.max_positions - 1)
        return decode(self.tokenizer, t.ids), measures.geometric_mean_prob(t.logprob_sum, np.maximum(t.n_tokens, 1))

    def observe(self, model, pairs: PairSet) -> tuple[dict, list[str]]:
        """The per-pair observations of one model (each (N,) float32) and its greedy outputs."""
        from memlens.seq2seq.model import encode, score_targets

        outputs, confidence = self.translate(model, pairs.sources)
        rep = measures.replicated(outputs, pairs.targets)
        candidates = [
            i for i in np.flatnonzero(rep)
            if measures.basic_filter(pairs.sources[i], pairs.targets[i], language=self.language)
        ]  # fmt: skip
        ratio = np.full(len(pairs), np.nan)
        batch = [measures.prefixes(pairs.sources[i]) for i in candidates]
        flat = [p for ps in batch for p in ps]
        if flat:  # every candidate's prefixes translated in one batched pass
            translated, _ = self.translate(model, flat)
            start = 0
            for i, ps in zip(candidates, batch, strict=True):
                ratio[i] = measures.prefix_ratio(pairs.sources[i], pairs.targets[i], translated[start : start + len(ps)])
                start += len(ps)
        references = pairs.references if pairs.references is not None else pairs.targets
        scored = score_targets(model, encode(self.tokenizer, pairs.sources), encode(self.tokenizer, pairs.targets))
        obs = {
            "replicated": rep,
            "prefix_ratio": ratio,
            "extractive": measures.extractive(ratio),
            "oscillatory": measures.oscillatory(pairs.sources, outputs, min_count=self.osc_min_count,
                                                margin=self.osc_margin),
            "natural": measures.natural(pairs.sources, outputs, references, min_sources=self.nat_min_sources),
            "chrf": measures.chrf(outputs, pairs.targets),
            "token_prob": measures.geometric_mean_prob(scored["logprob_sum"], scored["n_tokens"]),
            "token_accuracy": scored["token_accuracy"],
            "logprob_sum": scored["logprob_sum"],
            "confidence": confidence,
        }  # fmt: skip
        return {k: np.asarray(v, dtype=np.float32) for k, v in obs.items()}, outputs

    def fit_observe(self, data, membership, seeds, progress: Progress | None = None) -> dict:
        import torch

        from memlens.seeds import to_int

        if not isinstance(data, PairSet):
            raise MemlensError(f"Seq2SeqTrainer trains on a PairSet of (source, target) pairs; got {type(data).__name__}.")
        membership = np.asarray(membership, dtype=bool)
        if membership.ndim != 2 or membership.shape[1] != len(data):
            raise MemlensError(f"The membership rows cover {membership.shape[-1]} pairs; the data has {len(data)}.")
        observed = {k: [] for k in OBSERVATIONS}
        for row, seed in zip(membership, seeds, strict=True):
            s = to_int(seed, "mod31")  # the engine's model seed as this trainer's torch seed
            with torch.random.fork_rng(devices=[]):
                model = self.fit(data.subset(np.flatnonzero(row)), s)
            for k, v in self.observe(model, data)[0].items():
                observed[k].append(v)
            if progress:
                progress(1)
        return {k: np.stack(v).astype(np.float32) for k, v in observed.items()}


def counterfactual(membership, observations, *, measure: str = "token_prob", min_models: int = 1):
    """Counterfactual memorization per pair from an engine run: ``measure`` IN minus OUT
    (:class:`memlens.estimate.MemorizationScores`)."""
    from memlens.lm.counterfactual import counterfactual_memorization

    if measure not in ("token_prob", "token_accuracy"):
        raise MemlensError(f"Unknown counterfactual measure '{measure}'; use token_prob or token_accuracy.")
    return counterfactual_memorization(
        np.asarray(membership), np.asarray(observations[measure], dtype=np.float64), min_models=min_models
    )
