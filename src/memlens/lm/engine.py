"""Language models on the core engine: M tiny GPT-2s on known subsets of the documents.

:class:`LMTrainer` follows :class:`memlens.train.base.Trainer`: ``fit_observe`` trains one tiny
GPT-2 per membership row on that row's documents (:func:`~memlens.lm.model.train_lm`, seeded
by the model's own seed; one tokenizer, trained once on the whole corpus, shared by all) and
observes every model on every document. Observables, each (m, N) float32:

* ``loss`` — mean next-token negative log-likelihood of the document;
* ``token_accuracy`` — fraction of next tokens the model's argmax predicts (teacher forcing);
* ``logprob_sum`` — total log-likelihood of the document.

A document is observed as ``[bos, text]`` truncated to the model's context (``n_positions``
tokens): every text token in that window is scored. Counterfactual memorization (Zhang et al.,
NeurIPS 2023) is then :func:`counterfactual` — performance IN minus OUT — on those arrays.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from memlens.errors import MemlensError
from memlens.lm.corpus import Corpus

Progress = Callable[[int], None]

#: the observation each counterfactual measure reads, and its sign (higher = better performance)
MEASURES = {"token_accuracy": ("token_accuracy", 1.0), "loss": ("loss", -1.0)}


def tokenizer_fingerprint(tokenizer) -> str:
    """SHA-256 of the tokenizer's full serialization (vocabulary, merges, special tokens)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else repr(sorted(tokenizer.get_vocab().items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def corpus_fingerprint(documents: Sequence[str]) -> str:
    """SHA-256 of the documents, in order (length-prefixed, so boundaries count)."""
    h = hashlib.sha256()
    for d in documents:
        b = d.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def _documents(data) -> list[str]:
    docs = data.documents if isinstance(data, Corpus) else list(data)
    if not docs or not all(isinstance(d, str) for d in docs):
        raise MemlensError("The language-model engine needs a non-empty list of text documents.")
    return docs


def document_observables(model, tokenizer, texts: Sequence[str], *, batch_size: int = 64) -> dict:
    """Per-document ``loss``, ``token_accuracy`` and ``logprob_sum`` of one model, (N,) float32 each.

    Each text is scored as ``[bos, text]`` truncated to the model's context; a text of no tokens
    is scored on nothing and gets NaN.
    """
    import torch

    from memlens.lm.model import _pad, context_length

    limit = context_length(model)
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    encoded = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    seqs = [[bos, *ids][:limit] for ids in encoded]
    n = len(seqs)
    out = {k: np.full(n, np.nan, dtype=np.float32) for k in ("loss", "token_accuracy", "logprob_sum")}
    order = [i for i in sorted(range(n), key=lambda i: len(seqs[i])) if len(seqs[i]) >= 2]
    with torch.inference_mode():
        for s in range(0, len(order), batch_size):
            rows = order[s : s + batch_size]
            ids, mask = _pad([seqs[i] for i in rows], 0)  # (B, T)
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()  # (B, T-1, V)
            target = ids[:, 1:]  # (B, T-1)
            valid = mask[:, 1:].bool()  # (B, T-1)
            logp = torch.log_softmax(logits, dim=-1).gather(-1, target[..., None])[..., 0]
            hit = (logits.argmax(-1) == target) & valid
            count = valid.sum(1).double()
            total = torch.where(valid, logp, 0.0).sum(1).double()
            out["logprob_sum"][rows] = total.numpy()
            out["loss"][rows] = (-total / count).numpy()
            out["token_accuracy"][rows] = (hit.sum(1).double() / count).numpy()
    return out


@dataclass
class LMTrainer:
    """Trains one tiny GPT-2 per membership row on its documents; observes all documents.

    ``tokenizer`` is shared (train it once on the whole corpus). Defaults are sized for the
    engine's purpose — many small models in about a minute on two CPU cores — not for quality.
    """

    tokenizer: object = field(repr=False)
    n_layer: int = 1
    n_embd: int = 64
    n_head: int = 2
    n_positions: int = 64
    epochs: int = 20
    batch_size: int = 16
    lr: float = 3e-3
    seq_len: int | None = None  # default: n_positions
    units_per_model: int = 1

    def __post_init__(self):
        if self.tokenizer is None:
            raise MemlensError("LMTrainer needs a tokenizer (train one with train_tokenizer).")
        if self.epochs < 1:
            raise MemlensError(f"epochs must be >= 1; got {self.epochs}.")
        if self.n_embd % self.n_head:
            raise MemlensError(f"width {self.n_embd} must be divisible by the {self.n_head} heads.")

    def config(self) -> dict:
        cfg = {k: v for k, v in asdict(self).items() if k not in ("tokenizer", "units_per_model")}
        cfg["seq_len"] = self.seq_len or self.n_positions
        cfg["model"] = "tiny-gpt2"
        cfg["vocab_size"] = len(self.tokenizer)
        cfg["tokenizer"] = tokenizer_fingerprint(self.tokenizer)
        return cfg

    def new_model(self, seed: int):
        from memlens.lm.model import tiny_gpt2

        return tiny_gpt2(
            len(self.tokenizer), n_layer=self.n_layer, n_embd=self.n_embd, n_head=self.n_head,
            n_positions=self.n_positions, bos_token_id=self.tokenizer.bos_token_id or 0,
            eos_token_id=self.tokenizer.eos_token_id or 0,
            pad_token_id=self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 1,
            seed=seed,
        )  # fmt: skip

    def fit(self, documents: Sequence[str], seed: int, progress: Progress | None = None):
        """One model trained on ``documents``."""
        from memlens.lm.model import train_lm

        model = self.new_model(seed)
        if documents:
            train_lm(
                model, self.tokenizer, list(documents), epochs=self.epochs,
                batch_size=self.batch_size, lr=self.lr, seq_len=self.seq_len or self.n_positions,
                seed=seed, progress=progress,
            )  # fmt: skip
        return model

    def fit_observe(self, data, membership, seeds, progress: Progress | None = None) -> dict:
        import torch

        from memlens.seeds import to_int

        docs = _documents(data)
        membership = np.asarray(membership, dtype=bool)
        if membership.ndim != 2 or membership.shape[1] != len(docs):
            raise MemlensError(
                f"The membership rows cover {membership.shape[-1]} documents; the corpus has {len(docs)}."
            )
        observed = {k: [] for k in ("loss", "token_accuracy", "logprob_sum")}
        for row, seed in zip(membership, seeds, strict=True):
            s = to_int(seed, "mod31")  # the engine's model seed as this trainer's torch seed
            with torch.random.fork_rng(devices=[]):
                model = self.fit([d for d, keep in zip(docs, row, strict=True) if keep], s)
            for k, v in document_observables(model, self.tokenizer, docs).items():
                observed[k].append(v)
            if progress:
                progress(1)
        return {k: np.stack(v).astype(np.float32) for k, v in observed.items()}


def counterfactual(membership, observations, *, measure: str = "token_accuracy", min_models: int = 1):
    """Counterfactual memorization per document from an engine run: measure IN minus OUT.

    ``measure`` is ``token_accuracy`` (Zhang et al.'s choice) or ``loss`` (read as -loss, so that
    higher is still better performance). Returns :class:`memlens.estimate.MemorizationScores`.
    """
    from memlens.lm.measures import counterfactual_memorization

    if measure not in MEASURES:
        raise MemlensError(f"Unknown counterfactual measure '{measure}'; use {' or '.join(MEASURES)}.")
    name, sign = MEASURES[measure]
    obs = sign * np.asarray(observations[name], dtype=np.float64)
    return counterfactual_memorization(np.asarray(membership), obs, min_models=min_models)
