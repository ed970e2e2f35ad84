"""The per-pair measures of memorization and hallucination against brute-force twins and hand cases."""

import itertools

import numpy as np
import pytest

from memlens.seq2seq import measures
from memlens.seq2seq.task import make_task


def brute_max_bigram(text):
    w = text.split()
    grams = [(w[i], w[i + 1]) for i in range(len(w) - 1)]
    return max((sum(g == h for h in grams) for g in grams), default=0)


def brute_natural(sources, outputs, references, k):
    out = []
    for o, r in zip(outputs, references, strict=True):
        distinct = {s for s, o2 in zip(sources, outputs, strict=True) if o2 == o}
        out.append(len(distinct) >= k and o != r)
    return np.array(out)


def brute_prefix_ratio(source, target, translate):
    words = source.split()
    for i in range(1, len(words) - 1):
        if translate(" ".join(words[:i])) == target:
            return i / len(words)
    return float("nan")


@pytest.mark.parametrize("text", ["", "a", "a b", "a b a b a b", "x y x y z x y", "a a a a", "p q r p q r p q"])
def test_max_bigram_matches_brute_force(text):
    assert measures.max_bigram_count(text) == brute_max_bigram(text)


def test_oscillatory_hand_cases():
    src = ["a b c d e", "a b a b a b a b a b", "a b c"]
    out = ["x y x y x y x y", "x y x y x y x y", "x y x y x y"]
    # 4 repeats > 3 and 4 - 1 > 2: yes; a source that oscillates as much: no; 3 repeats: no
    assert measures.oscillatory(src, out).tolist() == [True, False, False]
    assert measures.oscillatory(src[:1], out[:1], max_source_words=5).tolist() == [False]


def test_natural_matches_brute_force():
    rng = np.random.default_rng(0)
    sources = [f"s{rng.integers(0, 12)}" for _ in range(60)]
    outputs = [f"o{rng.integers(0, 6)}" for _ in range(60)]
    references = [o if rng.random() < 0.3 else "ref" for o in outputs]
    for k in (1, 3, 5):
        np.testing.assert_array_equal(measures.natural(sources, outputs, references, min_sources=k),
                                      brute_natural(sources, outputs, references, k))  # fmt: skip
    # one output for five distinct sources, wrong for all: a natural hallucination; for four: not
    s = ["a", "b", "c", "d", "e", "a"]
    assert measures.natural(s, ["z"] * 6, ["r"] * 6).all()
    assert not measures.natural(s[:4], ["z"] * 4, ["r"] * 4).any()


def test_prefix_ratio_matches_brute_force():
    # a "model" that emits the memorized target once it has seen the first k words
    target = "MEMORIZED TARGET"
    for n, k in itertools.product(range(3, 9), range(1, 9)):
        source = " ".join(f"w{i}" for i in range(n))
        translate = lambda p, k=k: target if len(p.split()) >= k else "other"  # noqa: E731
        got = measures.prefix_ratio(source, target, [translate(p) for p in measures.prefixes(source)])
        want = brute_prefix_ratio(source, target, translate)
        assert (np.isnan(got) and np.isnan(want)) or got == want
        if k <= n - 2:
            assert got == k / n
    assert measures.extractive([0.5, 0.75, 0.8, np.nan]).tolist() == [True, True, False, False]
    with pytest.raises(ValueError, match="prefixes"):
        measures.prefix_ratio("a b c d", "t", ["x"])


def test_basic_filter_and_replication():
    train, _, rule = make_task(20, min_len=5, max_len=5, seed=1)
    s = train.sources[next(i for i, k in enumerate(train.kinds) if k == "clean")]
    t = rule.translate(s)
    assert measures.basic_filter(s, t, language=rule.language)
    assert not measures.basic_filter(s, s)  # a copy
    assert not measures.basic_filter(s, t, language=lambda x: "source")  # wrong target language
    assert not measures.basic_filter("ba de gi", "fa fa fa")  # source under 4 words
    assert not measures.basic_filter(s, "fa " * 7)  # 7/5 > 1.3
    assert measures.basic_filter(s, "fa fa fa fa fa fa")  # 6/5 <= 1.3
    assert measures.replicated(["a b", "a c ", ""], ["a b", "a c", "x"]).tolist() == [True, True, False]


def test_chrf_and_probability_hand_cases():
    scores = measures.chrf(["the cat sat", "qqq", "the cat"], ["the cat sat", "zzz", "the cat sat"])
    assert scores[0] == pytest.approx(100.0) and scores[1] == pytest.approx(0.0) and 0 < scores[2] < 100
    assert measures.corpus_chrf(["a b c"], ["a b c"]) == pytest.approx(100.0)
    np.testing.assert_allclose(measures.geometric_mean_prob([np.log(0.25) * 2, 0.0], [2, 3]), [0.25, 1.0])
    with pytest.raises(ValueError):
        measures.geometric_mean_prob([0.0], [0])
