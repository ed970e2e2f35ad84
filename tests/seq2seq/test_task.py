"""The synthetic translation task's options: one-to-many senses drawn with their configured
frequencies, variable target length (fertility), misaligned targets of other lengths, and the
defaults that keep the task's first version."""

import numpy as np
import pytest

from memlens.errors import DataError
from memlens.seq2seq.task import make_task


def unswap(items):
    """Undo the adjacent-pair swap on a list of per-source-word items."""
    items = list(items)
    for i in range(0, len(items) - 1, 2):
        items[i], items[i + 1] = items[i + 1], items[i]
    return items


def test_defaults_are_one_word_one_sense_and_targets_are_rule_translations():
    train, test, rule = make_task(300, seed=5)
    assert rule.ambiguous_words() == [] and all(len(s) == 1 and len(s[0]) == 1 for s in rule.lexicon.values())
    for s, t, r, k in zip(train.sources, train.targets, train.references, train.kinds, strict=True):
        assert r == rule.translate(s)
        if k == "clean":
            # brute-force twin of the rule: word by word through the lexicon, then the swap
            assert t.split() == unswap(rule.lexicon[w][0][0] for w in s.split())
        if k == "misaligned":  # the first version's misaligned targets keep the source's length
            assert len(t.split()) == len(s.split()) and t != r
    assert test.targets == test.references
    again = make_task(300, seed=5)[0]
    assert again.fingerprint() == train.fingerprint() and make_task(300, seed=6)[0].fingerprint() != train.fingerprint()


def test_one_to_many_references_use_each_sense_with_its_weight():
    weights = (0.7, 0.2, 0.1)
    train, test, rule = make_task(3000, ambiguous=0.5, sense_weights=weights, misaligned=0.0, copies=0.0,
                                  boilerplate=0.0, seed=2)  # fmt: skip
    ambiguous = set(rule.ambiguous_words())
    assert len(ambiguous) == 100  # half of the 200 words
    counts = np.zeros(3)
    for s, t, r in zip(train.sources, train.targets, train.references, strict=True):
        words = s.split()
        # fertility is one word: target position j translates source word j after the swap
        for w, out, mode in zip(words, unswap(t.split()), unswap(r.split()), strict=True):
            senses = [x[0] for x in rule.lexicon[w]]
            assert out in senses and mode == senses[0]  # a valid translation; the reference is the mode
            if w in ambiguous:
                counts[senses.index(out)] += 1
    n = counts.sum()
    assert n > 5000
    observed = counts / n
    np.testing.assert_allclose(observed, weights, atol=4 * np.sqrt(0.25 / n))  # ±4 binomial sd
    # test references are drawn the same way (one-to-many), not the mode
    assert np.mean([a == b for a, b in zip(test.targets, test.references, strict=True)]) < 0.5


def test_fertility_gives_variable_length_targets_with_the_configured_mix():
    fertility = (0.2, 0.5, 0.3)
    train, _, rule = make_task(500, vocab=2000, fertility=fertility, misaligned=0.0, copies=0.0,
                               boilerplate=0.0, seed=4)  # fmt: skip
    sizes = np.array([len(s[0]) for s in rule.lexicon.values()])
    np.testing.assert_allclose(np.bincount(sizes, minlength=3) / len(sizes), fertility, atol=4 * np.sqrt(0.25 / 2000))
    for s, t in zip(train.sources, train.targets, strict=True):
        phrases = [rule.lexicon[w][0] for w in s.split()]
        assert t.split() == [x for p in unswap(phrases) for x in p]  # brute-force twin with phrases
    ratio = np.array([len(t.split()) / len(s.split()) for s, t in zip(train.sources, train.targets, strict=True)])
    assert np.mean(ratio != 1.0) > 0.6  # length no longer pins the output (about 80% differ here)
    assert abs(ratio.mean() - 1.1) < 0.05  # expected target words per source word: 0.5 + 2 * 0.3
    assert all(rule.language(t) == "target" for t in train.targets if t)


def test_misaligned_targets_of_any_length():
    kw = {"n_pairs": 2000, "misaligned": 0.1, "copies": 0.0, "boilerplate": 0.0, "seed": 1}
    same, _, _ = make_task(**kw)
    other, _, rule = make_task(**kw, misaligned_length="any")
    for pairs, want_same in ((same, True), (other, False)):
        mis = [i for i, k in enumerate(pairs.kinds) if k == "misaligned"]
        assert len(mis) == 200
        equal = np.mean([len(pairs.targets[i].split()) == len(pairs.sources[i].split()) for i in mis])
        if want_same:
            assert equal == 1.0
        else:  # lengths 5..12 drawn independently: equal about 1/8 of the time
            assert equal < 0.3
        assert all(pairs.targets[i] != pairs.references[i] for i in mis)


def test_bad_task_options_are_refused():
    with pytest.raises(DataError, match="must sum to 1"):
        make_task(20, fertility=(0.5, 0.6, 0.0))
    with pytest.raises(DataError, match="decreasing order"):
        make_task(20, ambiguous=0.2, sense_weights=(0.3, 0.7))
    with pytest.raises(DataError, match=">= 2 positive"):
        make_task(20, ambiguous=0.2, sense_weights=(1.0,))
    with pytest.raises(DataError, match="in \\[0, 1\\]"):
        make_task(20, ambiguous=1.5)
    with pytest.raises(DataError, match="'same' or 'any'"):
        make_task(20, misaligned_length="longer")


def test_repeats_share_a_clean_source_with_independent_references():
    kw = {"n_pairs": 1000, "ambiguous": 0.5, "fertility": (0.0, 1.0, 0.0), "seed": 7}
    single, _, _ = make_task(**kw)
    train, _, rule = make_task(**kw, repeats=2)
    kinds = np.array(train.kinds)
    assert kinds.tolist() == list(single.kinds)  # the same planted noise, on the same ids
    for i in np.flatnonzero(kinds != "clean"):  # noise pairs are untouched
        assert (train.sources[i], train.targets[i]) == (single.sources[i], single.targets[i])
    clean = np.flatnonzero(kinds == "clean")
    groups = {}
    for i in clean:
        groups.setdefault(train.sources[i], []).append(i)
    assert sorted(len(g) for g in groups.values())[-1] == 2 and sum(len(g) == 2 for g in groups.values()) == len(clean) // 2
    differ = 0
    for a, b in (g for g in groups.values() if len(g) == 2):
        for i in (a, b):  # each is a valid translation: every target word is a sense of its source word
            words = train.sources[i].split()
            assert all(t in [x[0] for x in rule.lexicon[w]] for w, t in zip(words, unswap(train.targets[i].split()), strict=True))
        differ += train.targets[a] != train.targets[b]
    # two independent draws of a sentence with ~4 two-sense words (60/40) agree with p ≈ 0.52^4 ≈ 0.07
    assert differ / (len(clean) // 2) > 0.8
    with pytest.raises(DataError, match="repeats"):
        make_task(20, repeats=0)
