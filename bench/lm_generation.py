"""Batched greedy generation vs a per-example ``generate`` loop: 256 KJV prefixes, 32 new tokens.

The model is the default tiny GPT-2 (2 layers, 64 wide, BPE-4096 trained here on the KJV), trained
briefly on the KJV (``--train-steps``, ~15 s) so that its greedy continuations are text-like and the
equality check is meaningful (a random-init model's near-flat logits make ties more likely, but
throughput does not depend on the weights; ``--train-steps 0`` skips training). Prefixes are 32-token
windows of random KJV chapters, as extraction uses them.

(a) what users write today: ``model.generate(prefix, do_sample=False)`` for one prefix at a time;
(b) ``memlens.lm.generate.greedy_continuations``: all prefixes in left-padded batches with the KV
cache; (c) for reference, ``model.generate`` on the same left-padded batch. Prints tokens/s of each,
whether the outputs are identical, and, last, ``speedup N.Nx`` of (b) over (a).

    python bench/lm_generation.py [--prefixes 256] [--prefix-len 32] [--new 32] [--train-steps 80]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from memlens.lm.corpus import load_corpus, train_tokenizer  # noqa: E402
from memlens.lm.generate import _pad, greedy_continuations, greedy_one_by_one  # noqa: E402
from memlens.lm.model import tiny_gpt2, train_lm  # noqa: E402


def hf_batched(model, prefixes, pad_id, max_new_tokens):
    """``model.generate`` on the left-padded batch (no early stop), for reference."""
    ids, mask = _pad(prefixes, pad_id, left=True)
    with torch.inference_mode():
        out = model.generate(
            ids, attention_mask=mask, do_sample=False, max_new_tokens=max_new_tokens,
            eos_token_id=[], pad_token_id=pad_id,
        )  # fmt: skip
    return out[:, ids.shape[1] :].numpy()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--prefixes", type=int, default=256)
    p.add_argument("--prefix-len", type=int, default=32)
    p.add_argument("--new", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--train-steps", type=int, default=80)
    p.add_argument(
        "--repeats", type=int, default=3, help="best of this many runs of each (the loop: 1)"
    )
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)

    t = time.perf_counter()
    corpus = load_corpus("kjv")
    tokenizer = train_tokenizer(corpus, vocab_size=4096)
    model = tiny_gpt2(len(tokenizer), n_positions=128, seed=a.seed)
    if a.train_steps:
        losses = train_lm(
            model,
            tokenizer,
            corpus,
            epochs=1,
            batch_size=16,
            lr=3e-3,
            seq_len=128,
            seed=a.seed,
            max_steps=a.train_steps,
        )
        trained = f"trained {len(losses)} steps on the KJV, loss {losses[0]:.2f} -> {losses[-5:].mean():.2f}"
    else:
        trained = "random init"
    params = sum(q.numel() for q in model.parameters())
    print(
        f"model: tiny GPT-2, {params:,} parameters, vocab {len(tokenizer)}, {trained} "
        f"({time.perf_counter() - t:.1f} s); torch threads {torch.get_num_threads()}"
    )

    rng = np.random.default_rng(a.seed)
    docs = tokenizer(
        [corpus.documents[i] for i in rng.choice(len(corpus), a.prefixes)], add_special_tokens=False
    )["input_ids"]
    prefixes = []
    for ids in docs:
        start = rng.integers(0, len(ids) - a.prefix_len)
        prefixes.append(ids[start : start + a.prefix_len])
    n_tokens = a.prefixes * a.new
    print(
        f"{a.prefixes} prefixes x {a.prefix_len} tokens, {a.new} new tokens each ({n_tokens:,} tokens)"
    )

    def best_of(fn, repeats):
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t)
        return out, min(times)

    loop, t_loop = best_of(lambda: greedy_one_by_one(model, prefixes, max_new_tokens=a.new), 1)
    print(f"per-example generate loop : {t_loop:7.2f} s  {n_tokens / t_loop:10,.0f} tokens/s")
    hf, t_hf = best_of(
        lambda: hf_batched(model, prefixes, tokenizer.pad_token_id, a.new), a.repeats
    )
    print(
        f"batched model.generate    : {t_hf:7.2f} s  {n_tokens / t_hf:10,.0f} tokens/s  "
        f"identical to loop: {bool((hf == loop).all())}"
    )
    ours, t_ours = best_of(
        lambda: greedy_continuations(
            model, tokenizer, prefixes, max_new_tokens=a.new, batch_size=a.batch_size
        ),
        a.repeats,
    )
    same = bool((ours == loop).all())
    print(
        f"greedy_continuations      : {t_ours:7.2f} s  {n_tokens / t_ours:10,.0f} tokens/s  "
        f"identical to loop: {same} ({int((ours != loop).any(1).sum())} rows differ)"
    )
    print(f"speedup {t_loop / t_ours:.1f}x")


if __name__ == "__main__":
    main()
