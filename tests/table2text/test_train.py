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
