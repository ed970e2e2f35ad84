"""CorpusIndex against a naive scan: Python loops over every document and offset."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memlens.errors import DataError
from memlens.lm.index import CorpusIndex, CorpusIndexError, Span

# --- the slow, obviously correct twin -------------------------------------------------------


def naive_occurrences(docs, ngram):
    """(doc, offset) of every occurrence of ``ngram`` inside one document."""
    ngram = list(ngram)
    m = len(ngram)
    return [
        (d, i)
        for d, doc in enumerate(docs)
        for i in range(len(doc) - m + 1)
        if list(doc[i : i + m]) == ngram
    ]


def naive_count(docs, ngram):
    return len(naive_occurrences(docs, ngram))


def naive_match_lengths(docs, generated):
    out = []
    for i in range(len(generated)):
        length = 0
        while i + length < len(generated) and naive_count(docs, generated[i : i + length + 1]):
            length += 1
        out.append(length)
    return out


# --- strategies ------------------------------------------------------------------------------

# Small alphabets give repeats; the wide one needs 2- and 4-byte encodings (>= 256, >= 65535).
ALPHABETS = [
    [0, 1, 2],
    [0, 1, 255, 256, 257],
    [0, 7, 255, 256, 65534, 65535, 65536, 70000, 2**24 + 5],
]


@st.composite
def corpus_and_queries(draw):
    alphabet = draw(st.sampled_from(ALPHABETS))
    token = st.sampled_from(alphabet)
    docs = draw(st.lists(st.lists(token, max_size=12), min_size=1, max_size=6))
    if not any(docs):
        docs[0] = [draw(token)]
    longest = max(len(d) for d in docs)
    # queries: random n-grams, n-grams cut from the corpus, and n-grams across each boundary
    queries = draw(st.lists(st.lists(token, min_size=1, max_size=longest), max_size=8))
    flat = [t for d in docs for t in d]
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, len(flat) - 1))
        queries.append(flat[i : i + draw(st.integers(1, longest))])
    for a, b in zip(docs, docs[1:], strict=False):
        if a and b:
            k = draw(st.integers(1, len(a)))
            j = draw(st.integers(1, len(b)))
            q = a[-k:] + b[:j]
            if len(q) <= longest:
                queries.append(q)
    generated = draw(st.lists(st.sampled_from([*alphabet, 3, 99999]), max_size=20))
    return docs, queries, generated


@settings(max_examples=300, deadline=None)
@given(corpus_and_queries())
def test_matches_naive_scan(case):
    docs, queries, generated = case
    index = CorpusIndex(docs)
    for q in queries:
        occ = naive_occurrences(docs, q)
        assert index.count(q) == len(occ), (docs, q)
        assert index.contains(q) == bool(occ)
        assert index.documents(q).tolist() == sorted({d for d, _ in occ})
        starts = index.doc_offsets[[d for d, _ in occ]] + [i for _, i in occ]
        assert index.positions(q).tolist() == sorted(starts.tolist())
        assert index.doc_of_position(index.positions(q)).tolist() == sorted(d for d, _ in occ)
    by_length = {}
    for q in queries:
        by_length.setdefault(len(q), []).append(q)
    for qs in by_length.values():  # the vectorized search agrees with the C one
        assert index.count_many(np.array(qs)).tolist() == [naive_count(docs, q) for q in qs]

    expected = naive_match_lengths(docs, generated)
    assert index.match_lengths(generated).tolist() == expected
    span = index.longest_verbatim_span(generated)
    best = max(expected, default=0)
    assert span.length == best
    if best == 0:
        assert span == Span(0, 0, -1)
    else:
        assert span.start == expected.index(best)
        hit = generated[span.start : span.start + best]
        assert span.doc == min(d for d, _ in naive_occurrences(docs, hit))
    for n in (1, 2, 3):
        if n <= index.max_document_length:
            want = [
                naive_count(docs, generated[i : i + n]) > 0 for i in range(len(generated) - n + 1)
            ]
            assert index.ngram_in_corpus_mask(generated, n).tolist() == want


def test_separator_never_matches_across_documents():
    index = CorpusIndex([[5, 6, 7], [8, 9], [5, 6]])
    assert index.sep == 10
    assert index.count([7, 8]) == 0 and index.count([6, 7]) == 1 and index.count([5, 6]) == 2
    assert index.count([7, 10]) == 0 and index.count([10]) == 0  # the separator id itself
    assert index.count_many(np.array([[7, 8], [7, 10], [9, 5]])).tolist() == [0, 0, 0]
    assert index.longest_verbatim_span([6, 7, 8, 9]) == Span(2, 0, 0)
    assert index.match_lengths([7, 10, 8]).tolist() == [1, 0, 1]


def test_repeated_ngrams_and_wide_tokens():
    doc = [70000, 300, 70000, 300, 70000]  # 4-byte tokens, overlapping occurrences
    index = CorpusIndex([doc, [300, 70000], [1]])
    assert index.width == 4
    assert index.count([70000, 300, 70000]) == 2
    assert index.count([70000]) == 4
    assert index.documents([300, 70000]).tolist() == [0, 1]
    # 300 = 0x012C and 44 = 0x2C share a low byte: a misaligned byte match must not count
    assert CorpusIndex([[300, 300], [44, 1]]).count([44, 1]) == 1
    assert CorpusIndex([[1, 44, 1, 300]]).count([300]) == 1
    assert CorpusIndex([[0x0101, 0x0101]]).count([0x0101, 0x0101]) == 1
    # bytes 01 02 03 04 contain 02 03 at an odd offset: token 0x0203 does not occur
    wide = CorpusIndex([[0x0102, 0x0304], [7]])
    assert wide.count([0x0203]) == 0 and wide.count_many(np.array([[0x0203]])).tolist() == [0]
    assert wide.match_lengths([0x0203, 0x0304]).tolist() == [0, 1]


def test_long_generation_grows_its_window():
    rng = np.random.default_rng(0)
    doc = rng.integers(0, 50, size=500)
    index = CorpusIndex([doc, rng.integers(0, 50, size=100)])
    generated = np.concatenate([[60, 61], doc[100:300], [62]])  # a 200-token copy
    span = index.longest_verbatim_span(generated)
    assert span == Span(200, 2, 0)
    assert index.match_lengths(generated)[2:202].tolist() == list(range(200, 0, -1))


def test_save_load_round_trip(tmp_path):
    docs = [[1, 2, 3, 1, 2], [300, 2, 3], [], [2]]
    index = CorpusIndex(docs)
    index.save(tmp_path / "ix")
    loaded = CorpusIndex.load(tmp_path / "ix")
    assert isinstance(loaded.suffix_array, np.memmap)
    assert not loaded.tokens.flags.writeable
    for a, b in zip(index._arrays(), loaded._arrays(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert loaded.memory_bytes == index.memory_bytes
    for q in ([1, 2], [2, 3], [3, 300], [300], [2]):
        assert loaded.count(q) == index.count(q)
        assert loaded.documents(q).tolist() == index.documents(q).tolist()
    assert loaded.count_many(np.array([[1, 2], [2, 3]])).tolist() == [2, 2]
    assert loaded.longest_verbatim_span([9, 300, 2, 3, 1]) == Span(3, 1, 1)
    assert (loaded.n_documents, loaded.n_tokens) == (4, 9)

    with pytest.raises(CorpusIndexError, match="already exists"):
        index.save(tmp_path / "ix")
    index.save(tmp_path / "ix", overwrite=True)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(CorpusIndexError, match="not a corpus index"):
        index.save(tmp_path / "other", overwrite=True)
    assert (tmp_path / "other" / "notes.txt").exists()


def test_load_refuses_foreign_or_damaged_folder(tmp_path):
    with pytest.raises(CorpusIndexError, match="not a folder"):
        CorpusIndex.load(tmp_path / "missing")
    (tmp_path / "foreign").mkdir()
    with pytest.raises(CorpusIndexError, match="no index.json"):
        CorpusIndex.load(tmp_path / "foreign")
    (tmp_path / "foreign" / "index.json").write_text('{"format": "something-else"}')
    with pytest.raises(CorpusIndexError, match="not a memlens corpus index"):
        CorpusIndex.load(tmp_path / "foreign")

    path = CorpusIndex([[1, 2, 3], [4, 5, 6, 7]]).save(tmp_path / "ix")
    meta = json.loads((path / "index.json").read_text())
    (path / "index.json").write_text(json.dumps({**meta, "version": 99}))
    with pytest.raises(CorpusIndexError, match="version 99"):
        CorpusIndex.load(path)
    (path / "index.json").write_text(json.dumps(meta))

    sa = path / "suffix_array.npy"
    good = sa.read_bytes()
    sa.write_bytes(good[:-4])  # truncated
    with pytest.raises(CorpusIndexError, match="suffix_array.npy does not match its checksum"):
        CorpusIndex.load(path)
    with pytest.raises(CorpusIndexError, match="damaged"):
        CorpusIndex.load(path, verify=False)
    sa.write_bytes(good)
    (path / "doc_offsets.npy").unlink()
    with pytest.raises(CorpusIndexError, match="doc_offsets.npy is missing"):
        CorpusIndex.load(path)
    (path / "index.json").write_text("{not json")
    with pytest.raises(CorpusIndexError, match="index.json is damaged"):
        CorpusIndex.load(path)


def test_bad_input():
    with pytest.raises(DataError, match="empty corpus"):
        CorpusIndex([])
    with pytest.raises(DataError, match="empty corpus"):
        CorpusIndex([[], []])
    with pytest.raises(TypeError, match="integer token ids"):
        CorpusIndex([[1.0, 2.0]])
    with pytest.raises(TypeError, match="integer token ids"):
        CorpusIndex([["a", "b"]])
    with pytest.raises(DataError, match=">= 0"):
        CorpusIndex([[1, -2]])
    with pytest.raises(DataError, match="<= "):
        CorpusIndex([[2**40]])
    with pytest.raises(DataError, match="1-D"):
        CorpusIndex([[[1, 2]]])
    with pytest.raises(DataError, match="list of token sequences"):
        CorpusIndex(np.arange(5))

    index = CorpusIndex([[1, 2, 3], [4, 5]])
    with pytest.raises(DataError, match="longest document has 3"):
        index.count([1, 2, 3, 4])
    with pytest.raises(DataError, match="longest document"):
        index.count_many(np.ones((2, 4), dtype=int))
    with pytest.raises(DataError, match="longest document"):
        index.ngram_in_corpus_mask([1, 2], 4)
    with pytest.raises(DataError, match="at least one token"):
        index.count([])
    with pytest.raises(TypeError, match="integer token ids"):
        index.count([1.5])
    with pytest.raises(TypeError, match="integer token ids"):
        index.longest_verbatim_span(np.array([1.0, 2.0]))
    with pytest.raises(DataError, match="n must be >= 1"):
        index.ngram_in_corpus_mask([1, 2], 0)
    # tokens the corpus cannot hold are simply absent, not errors
    assert index.count([-1]) == 0 and index.count([99]) == 0 and not index.contains([2**62])
    assert index.count_many(np.array([[1, 2], [-1, 2], [1, 99]], dtype=np.int64)).tolist() == [
        1,
        0,
        0,
    ]
    assert index.ngram_in_corpus_mask([1], 2).shape == (0,)
    assert index.longest_verbatim_span([]) == Span(0, 0, -1)
    assert index.longest_verbatim_span([9, 9]) == Span(0, 0, -1)
