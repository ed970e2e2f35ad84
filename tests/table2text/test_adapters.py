"""Bottleneck adapters: a fresh adapter is the identity, knowledge memorization moves only the
adapters, and a copied model carries its own adapters."""

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from memlens.errors import MemlensError  # noqa: E402
from memlens.lm.corpus import train_tokenizer  # noqa: E402
from memlens.lm.model import tiny_gpt2  # noqa: E402
from memlens.table2text.adapters import (  # noqa: E402
    adapter_parameters,
    add_adapters,
    freeze_base,
    memorize_knowledge,
    span_labels,
)


def _model():
    return tiny_gpt2(300, n_layer=2, n_embd=32, n_head=2, n_positions=32, seed=3)


def _logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits


def test_zero_initialized_adapters_leave_outputs_identical_to_the_bare_twin():
    bare = _model()
    adapted = add_adapters(copy.deepcopy(bare), bottleneck=8, seed=1)
    ids = torch.randint(0, 300, (3, 20), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(_logits(adapted, ids), _logits(bare, ids), rtol=0, atol=0)
    # and the hook does run: a non-zero up-projection changes the outputs
    with torch.no_grad():
        adapter_parameters(adapted)[2].add_(0.5)  # block 0's up.weight
    assert not torch.allclose(_logits(adapted, ids), _logits(bare, ids))


def test_memorize_knowledge_trains_only_the_adapters():
    corpus = ["Norvik Labs is based in Malmo .", "Anna Berg works at Norvik Labs in Malmo ."] * 20
    tok = train_tokenizer(corpus, vocab_size=300)
    model = add_adapters(tiny_gpt2(len(tok), n_layer=2, n_embd=32, n_head=2, n_positions=32), bottleneck=8)
    adapter_ids = {id(p) for p in adapter_parameters(model)}
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    losses = memorize_knowledge(model, tok, corpus, epochs=3, batch_size=8, lr=1e-2, seq_len=32)
    assert losses[-3:].mean() < losses[:3].mean()
    for name, p in model.named_parameters():
        if id(p) in adapter_ids:
            continue
        assert torch.equal(p, before[name]), f"base weight {name} changed"
    moved = [n for n, p in model.named_parameters() if id(p) in adapter_ids and not torch.equal(p, before[n])]
    assert moved, "no adapter weight moved"
    assert all(p.requires_grad for p in model.parameters())  # unfrozen again for fine-tuning


def test_a_deep_copy_uses_its_own_adapters():
    model = add_adapters(_model(), bottleneck=8)
    twin = copy.deepcopy(model)
    with torch.no_grad():
        adapter_parameters(twin)[2].add_(0.5)
    ids = torch.randint(0, 300, (2, 10), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(_logits(model, ids), _logits(_model(), ids), rtol=0, atol=0)


def test_adapter_bad_input():
    model = add_adapters(_model(), bottleneck=4)
    with pytest.raises(MemlensError, match="already has"):
        add_adapters(model)
    with pytest.raises(MemlensError, match="add_adapters first"):
        freeze_base(_model())
    with pytest.raises(MemlensError, match="bottleneck must be >= 1"):
        add_adapters(_model(), bottleneck=0)


def test_span_labels_target_exactly_the_span_tokens():
    texts = ["Anna Berg works at Norvik Labs in Malmo .", "Porto is a Portuguese city ."]
    tok = train_tokenizer(texts * 10, vocab_size=300)
    malmo = texts[0].index("Malmo")
    (ids, labels), (ids2, labels2) = span_labels(tok, texts, [[(malmo, malmo + 5)], None])
    assert len(ids) == len(labels) and labels[0] == -100 and labels[-1] == -100
    assert tok.decode([t for t in labels if t != -100]).strip() == "Malmo"
    # no span: every token after bos is a target, the eos included
    assert labels2 == [-100, *ids2[1:]]
    with pytest.raises(MemlensError, match="one per text"):
        span_labels(tok, texts, [None])


def test_memorize_knowledge_on_spans_puts_the_loss_on_the_span_tokens_only():
    """Brute-force twin: with one batch, the first step's loss is the mean loss of the span tokens
    alone under the starting model; training then learns the fact (a frozen base pre-trained on
    the same sentences with other names and another city)."""
    from memlens.lm.model import sequence_logprobs, train_lm

    names = ("Anna Berg", "Hugo Sato", "Olga Dahl", "Nils Quist")
    corpus = [f"{n} works at Norvik Labs in Malmo ." for n in names]
    pretraining = [f"{n} works at Norvik Labs in Riga ." for n in ("Clara Costa", "David Ekman", "Felix Fischer")] * 10
    tok = train_tokenizer(corpus * 10 + pretraining, vocab_size=300)
    base = tiny_gpt2(len(tok), n_layer=2, n_embd=32, n_head=2, n_positions=32, seed=1)
    train_lm(base, tok, pretraining, epochs=15, batch_size=8, lr=1e-2, seq_len=32)
    add_adapters(base, bottleneck=8)
    spans = [[(t.index("Malmo"), t.index("Malmo") + 5)] for t in corpus]

    def span_loss(m):  # mean loss of the span tokens, every text
        pairs = span_labels(tok, corpus, spans)
        lp = sequence_logprobs(m, tok, [ids for ids, _ in pairs]).logprobs
        return -np.mean([lp[i, j - 1] for i, (_, labels) in enumerate(pairs) for j, lab in enumerate(labels) if lab != -100])

    def all_loss(m):  # every token after bos, the eos included (NaN pads the shorter rows)
        bos, eos = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id, tok.eos_token_id
        rows = [[bos, *ids, eos] for ids in tok(corpus, add_special_tokens=False)["input_ids"]]
        return -np.nanmean(sequence_logprobs(m, tok, rows).logprobs)

    for spans_, expected in ((spans, span_loss(base)), (None, all_loss(base))):
        model = copy.deepcopy(base)
        losses = memorize_knowledge(model, tok, corpus, epochs=1, batch_size=8, lr=1e-2, seq_len=32, loss_spans=spans_)
        assert losses[0] == pytest.approx(expected, rel=1e-4)
    on_spans = copy.deepcopy(base)
    memorize_knowledge(on_spans, tok, corpus * 10, epochs=10, batch_size=8, lr=1e-2, seq_len=32, loss_spans=spans * 10)
    assert span_loss(on_spans) < 0.5 * span_loss(base)
