"""The synthetic domain: references state the table and its implied facts; bad input is refused."""

import numpy as np
import pytest

from memlens.errors import DataError
from memlens.table2text.data import (
    CITY_NATIONALITY,
    EMPLOYER_CITY,
    TEMPLATES,
    check_table,
    few_shot_sample,
    knowledge_corpus,
    labelled_examples,
    realize,
)
from memlens.table2text.metrics import slot_coverage


def test_references_realize_every_slot_and_the_implied_facts():
    examples = labelled_examples(200, np.random.default_rng(0))
    assert slot_coverage([e.reference for e in examples], [e.table for e in examples]).min() == 1.0
    for e in examples:
        if "employer" in e.table:
            assert EMPLOYER_CITY[e.table["employer"]] in e.reference
        if "birthplace" in e.table:
            assert CITY_NATIONALITY[e.table["birthplace"]] in e.reference
    assert len({frozenset(k for k in e.table if k not in ("name", "occupation")) for e in examples}) == len(TEMPLATES)


def test_knowledge_corpus_states_every_fact_and_no_table():
    corpus = knowledge_corpus(50, np.random.default_rng(0))
    text = "\n".join(corpus)
    assert all(f"{e} is based in {c}" in text for e, c in EMPLOYER_CITY.items())
    assert "=" not in text and "table:" not in text


def test_table_without_required_slots_is_refused():
    with pytest.raises(DataError, match="lacks the required slot.*occupation"):
        realize({"name": "Anna Berg", "birthplace": "Porto"})
    with pytest.raises(DataError, match="unknown slot"):
        check_table({"name": "A", "occupation": "painter", "hobby": "chess"})
    with pytest.raises(DataError, match="empty value"):
        check_table({"name": " ", "occupation": "painter"})


def test_few_shot_size_larger_than_the_data_is_refused():
    examples = labelled_examples(10, np.random.default_rng(0))
    with pytest.raises(DataError, match="few-shot size of 11 needs at least 11"):
        few_shot_sample(examples, 11, np.random.default_rng(0))
    with pytest.raises(DataError, match=">= 1"):
        few_shot_sample(examples, 0, np.random.default_rng(0))
    assert len({id(e) for e in few_shot_sample(examples, 10, np.random.default_rng(0))}) == 10
