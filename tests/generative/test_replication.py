"""Replication detection (Gu et al.): exact nearest/second-nearest search, flags, ratios, galleries."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from memlens.errors import MemlensError
from memlens.estimate import clopper_pearson
from memlens.generative.replication import (
    ReplicationInputError,
    feature_space_replication,
    gallery_rows,
    max_over_snapshots,
    memorization_ratio,
    nearest_two,
    quantize_8bit,
    replication_scores,
)


def brute_two(queries, references):
    """Full pairwise squared distances (int64 / float64), two smallest per row, ties to lower row."""
    q = queries.astype(np.int64 if queries.dtype == np.uint8 else np.float64)
    r = references.astype(q.dtype)
    d = np.stack([((r - row) ** 2).sum(axis=1) for row in q])  # (B, N)
    rows = np.broadcast_to(np.arange(r.shape[0]), d.shape)
    order = np.lexsort((rows, d), axis=1)[:, :2]
    return order, np.take_along_axis(d, order, axis=1).astype(np.float64)


@pytest.mark.parametrize("backend", ["torch", "numpy"])
@pytest.mark.parametrize("dims,levels", [(3, 3), (64, 256), (784, 256), (1100, 4)])
def test_nearest_two_equals_brute_force_with_ties(backend, dims, levels):
    rng = np.random.default_rng(dims)
    refs = rng.integers(0, levels, (500, dims), dtype=np.uint8)
    refs[10] = refs[3]  # duplicated training image: an exact tie at distance 0
    refs[499] = refs[3]
    # over 256 queries when cheap, so there are several query blocks as well as reference blocks
    queries = rng.integers(0, levels, (300 if dims < 100 else 40, dims), dtype=np.uint8)
    queries[:5] = refs[[3, 0, 250, 499, 10]]
    # a tiny block budget forces many query and reference blocks, so the merge is exercised
    import torch

    threads = torch.get_num_threads()
    nn = nearest_two(queries, refs, block_bytes=40_000, backend=backend)
    assert torch.get_num_threads() == threads  # the worker threads' setting is restored
    index, sq = brute_two(queries, refs)
    np.testing.assert_array_equal(nn.index, index)
    np.testing.assert_array_equal(nn.sq_distance, sq)
    assert nn.index[0].tolist() == [3, 10] and nn.index[3].tolist() == [3, 10]
    if levels <= 4:
        assert (sq[:, 0] == sq[:, 1]).any()  # the low-level data really has ties to break


def test_search_memory_is_bounded_by_the_block_not_the_distance_matrix():
    import tracemalloc

    rng = np.random.default_rng(9)
    refs = rng.integers(0, 256, (10_000, 16), dtype=np.uint8)
    queries = rng.integers(0, 256, (1_000, 16), dtype=np.uint8)  # all distances: 80 MB of int64
    tracemalloc.start()
    nn = nearest_two(queries, refs, block_bytes=2 * 2**20, backend="numpy")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 12 * 2**20
    index, _ = brute_two(queries[:50], refs)
    np.testing.assert_array_equal(nn.index[:50], index)


def test_nearest_two_float_features_equals_brute_force():
    rng = np.random.default_rng(1)
    refs = rng.normal(size=(400, 12)) + 50.0  # an offset that would hurt an uncentred expansion
    queries = rng.normal(size=(60, 12)) + 50.0
    queries[0] = refs[7]
    nn = nearest_two(queries, refs, block_bytes=3_000)
    index, sq = brute_two(queries, refs)
    np.testing.assert_array_equal(nn.index, index)
    np.testing.assert_allclose(nn.sq_distance, sq, rtol=1e-9, atol=1e-9)
    assert nn.sq_distance[0, 0] == 0.0


def test_copies_flagged_and_fresh_noise_not():
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 256, (300, 8, 8), dtype=np.uint8)
    training = pixels / 127.5 - 1.0  # 8-bit images loaded in [-1, 1], as EDM does
    copies = training[rng.choice(300, 25, replace=False)]
    noise = np.clip(rng.normal(size=(60, 8, 8)), -1, 1)  # the control: nothing to copy
    samples = np.concatenate([copies, noise])
    r = replication_scores(samples, training)
    assert r.replicated[:25].all() and not r.replicated[25:].any()
    assert (r.nearest_distance[:25] == 0).all() and (r.ratio[:25] == 0).all()
    assert (r.ratio[25:] > 0.8).all()  # noise sits about equally far from every image
    est = memorization_ratio(r.replicated)
    assert (est.flagged, est.n_samples) == (25, 85)
    # a copy of an image the training set holds twice: no single image was copied
    dup_train = np.concatenate([training, training[:1]])
    r2 = replication_scores(training[:1], dup_train)
    assert r2.ratio[0] == 1.0 and not r2.replicated[0] and {r2.nearest[0], r2.second[0]} == {0, 300}


def test_quantization_is_edm_png_convention():
    rng = np.random.default_rng(3)
    x = rng.uniform(-1.3, 1.3, size=10_000)
    edm = np.clip(x * 127.5 + 128, 0, 255).astype(np.uint8)  # generate.py's PNG pixels
    np.testing.assert_array_equal(quantize_8bit(x), edm)
    np.testing.assert_array_equal(
        quantize_8bit(x.astype(np.float32)),
        np.clip(x.astype(np.float32).astype(np.float64) * 127.5 + 128, 0, 255).astype(np.uint8),
    )
    p = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(quantize_8bit(p / 127.5 - 1.0), p)  # [-1, 1] loaders
    np.testing.assert_array_equal(quantize_8bit(p / np.float32(255), value_range=(0, 1)), p)
    np.testing.assert_array_equal(quantize_8bit(p), p)


def test_flag_is_decided_on_requantized_pixels():
    # one-pixel images; training pixels 0 and 3; u is the sample's continuous pixel value
    training = np.array([[0.0], [3.0]]) / 127.5 - 1.0

    def sample(u):
        return np.array([[u / 127.5 - 1.0]])

    # u = 0.7: as floats 0.7 / 2.3 < 1/3, but the PNG holds pixel 1 (0.7 + 0.5 truncated), 1/2
    assert replication_scores(sample(0.7), training, quantize=False).replicated[0]
    r = replication_scores(sample(0.7), training)
    assert not r.replicated[0] and r.ratio[0] == 0.5
    assert replication_scores(sample(0.4), training).replicated[0]  # pixel 0: a copy
    # exactly 1/3 is not below 1/3: training 0 and 4, sample pixel 1
    r = replication_scores(np.array([[1]], dtype=np.uint8), np.array([[0], [4]], dtype=np.uint8))
    assert not r.replicated[0] and r.ratio[0] == pytest.approx(1 / 3)


def test_distances_are_mem_ratio_convention():
    rng = np.random.default_rng(4)
    training = rng.uniform(-1, 1, (120, 1, 6, 6))
    samples = np.clip(training[:30] + rng.normal(0, 0.05, (30, 1, 6, 6)), -1, 1)
    r = replication_scores(samples, training)
    # mem_ratio.py: cdist between 0-255 PNG pixels divided by sqrt(C*H*W), top-2, d1/d2 < 1/3
    s8 = quantize_8bit(samples).reshape(30, -1).astype(np.float64)
    t8 = quantize_8bit(training).reshape(120, -1).astype(np.float64)
    d = cdist(s8, t8) / np.sqrt(36)
    top = np.sort(d, axis=1)[:, :2]
    np.testing.assert_allclose(r.nearest_distance, top[:, 0], rtol=1e-12)
    np.testing.assert_allclose(r.second_distance, top[:, 1], rtol=1e-12)
    np.testing.assert_allclose(r.ratio, top[:, 0] / top[:, 1], rtol=1e-12)
    np.testing.assert_array_equal(r.replicated, top[:, 0] / top[:, 1] < 1 / 3)
    assert r.replicated.mean() > 0.5  # lightly perturbed copies are mostly still replicas


def test_memorization_ratio_interval_is_clopper_pearson_and_covers():
    est = memorization_ratio(np.array([True] * 7 + [False] * 13))
    assert est.ratio == 7 / 20 and (est.low, est.high) == clopper_pearson(7, 20)
    rng = np.random.default_rng(5)
    p, n, reps = 0.3, 40, 600
    hits = 0
    for _ in range(reps):
        e = memorization_ratio(rng.random(n) < p)
        hits += e.low <= p <= e.high
    assert hits / reps >= 0.93  # Clopper-Pearson is conservative: nominal 0.95 or more


def test_max_over_snapshots_and_its_simultaneous_interval():
    flags = [
        np.array([True, False, False, False]),
        np.array([True, True, True, False]),
        np.array([True, True, True, False, False, False]),
    ]
    m = max_over_snapshots(flags)
    assert m.best == 1 and m.ratio == 0.75 and m.ratios.tolist() == [0.25, 0.75, 0.5]
    assert (m.lows[1], m.highs[1]) == clopper_pearson(3, 4)
    assert m.low <= m.lows[1] and m.high >= m.highs[1]  # wider: it pays for choosing among 3
    rng = np.random.default_rng(6)
    true = np.array([0.2, 0.45, 0.5, 0.35])
    covered = 0
    for _ in range(400):
        snap = max_over_snapshots([rng.random(50) < q for q in true])
        covered += snap.low <= true.max() <= snap.high
    assert covered / 400 >= 0.93


def test_feature_space_equals_search_on_encoded_features():
    rng = np.random.default_rng(7)
    training = rng.uniform(0, 1, (200, 5, 5))
    samples = np.concatenate([training[:10], rng.uniform(0, 1, (20, 5, 5))])
    projection = rng.normal(size=(25, 6))
    calls = []

    def encoder(batch):
        calls.append(len(batch))
        return batch.reshape(len(batch), -1) @ projection  # (b, 6)

    r = feature_space_replication(samples, training, encoder, batch_size=64)
    assert max(calls) <= 64 and sum(calls) == 230
    index, sq = brute_two(
        samples.reshape(30, -1) @ projection, training.reshape(200, -1) @ projection
    )
    np.testing.assert_array_equal(np.stack([r.nearest, r.second], axis=1), index)
    np.testing.assert_allclose(r.nearest_distance, np.sqrt(sq[:, 0] / 6), atol=1e-12)
    assert r.replicated[:10].all()
    # the identity encoder is the pixel-space search without 8-bit quantization
    ident = feature_space_replication(samples, training, lambda b: b.reshape(len(b), -1))
    raw = replication_scores(samples, training, value_range=(0, 1), quantize=False)
    np.testing.assert_array_equal(ident.nearest, raw.nearest)
    np.testing.assert_allclose(ident.ratio, raw.ratio, rtol=1e-12)


def test_gallery_rows_most_replicated_first_with_dataset_ids():
    rng = np.random.default_rng(8)
    training = rng.integers(0, 256, (50, 16), dtype=np.uint8)
    samples = np.concatenate([rng.integers(0, 256, (4, 16), dtype=np.uint8), training[[5, 9]]])
    ids = np.arange(1000, 1050)
    r = replication_scores(samples, training, training_ids=ids)
    rows = gallery_rows(r, top=3)
    assert rows["sample"][:2].tolist() == [4, 5] and rows["nearest"][:2].tolist() == [1005, 1009]
    assert len(rows["sample"]) == 3 and np.all(np.diff(rows["ratio"]) >= 0)
    assert set(rows) == {
        "sample",
        "nearest",
        "nearest_distance",
        "second",
        "second_distance",
        "ratio",
        "replicated",
    }


def test_bad_input_is_refused_in_one_paragraph():
    good = np.zeros((3, 4, 4))
    with pytest.raises(ReplicationInputError, match="same image shape"):
        replication_scores(np.zeros((2, 5, 5)), good)
    with pytest.raises(ReplicationInputError, match="NaN or infinite"):
        replication_scores(np.full((2, 4, 4), np.nan), good)
    with pytest.raises(ReplicationInputError, match="value_range"):
        replication_scores(good, np.full((3, 4, 4), 200.0))  # 0-255 images, default (-1, 1)
    with pytest.raises(ReplicationInputError, match="at least 2"):
        replication_scores(good, good[:1])
    with pytest.raises(ReplicationInputError, match="batch, features"):
        feature_space_replication(good, good, lambda b: b)
    with pytest.raises(MemlensError, match="boolean"):
        memorization_ratio(np.array([0.5, 1.0]))


def test_bench_smoke(capsys):
    from bench import replication_search

    assert replication_search.main(["--smoke"]) == 0
    out = capsys.readouterr().out
    assert "0 real disagreements" in out and out.strip().splitlines()[-1].startswith("speedup ")
