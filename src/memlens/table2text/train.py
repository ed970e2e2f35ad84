"""Few-shot table-to-text with a tiny GPT-2: the plain model, + prompt planner, + knowledge adapter,
and both (PromptMize's full model).

Pipeline (:func:`prepare` once, then :func:`few_shot` per variant, shot count and seed):
a byte-level BPE tokenizer trained here; a base GPT-2 pre-trained on generic out-of-domain text;
zero-initialized bottleneck adapters added to it (the plain and planner variants fine-tune this
model, so every variant has the same parameters); a copy whose adapters alone are trained on the
unlabelled domain corpus (knowledge memorized on purpose). Few-shot fine-tuning trains every
parameter on ``table: … [prompt: …] text:`` → reference, the loss on the reference tokens only;
generation is greedy (:func:`memlens.lm.generate.greedy_continuations`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from memlens.errors import DataError
from memlens.lm.model import optimizer_step
from memlens.table2text.data import Example, check_table, linearize

#: variant -> (uses the prompt planner, starts from the knowledge-memorized adapters)
VARIANTS = {
    "plain": (False, False),
    "planner": (True, False),
    "adapter": (False, True),
    "full": (True, True),
}


@dataclass
class Prepared:
    """What every few-shot run starts from: the tokenizer, the base model with fresh (identity)
    adapters, the same base with knowledge-memorized adapters, and the two pre-training loss
    curves."""

    tokenizer: object
    base: object
    knowledge: object
    base_losses: np.ndarray
    knowledge_losses: np.ndarray


def prepare(
    generic: Sequence[str],
    knowledge_corpus: Sequence[str],
    labelled: Sequence[Example],
    *,
    n_layer: int = 2,
    n_embd: int = 128,
    n_head: int = 4,
    n_positions: int = 160,
    bottleneck: int = 64,
    base_epochs: int = 2,
    knowledge_epochs: int = 3,
    seed: int = 0,
) -> Prepared:
    """Train the tokenizer (on all text, tables included), pre-train the base on the generic
    corpus, then memorize the knowledge corpus in adapters with the base frozen."""
    from memlens.lm.corpus import train_tokenizer
    from memlens.lm.model import tiny_gpt2, train_lm
    from memlens.table2text.adapters import add_adapters, memorize_knowledge

    tables_text = [f"table: {linearize(ex.table)} prompt: text: {ex.reference}" for ex in labelled]
    tokenizer = train_tokenizer([*generic, *knowledge_corpus, *tables_text], vocab_size=1024)
    base = tiny_gpt2(len(tokenizer), n_layer=n_layer, n_embd=n_embd, n_head=n_head,
                     n_positions=n_positions, seed=seed)  # fmt: skip
    base_losses = train_lm(base, tokenizer, generic, epochs=base_epochs, batch_size=32, lr=3e-3,
                           seq_len=64, seed=seed)  # fmt: skip
    add_adapters(base, bottleneck=bottleneck, seed=seed)
    knowledge = copy.deepcopy(base)
    knowledge_losses = memorize_knowledge(knowledge, tokenizer, knowledge_corpus,
                                          epochs=knowledge_epochs, seed=seed)  # fmt: skip
    return Prepared(tokenizer, base, knowledge, base_losses, knowledge_losses)


def prefix_text(table: Mapping[str, str], prompt: str | None = None) -> str:
    """The generator's input: the linearized table, the planner's prompt if any, then ``text:``.

    >>> prefix_text({"name": "Anna Berg", "occupation": "painter"}, "Hugo Sato is a lawyer .")
    'table: name = Anna Berg ; occupation = painter prompt: Hugo Sato is a lawyer . text:'
    """
    check_table(table)
    middle = "" if prompt is None else f" prompt: {prompt}"
    return f"table: {linearize(table)}{middle} text:"


def _encode_pairs(tokenizer, prefixes: Sequence[str], targets: Sequence[str]):
    """Token ids ``[bos, prefix…, target…, eos]`` and how many of them are context."""
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    p_ids = tokenizer(list(prefixes), add_special_tokens=False)["input_ids"]
    t_ids = tokenizer([" " + t for t in targets], add_special_tokens=False)["input_ids"]
    return [([bos, *p, *t, tokenizer.eos_token_id], 1 + len(p)) for p, t in zip(p_ids, t_ids, strict=True)]


def finetune(
    model,
    tokenizer,
    prefixes: Sequence[str],
    targets: Sequence[str],
    *,
    steps: int = 300,
    batch_size: int = 16,
    lr: float = 2e-3,
    seed: int = 0,
) -> np.ndarray:
    """Train every parameter, in place, on prefix → target pairs with the loss on target tokens
    (and the closing eos) only; ``steps`` AdamW steps on shuffled batches, cosine decay.

    Returns:
        (steps,) float array of step losses.
    """
    import torch

    from memlens.lm.model import _pad, check_context

    pairs = _encode_pairs(tokenizer, prefixes, targets)
    check_context(model, max(len(ids) for ids, _ in pairs), what="A table, prompt and reference",
                  fix="Shorten the tables")  # fmt: skip
    rng = np.random.default_rng(seed)
    losses = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps)))
        )
        model.train()
        order = np.array([], dtype=int)
        try:
            for _ in range(steps):
                if len(order) < batch_size:
                    order = np.concatenate([order, rng.permutation(len(pairs))])
                batch, order = order[:batch_size], order[batch_size:]
                ids, mask = _pad([pairs[i][0] for i in batch], tokenizer.pad_token_id)  # (B, T)
                targets_ = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)  # (B, T-1)
                for row, i in enumerate(batch):
                    targets_[row, : pairs[i][1] - 1] = -100  # context tokens are not predicted
                logits = model(input_ids=ids, attention_mask=mask).logits  # (B, T, V)
                loss = torch.nn.functional.cross_entropy(
                    logits[:, :-1].reshape(-1, logits.shape[-1]), targets_.reshape(-1), ignore_index=-100
                )
                optimizer_step(model, opt, schedule, loss, losses)
        finally:
            model.eval()
    return np.asarray(losses)


def generate(model, tokenizer, prefixes: Sequence[str], *, max_new_tokens: int = 48) -> list[str]:
    """Greedy text after each prefix, cut at the first eos."""
    from memlens.lm.generate import greedy_continuations

    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    ids = [[bos, *p] for p in tokenizer(list(prefixes), add_special_tokens=False)["input_ids"]]
    out = greedy_continuations(model, tokenizer, ids, max_new_tokens=max_new_tokens, batch_size=128)
    texts = []
    for row in out:
        row = row.tolist()
        if tokenizer.eos_token_id in row:
            row = row[: row.index(tokenizer.eos_token_id)]
        texts.append(tokenizer.decode(row, skip_special_tokens=True).strip())
    return texts


def few_shot(
    prepared: Prepared,
    variant: str,
    train: Sequence[Example],
    test: Sequence[Example],
    *,
    steps: int = 300,
    seed: int = 0,
    max_new_tokens: int = 48,
) -> dict:
    """Fine-tune a copy of the variant's starting model on ``train`` and score it on ``test``.

    Returns:
        ``{"bleu4": float, "slot_coverage": float, "hypotheses": list[str]}`` (corpus BLEU-4 in
        [0, 100]; mean slot coverage in [0, 1]).
    """
    from memlens.table2text.metrics import bleu4, slot_coverage
    from memlens.table2text.planner import PromptPlanner

    if variant not in VARIANTS:
        raise DataError(f"Unknown variant {variant!r}; choose from {', '.join(VARIANTS)}.")
    use_planner, use_knowledge = VARIANTS[variant]
    if use_planner and len(train) < 2:
        raise DataError("The prompt planner needs at least two training examples (one to retrieve).")
    if use_planner:
        planner = PromptPlanner().fit(train)
        train_prompts = planner.prompts([ex.table for ex in train], exclude_self=True)
        test_prompts = planner.prompts([ex.table for ex in test])
    else:
        train_prompts = [None] * len(train)
        test_prompts = [None] * len(test)
    model = copy.deepcopy(prepared.knowledge if use_knowledge else prepared.base)
    finetune(model, prepared.tokenizer,
             [prefix_text(ex.table, p) for ex, p in zip(train, train_prompts, strict=True)],
             [ex.reference for ex in train], steps=steps, seed=seed)  # fmt: skip
    hypotheses = generate(model, prepared.tokenizer,
                          [prefix_text(ex.table, p) for ex, p in zip(test, test_prompts, strict=True)],
                          max_new_tokens=max_new_tokens)  # fmt: skip
    return {
        "bleu4": bleu4(hypotheses, [ex.reference for ex in test]),
        "slot_coverage": float(slot_coverage(hypotheses, [ex.table for ex in test]).mean()),
        "hypotheses": hypotheses,
    }
