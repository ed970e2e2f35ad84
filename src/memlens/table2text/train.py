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
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from memlens.errors import DataError
from memlens.lm.model import optimizer_step
from memlens.table2text.adapters import adapter_parameters, add_adapters
from memlens.table2text.data import Example, check_table, linearize

#: which knowledge-corpus tokens the adapters are trained to predict (:func:`memorize_in_adapters`)
KNOWLEDGE_LOSSES = ("all", "facts")
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
    n_layer: int = 3,
    n_embd: int = 128,
    n_head: int = 4,
    n_positions: int = 160,
    bottleneck: int = 64,
    base_epochs: int = 2,
    base_lr: float = 2e-3,
    knowledge_epochs: int = 3,
    knowledge_lr: float = 1e-2,
    knowledge_replay: Sequence[str] = (),
    knowledge_loss: str = "all",
    seed: int = 0,
    base_progress=None,
) -> Prepared:
    """Train the tokenizer (on all text, tables included), pre-train the base on the generic
    corpus, then memorize the knowledge corpus in adapters with the base frozen
    (:func:`memorize_in_adapters`).

    Pre-training windows are the whole context (``n_positions``), so a record's text is always
    trained with its table in view: copying is learnable only if the table is in the window.
    ``base_progress(base, tokenizer)`` (optional) is called after every base pre-training step,
    e.g. to probe copying as it emerges.
    """
    from memlens.lm.corpus import train_tokenizer
    from memlens.lm.model import tiny_gpt2, train_lm

    tables_text = [f"table: {linearize(ex.table)} prompt: text: {ex.reference}" for ex in labelled]
    tokenizer = train_tokenizer([*generic, *knowledge_corpus, *tables_text], vocab_size=1024)
    base = tiny_gpt2(len(tokenizer), n_layer=n_layer, n_embd=n_embd, n_head=n_head,
                     n_positions=n_positions, seed=seed)  # fmt: skip
    progress = None if base_progress is None else (lambda _: base_progress(base, tokenizer))
    base_losses = train_lm(base, tokenizer, generic, epochs=base_epochs, batch_size=32, lr=base_lr,
                           seq_len=n_positions, seed=seed, progress=progress)  # fmt: skip
    add_adapters(base, bottleneck=bottleneck, seed=seed)
    knowledge, knowledge_losses = memorize_in_adapters(
        base, tokenizer, knowledge_corpus, replay=knowledge_replay, epochs=knowledge_epochs,
        lr=knowledge_lr, knowledge_loss=knowledge_loss, seed=seed,
    )  # fmt: skip
    return Prepared(tokenizer, base, knowledge, base_losses, knowledge_losses)


def memorize_in_adapters(
    base,
    tokenizer,
    knowledge_corpus: Sequence[str],
    *,
    replay: Sequence[str] = (),
    epochs: int = 3,
    lr: float = 1e-2,
    knowledge_loss: str = "all",
    seed: int = 0,
):
    """A copy of ``base`` (with adapters) whose adapters alone are trained on the knowledge corpus
    plus ``replay`` texts; returns (the copy, its step losses).

    ``knowledge_loss``: which tokens of the knowledge corpus carry the loss. ``"all"``: every token
    (the adapters model whole biographies, names and occupations included). ``"facts"``: only the
    fact words (:func:`~memlens.table2text.data.fact_spans`: an employer's city, a birthplace's
    nationality, after their subject), so the adapters store the facts without a prior over the
    free values a table supplies. Replay texts are always trained on every token.

    ``replay``: generic records mixed in. Adapters trained on table-less domain text alone learn
    to write biographies from memory and break the base's copying (its copy probe fell from 0.99
    to 0.004 in experiments/promptmize.py); replaying records where values must be copied keeps
    that skill while the facts go in.
    """
    from memlens.table2text.adapters import memorize_knowledge
    from memlens.table2text.data import fact_spans

    if knowledge_loss not in KNOWLEDGE_LOSSES:
        raise DataError(f"Unknown knowledge_loss {knowledge_loss!r}; choose from {', '.join(KNOWLEDGE_LOSSES)}.")
    spans = None
    if knowledge_loss == "facts":
        spans = [fact_spans(t) for t in knowledge_corpus] + [None] * len(replay)
    knowledge = copy.deepcopy(base)
    losses = memorize_knowledge(knowledge, tokenizer, [*knowledge_corpus, *replay], epochs=epochs,
                                lr=lr, seq_len=base.config.n_positions, seed=seed,
                                loss_spans=spans)  # fmt: skip
    return knowledge, losses


def save_prepared(prepared: Prepared, path) -> None:
    """Save a :class:`Prepared` to the folder ``path`` (tokenizer, config, both models' weights,
    loss curves), so a rerun of the few-shot stage skips pre-training."""
    import torch

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    prepared.tokenizer.save_pretrained(path)
    prepared.base.config.to_json_file(path / "config.json")
    bottleneck = adapter_parameters(prepared.base)[0].shape[0]  # down.weight: (bottleneck, width)
    (path / "adapters.json").write_text(json.dumps({"bottleneck": int(bottleneck)}))
    torch.save({"base": prepared.base.state_dict(), "knowledge": prepared.knowledge.state_dict()},
               path / "weights.pt")  # fmt: skip
    np.savez(path / "losses.npz", base=prepared.base_losses, knowledge=prepared.knowledge_losses)


def load_prepared(path) -> Prepared:
    """The :class:`Prepared` that :func:`save_prepared` wrote to ``path``; :class:`DataError` when
    the folder does not hold one."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    path = Path(path)
    missing = [f for f in ("config.json", "adapters.json", "weights.pt", "losses.npz") if not (path / f).exists()]
    if missing:
        raise DataError(
            f"{path} holds no saved pre-trained models (missing {', '.join(missing)}); delete the folder "
            "and rerun, which pre-trains again and saves them."
        )
    tokenizer = PreTrainedTokenizerFast.from_pretrained(path)
    config = GPT2Config.from_json_file(path / "config.json")
    bottleneck = json.loads((path / "adapters.json").read_text())["bottleneck"]
    weights = torch.load(path / "weights.pt", weights_only=True)
    models = []
    for key in ("base", "knowledge"):
        model = add_adapters(GPT2LMHeadModel(config), bottleneck=bottleneck)
        model.load_state_dict(weights[key])
        model.generation_config.pad_token_id = config.pad_token_id
        models.append(model.eval())
    losses = np.load(path / "losses.npz")
    return Prepared(tokenizer, models[0], models[1], losses["base"], losses["knowledge"])


def copy_probe(model, tokenizer, records: Sequence[Example], *, max_new_tokens: int = 40) -> float:
    """Mean slot coverage of the model's greedy text after ``table: … text:`` for records whose
    values it has never seen (e.g. fresh :func:`~memlens.table2text.data.generic_records`): how
    well it copies values from a table, in [0, 1]; about 0 for an untrained model."""
    from memlens.table2text.metrics import slot_coverage

    prefixes = [f"table: {linearize(ex.table)} text:" for ex in records]
    hypotheses = generate(model, tokenizer, prefixes, max_new_tokens=max_new_tokens)
    return float(slot_coverage(hypotheses, [ex.table for ex in records]).mean())


def fact_probe(model, tokenizer, facts: Sequence[tuple[str, str]]) -> dict:
    """How well the model knows (statement, answer) facts such as ``("Norvik Labs is based in",
    "Malmo")``: the mean loss of the answer's tokens given the statement (nats/token) and the share
    of statements whose greedy continuation starts with the answer.

    Returns:
        ``{"answer_loss": float, "accuracy": float}``.
    """
    from memlens.lm.model import sequence_logprobs

    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    queries = tokenizer([q for q, _ in facts], add_special_tokens=False)["input_ids"]
    full = tokenizer([f"{q} {a}" for q, a in facts], add_special_tokens=False)["input_ids"]
    scored = sequence_logprobs(model, tokenizer, [[bos, *ids] for ids in full]).logprobs  # (N, T)
    # byte-level BPE splits at the space before the answer, so the query's tokens are a prefix
    answer_logprobs = np.concatenate([scored[i, len(q) : len(f)] for i, (q, f) in enumerate(zip(queries, full, strict=True))])
    completions = generate(model, tokenizer, [q for q, _ in facts], max_new_tokens=6)
    correct = [c.startswith(a) for c, (_, a) in zip(completions, facts, strict=True)]
    return {"answer_loss": float(-answer_logprobs.mean()), "accuracy": float(np.mean(correct))}


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
    freeze_adapters: bool = False,
) -> np.ndarray:
    """Train every parameter, in place, on prefix → target pairs with the loss on target tokens
    (and the closing eos) only; ``steps`` AdamW steps on shuffled batches, cosine decay.
    ``freeze_adapters``: train all but the adapters (what they memorized cannot be overwritten).

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
        frozen = adapter_parameters(model) if freeze_adapters else []
        for p in frozen:  # no gradient at all: the clipping norm is the trained weights' alone
            p.requires_grad_(False)
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
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
            for p in frozen:
                p.requires_grad_(True)
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
    lr: float = 2e-3,
    seed: int = 0,
    max_new_tokens: int = 48,
    freeze_adapters: bool = False,
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
             [ex.reference for ex in train], steps=steps, lr=lr, seed=seed,
             freeze_adapters=freeze_adapters)  # fmt: skip
    hypotheses = generate(model, prepared.tokenizer,
                          [prefix_text(ex.table, p) for ex, p in zip(test, test_prompts, strict=True)],
                          max_new_tokens=max_new_tokens)  # fmt: skip
    return {
        "bleu4": bleu4(hypotheses, [ex.reference for ex in test]),
        "slot_coverage": float(slot_coverage(hypotheses, [ex.table for ex in test]).mean()),
        "hypotheses": hypotheses,
    }
