"""BLEU-4 against hand computations and slot coverage on hand cases."""

import math

import numpy as np
import pytest

from memlens.errors import DataError
from memlens.table2text.metrics import bleu4, slot_coverage

pytest.importorskip("sacrebleu")


def test_bleu4_identical_is_100():
    assert bleu4(["the cat sat on the mat ."], ["the cat sat on the mat ."]) == pytest.approx(100.0)


def test_bleu4_brevity_penalty_by_hand():
    # every n-gram matches; 5 of 6 tokens: BP = exp(1 - 6/5)
    assert bleu4(["the cat sat on the"], ["the cat sat on the mat"]) == pytest.approx(
        100 * math.exp(1 - 6 / 5), abs=1e-6
    )


def test_bleu4_partial_ngrams_by_hand():
    # hyp "the cat sat on a mat" vs "the cat sat on the mat": clipped matches 5/6, 3/5, 2/4, 1/3
    expected = 100 * (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25
    assert bleu4(["the cat sat on a mat"], ["the cat sat on the mat"]) == pytest.approx(expected, abs=1e-6)


def test_bleu4_is_a_corpus_score_not_a_mean():
    # corpus BLEU pools n-gram counts: two sentences, (6/6…) and (5/6, 3/5, 2/4, 1/3) -> pooled
    hyps = ["the cat sat on the mat", "the cat sat on a mat"]
    refs = ["the cat sat on the mat", "the cat sat on the mat"]
    expected = 100 * (11 / 12 * 8 / 10 * 6 / 8 * 4 / 6) ** 0.25
    assert bleu4(hyps, refs) == pytest.approx(expected, abs=1e-6)


def test_bleu4_length_mismatch_is_a_clear_error():
    with pytest.raises(DataError, match="one reference per hypothesis"):
        bleu4(["a"], ["a", "b"])


def test_slot_coverage_hand_cases():
    tables = [
        {"name": "Anna Berg", "occupation": "painter"},
        {"name": "Anna Berg", "occupation": "painter", "employer": "Iris Academy"},
        {"name": "Anna Berg", "occupation": "painter"},
        {"name": "Anna Berg", "occupation": "painter", "birth_year": "1950"},
    ]
    hyps = [
        "anna berg IS A PAINTER .",  # case-insensitive: 2/2
        "Anna Berg works at Iris Academy .",  # occupation missing: 2/3
        "Annabel Bergman is a painters",  # no whole-token matches: 0/2
        "Berg Anna is a painter born 1950",  # the name out of order does not count: 2/3
    ]
    np.testing.assert_allclose(slot_coverage(hyps, tables), [1.0, 2 / 3, 0.0, 2 / 3])


def test_slot_coverage_errors():
    with pytest.raises(DataError, match="one table each"):
        slot_coverage(["x"], [])
    with pytest.raises(DataError, match="empty"):
        slot_coverage(["x"], [{}])
