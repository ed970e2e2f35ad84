"""Controls for the few-shot pipeline: an untrained generator realizes no slots; the prompt
format; a variant name that does not exist."""

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("sacrebleu")

from memlens.errors import DataError  # noqa: E402
from memlens.table2text import data, train  # noqa: E402
from memlens.table2text.adapters import add_adapters  # noqa: E402
from memlens.table2text.metrics import slot_coverage  # noqa: E402


def test_untrained_model_realizes_almost_no_slots():
    from memlens.lm.corpus import train_tokenizer
    from memlens.lm.model import tiny_gpt2

    rng = np.random.default_rng(0)
    examples = data.labelled_examples(30, rng)
    tok = train_tokenizer(data.knowledge_corpus(200, rng), vocab_size=400)
    model = add_adapters(tiny_gpt2(len(tok), n_layer=1, n_embd=32, n_head=2, n_positions=128), bottleneck=4)
    hyps = train.generate(model, tok, [train.prefix_text(e.table) for e in examples], max_new_tokens=24)
    assert slot_coverage(hyps, [e.table for e in examples]).mean() <= 0.05
    # while the references themselves realize every slot (the metric can reach 1)
    assert slot_coverage([e.reference for e in examples], [e.table for e in examples]).mean() == 1.0


def test_unknown_variant_and_planner_without_neighbours():
    ex = data.labelled_examples(3, np.random.default_rng(0))
    with pytest.raises(DataError, match="Unknown variant"):
        train.few_shot(None, "bigger", ex, ex)
    with pytest.raises(DataError, match="at least two training examples"):
        train.few_shot(None, "planner", ex[:1], ex)


def test_prefix_refuses_a_table_without_required_slots():
    with pytest.raises(DataError, match="lacks the required slot"):
        train.prefix_text({"occupation": "painter"})


def _copy_records(n, rng):
    """One-slot records whose one-syllable title (70 of them, drawn per record) the text repeats:
    the value can only be predicted by copying it from the table."""
    titles = [data.pseudo_word(rng, syllables=(1, 1)) for _ in range(n)]
    return [data.Example({"title": t}, f"{t} .") for t in titles]


def test_copy_probe_of_a_base_pretrained_on_copy_records_beats_an_untrained_twin():
    from memlens.lm.corpus import train_tokenizer
    from memlens.lm.model import tiny_gpt2, train_lm

    records = _copy_records(12800, np.random.default_rng(0))
    corpus = [f"table: {data.linearize(e.table)} text: {e.reference}" for e in records]
    tok = train_tokenizer(corpus, vocab_size=400)
    unseen = _copy_records(40, np.random.default_rng(1))
    untrained = tiny_gpt2(len(tok), n_layer=1, n_embd=64, n_head=2, n_positions=16, seed=0)
    before = train.copy_probe(untrained, tok, unseen, max_new_tokens=3)
    losses = train_lm(untrained, tok, corpus, epochs=1, batch_size=32, lr=3e-3, seq_len=16, seed=0)
    after = train.copy_probe(untrained, tok, unseen, max_new_tokens=3)
    # 70 titles drawn per record: without copying, the best guess is right 1 time in 70
    assert before <= 0.05 and after >= 0.5, (before, after, losses[-5:])


def test_fact_probe_scores_the_answer_tokens_only():
    import torch

    from memlens.lm.corpus import train_tokenizer
    from memlens.lm.model import tiny_gpt2

    facts = data.fact_queries()[:5]
    tok = train_tokenizer([f"{q} {a} ." for q, a in data.fact_queries()] * 3, vocab_size=300)
    model = tiny_gpt2(len(tok), n_layer=1, n_embd=16, n_head=2, n_positions=32, seed=2)
    probe = train.fact_probe(model, tok, facts)
    # brute force: the answer's log-probabilities token by token, the query (and bos) as context
    total, count = 0.0, 0
    for q, a in facts:
        ids = [tok.bos_token_id, *tok(q, add_special_tokens=False)["input_ids"]]
        for t in tok(" " + a, add_special_tokens=False)["input_ids"]:
            with torch.no_grad():
                logp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0, -1], -1)
            total, count = total - float(logp[t]), count + 1
            ids.append(t)
    assert abs(probe["answer_loss"] - total / count) < 1e-4
    assert probe["accuracy"] == 0.0  # an untrained model knows no fact


def test_prepared_models_reload_with_identical_outputs(tmp_path):
    import torch

    rng = np.random.default_rng(0)
    prepared = train.prepare(
        data.generic_corpus(60, rng), data.knowledge_corpus(40, rng), data.labelled_examples(10, rng),
        n_layer=1, n_embd=16, n_head=2, n_positions=128, bottleneck=4, base_epochs=1, knowledge_epochs=1,
    )  # fmt: skip
    train.save_prepared(prepared, tmp_path / "prepared")
    again = train.load_prepared(tmp_path / "prepared")
    ids = torch.tensor([prepared.tokenizer("table: name = Anna Berg text:")["input_ids"]])
    for a, b in ((prepared.base, again.base), (prepared.knowledge, again.knowledge)):
        with torch.no_grad():
            torch.testing.assert_close(a(input_ids=ids).logits, b(input_ids=ids).logits, rtol=0, atol=0)
    # the knowledge adapters differ from the base's identity adapters, and that survives the reload
    with torch.no_grad():
        assert not torch.equal(again.base(input_ids=ids).logits, again.knowledge(input_ids=ids).logits)
    assert np.array_equal(again.knowledge_losses, prepared.knowledge_losses)
    assert again.tokenizer("Anna Berg")["input_ids"] == prepared.tokenizer("Anna Berg")["input_ids"]
    with pytest.raises(DataError, match="holds no saved pre-trained models"):
        train.load_prepared(tmp_path / "elsewhere")
