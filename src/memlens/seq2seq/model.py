"""Tiny Hugging Face encoder–decoders trained here from a config, and batched greedy decoding.

One joint byte-level BPE tokenizer (``tokenizers``, trained on both sides of the pairs) with
``<s>`` = 0 (decoder start), ``<pad>`` = 1 and ``</s>`` = 2 (end of sentence). A source is encoded
as its tokens then ``</s>``; a target is decoded from ``<s>`` until ``</s>``. Models are
``BartForConditionalGeneration`` from a ``BartConfig`` with dropout off (the teacher must be able
to memorize its noise), initialized under the caller's seed.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from memlens.errors import MemlensError
from memlens.lm.model import length_grouped_batches, optimizer_step

BOS, PAD, EOS = 0, 1, 2
SPECIAL_TOKENS = ["<s>", "<pad>", "</s>"]
Progress = Callable[[int], None]


def train_tokenizer(texts: Sequence[str], *, vocab_size: int = 1024):
    """A byte-level BPE ``tokenizers.Tokenizer`` trained on ``texts`` (give both sides)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    texts = [t for t in texts if t]
    if not texts:
        raise MemlensError("Cannot train a tokenizer on no text; give the pairs' sources and targets.")
    if vocab_size < 259:
        raise MemlensError(f"A byte-level vocabulary needs >= 259 tokens (256 bytes + 3 special); got {vocab_size}.")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )  # fmt: skip
    tok.train_from_iterator(texts, trainer)
    return tok


def tokenizer_fingerprint(tokenizer) -> str:
    return hashlib.sha256(tokenizer.to_str().encode()).hexdigest()


def encode(tokenizer, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of each text followed by ``</s>``."""
    return [[*e.ids, EOS] for e in tokenizer.encode_batch(list(texts), add_special_tokens=False)]


def decode(tokenizer, ids: Sequence[Sequence[int]]) -> list[str]:
    """Texts of token-id rows (special tokens dropped, surrounding spaces stripped)."""
    return [t.strip() for t in tokenizer.decode_batch([list(r) for r in ids], skip_special_tokens=True)]


def tiny_bart(
    vocab_size: int, *, d_model: int = 64, encoder_layers: int = 1, decoder_layers: int = 1,
    heads: int = 4, ffn: int | None = None, max_positions: int = 64, init_std: float = 0.1, seed: int = 0,
):
    """A ``BartForConditionalGeneration`` from config, weights drawn under ``seed``.

    Every matrix (embeddings included) is drawn from N(0, ``init_std``): with BART's default 0.02
    these tiny models sit on the loss plateau of a unigram model for thousands of steps before
    they learn to attend to the source; 0.1 leaves it within a few hundred (measured here).
    """
    import torch
    from transformers import BartConfig, BartForConditionalGeneration

    if d_model % heads:
        raise MemlensError(f"d_model {d_model} must be divisible by the {heads} heads.")
    config = BartConfig(
        vocab_size=vocab_size, d_model=d_model, encoder_layers=encoder_layers, decoder_layers=decoder_layers,
        encoder_attention_heads=heads, decoder_attention_heads=heads,
        encoder_ffn_dim=ffn or 4 * d_model, decoder_ffn_dim=ffn or 4 * d_model,
        max_position_embeddings=max_positions, dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
        bos_token_id=BOS, pad_token_id=PAD, eos_token_id=EOS, decoder_start_token_id=BOS,
        forced_eos_token_id=None, scale_embedding=False,
    )  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BartForConditionalGeneration(config)
        with torch.no_grad():
            for p in model.parameters():
                if p.dim() >= 2:
                    p.normal_(0.0, init_std)
    model.eval()
    return model


def _pad(rows: Sequence[Sequence[int]], value: int):
    import torch

    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), value, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out


def _check_lengths(model, rows, what):
    limit = model.config.max_position_embeddings
    longest = max((len(r) for r in rows), default=0)
    if longest + 1 > limit:
        raise MemlensError(
            f"{what} has a sentence of {longest} tokens; the model's positions stop at {limit}. "
            "Build the model with a larger max_positions."
        )


def train_seq2seq(
    model, sources: Sequence[Sequence[int]], targets: Sequence[Sequence[int]], *, epochs: int,
    batch_size: int = 64, lr: float = 3e-3, seed: int = 0, progress: Progress | None = None,
) -> np.ndarray:
    """Train in place with teacher forcing (AdamW, 5% warm-up, cosine decay); return step losses.

    Pairs are shuffled each epoch, then batched among neighbours of similar length (less padding).
    """  # fmt: skip
    import torch

    if len(sources) != len(targets) or not sources:
        raise MemlensError(f"train_seq2seq needs aligned, non-empty pairs; got {len(sources)} and {len(targets)}.")
    _check_lengths(model, [*sources, *targets], "The training data")
    rng = np.random.default_rng(seed)
    steps = math.ceil(len(sources) / batch_size) * epochs
    losses = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
        warmup = max(1, steps // 20)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps)))
        )
        model.train()
        try:
            for _ in range(epochs):
                target_lengths = [len(t) for t in targets]
                for rows in length_grouped_batches(target_lengths, batch_size, rng, pool_batches=16):
                    src = _pad([sources[i] for i in rows], PAD)
                    tgt = _pad([targets[i] for i in rows], PAD)
                    dec_in = torch.cat([torch.full((len(rows), 1), BOS), tgt[:, :-1]], 1)
                    labels = tgt.masked_fill(tgt == PAD, -100)
                    logits = model(input_ids=src, attention_mask=(src != PAD).long(),
                                   decoder_input_ids=dec_in).logits  # fmt: skip
                    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
                    optimizer_step(model, opt, schedule, loss, losses)
                    if progress:
                        progress(1)
        finally:
            model.eval()
    return np.asarray(losses)


class Translations(NamedTuple):
    """Greedy outputs: token ids (without ``<s>``/``</s>``), summed log-probability of the chosen
    tokens including ``</s>`` when reached, and how many tokens that sum covers."""

    ids: list[list[int]]
    logprob_sum: np.ndarray
    n_tokens: np.ndarray


def greedy_translate(
    model, sources: Sequence[Sequence[int]], *, max_new_tokens: int = 48, batch_size: int = 256
) -> Translations:
    """Batched greedy decoding (beam 1, as for the paper's KD corpus), with the decoder's cache."""
    import torch

    n = len(sources)
    _check_lengths(model, sources, "The sources")
    max_new_tokens = min(max_new_tokens, model.config.max_position_embeddings - 1)
    out_ids: list[list[int]] = [[] for _ in range(n)]
    lp, nt = np.zeros(n), np.zeros(n, dtype=np.int64)
    order = sorted(range(n), key=lambda i: len(sources[i]))
    encoder = model.get_encoder()
    import inspect

    # transformers 5 renamed the cache argument from past_key_values to cache (the old name warns)
    cache_kwarg = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    with torch.inference_mode():
        for s in range(0, n, batch_size):
            rows = order[s : s + batch_size]
            src = _pad([sources[i] for i in rows], PAD)
            mask = (src != PAD).long()
            enc = encoder(input_ids=src, attention_mask=mask)
            cur = torch.full((len(rows), 1), BOS)
            done = torch.zeros(len(rows), dtype=torch.bool)
            past, tokens = None, []
            total, count = torch.zeros(len(rows), dtype=torch.float64), torch.zeros(len(rows), dtype=torch.long)
            for _ in range(max_new_tokens):
                o = model(encoder_outputs=enc, attention_mask=mask, decoder_input_ids=cur,
                          use_cache=True, **{cache_kwarg: past})  # fmt: skip
                past = getattr(o, cache_kwarg)  # the output names it as the argument does
                logp = torch.log_softmax(o.logits[:, -1].float(), -1)
                nxt = logp.argmax(-1)
                live = ~done
                total += torch.where(live, logp.gather(1, nxt[:, None])[:, 0].double(), 0.0)
                count += live.long()
                tokens.append(torch.where(live, nxt, PAD))
                done |= nxt == EOS
                cur = nxt[:, None]
                if done.all():
                    break
            seq = torch.stack(tokens, 1).tolist()
            for r, i in enumerate(rows):
                out_ids[i] = [t for t in seq[r] if t != PAD]
                if out_ids[i] and out_ids[i][-1] == EOS:
                    out_ids[i] = out_ids[i][:-1]
            lp[rows], nt[rows] = total.numpy(), count.numpy()
    return Translations(out_ids, lp, nt)


def beam_translate(
    model, sources: Sequence[Sequence[int]], *, beams: int = 4, max_new_tokens: int = 48, batch_size: int = 64
) -> Translations:
    """Beam-search decoding (Hugging Face ``generate``, length penalty 1) — the paper's En-De
    distillation corpora with beams 2/5/10. Each output's log-probability and token count are
    re-scored under teacher forcing (``</s>`` included), so they mean what greedy decoding's do."""
    import torch

    if beams < 1:
        raise MemlensError(f"beams must be >= 1; got {beams}.")
    n = len(sources)
    _check_lengths(model, sources, "The sources")
    max_new_tokens = min(max_new_tokens, model.config.max_position_embeddings - 2)
    out_ids: list[list[int]] = [[] for _ in range(n)]
    order = sorted(range(n), key=lambda i: len(sources[i]))
    with torch.inference_mode():
        for s in range(0, n, batch_size):
            rows = order[s : s + batch_size]
            src = _pad([sources[i] for i in rows], PAD)
            seq = model.generate(
                input_ids=src, attention_mask=(src != PAD).long(), num_beams=beams, do_sample=False,
                max_new_tokens=max_new_tokens, length_penalty=1.0, **({"early_stopping": True} if beams > 1 else {}),
                decoder_start_token_id=BOS, bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD,
                forced_bos_token_id=None, forced_eos_token_id=None, no_repeat_ngram_size=0, min_length=0,
            ).tolist()  # fmt: skip
            for r, i in enumerate(rows):
                ids = seq[r][1:]  # drop the decoder start
                if EOS in ids:
                    ids = ids[: ids.index(EOS)]
                out_ids[i] = [t for t in ids if t != PAD]
    scored = score_targets(model, sources, [[*ids, EOS] for ids in out_ids])
    return Translations(out_ids, scored["logprob_sum"], scored["n_tokens"].astype(np.int64))


def score_targets(model, sources, targets, *, batch_size: int = 256) -> dict:
    """Teacher-forced per-pair ``logprob_sum``, ``n_tokens`` and ``token_accuracy`` of ``targets``
    (each ending in ``</s>``, which is scored too), (N,) arrays."""
    import torch

    n = len(sources)
    _check_lengths(model, [*sources, *targets], "The pairs")
    out = {"logprob_sum": np.zeros(n), "n_tokens": np.zeros(n), "token_accuracy": np.zeros(n)}
    order = sorted(range(n), key=lambda i: len(targets[i]))
    with torch.inference_mode():
        for s in range(0, n, batch_size):
            rows = order[s : s + batch_size]
            src = _pad([sources[i] for i in rows], PAD)
            tgt = _pad([targets[i] for i in rows], PAD)
            dec_in = torch.cat([torch.full((len(rows), 1), BOS), tgt[:, :-1]], 1)
            logits = model(input_ids=src, attention_mask=(src != PAD).long(), decoder_input_ids=dec_in).logits.float()
            logp = torch.log_softmax(logits, -1).gather(-1, tgt[..., None])[..., 0]
            valid = tgt != PAD
            out["logprob_sum"][rows] = torch.where(valid, logp, 0.0).sum(1).double().numpy()
            out["n_tokens"][rows] = valid.sum(1).numpy()
            out["token_accuracy"][rows] = (((logits.argmax(-1) == tgt) & valid).sum(1) / valid.sum(1)).numpy()
    return out
