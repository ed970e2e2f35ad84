"""The déjà vu estimators against brute-force twins, a no-memorization control and a planted effect."""

import itertools

import numpy as np
import pytest

from memlens.errors import MemlensError
from memlens.ssl import (
    DejaVuInputError,
    background_crop,
    correct_predictions,
    dataset_level_test,
    knn_label_inference,
    largest_background_box,
    sample_level_partition,
    symmetrized,
)

# --------------------------------------------------------------------------------------------
# brute-force twins


def naive_knn(queries, public, labels, k, n_classes):
    """Every distance by a Python loop, a stable sort, counts, entropy by the formula."""
    predicted, top5, histograms, confidences = [], [], [], []
    for q in queries:
        distances = [float(np.sum((q - p) ** 2)) for p in public]
        nearest = sorted(range(len(public)), key=lambda i: distances[i])[:k]
        counts = [0] * n_classes
        for i in nearest:
            counts[labels[i]] += 1
        order = sorted(range(n_classes), key=lambda c: (-counts[c], c))
        entropy = -sum(c / k * np.log(c / k) for c in counts if c > 0)
        predicted.append(order[0])
        top5.append(order[:5])
        histograms.append(counts)
        confidences.append(-entropy)
    return np.array(predicted), np.array(top5), np.array(histograms), np.array(confidences)


def naive_confident_accuracy(correct, confidence, n_keep):
    """Mean accuracy over every admissible top-n_keep set (all orders of the ties at the cut)."""
    order = sorted(range(len(correct)), key=lambda i: -confidence[i])
    cut = confidence[order[n_keep - 1]]
    above = [i for i in order if confidence[i] > cut]
    tied = [i for i in order if confidence[i] == cut]
    accuracies = [
        (sum(correct[i] for i in above) + sum(correct[i] for i in chosen)) / n_keep
        for chosen in itertools.combinations(tied, n_keep - len(above))
    ]
    return float(np.mean(accuracies))


def brute_force_free_rectangle(height, width, box):
    """The best (min side, area) over every rectangle that misses the box, or None."""
    bx0, by0, bx1, by1 = box
    best = None
    for x0 in range(width):
        for x1 in range(x0 + 1, width + 1):
            for y0 in range(height):
                for y1 in range(y0 + 1, height + 1):
                    if x0 < bx1 and bx0 < x1 and y0 < by1 and by0 < y1:
                        continue
                    key = (min(x1 - x0, y1 - y0), (x1 - x0) * (y1 - y0))
                    best = key if best is None or key > best else best
    return best


def clustered_public(rng, n_classes=10, per_class=60, dim=8, spread=0.3):
    """Public embeddings in one tight Gaussian cluster per class."""
    centres = rng.normal(0, 3, size=(n_classes, dim))
    labels = np.repeat(np.arange(n_classes), per_class)
    return centres[labels] + rng.normal(0, spread, size=(len(labels), dim)), labels, centres


def public_with_background(rng, n_classes=10, per_class=60, dim=8):
    """Each class's objects in a tight cluster far out, plus as many of its background-only
    points in one blob at the origin shared by all classes (backgrounds carry no label)."""
    objects, labels, centres = clustered_public(rng, n_classes, per_class, dim)
    objects = objects * 1.5  # centres ~ N(0, 4.5²): well away from the blob
    blob = rng.normal(0, 1, size=(n_classes * per_class, dim))
    return np.vstack([objects, blob]), np.concatenate([labels, labels]), centres * 1.5


# --------------------------------------------------------------------------------------------
# KNN decoding


@pytest.mark.parametrize("k", [1, 4, 13])
def test_knn_matches_naive_twin(k):
    rng = np.random.default_rng(k)
    public = rng.normal(size=(70, 5))
    labels = rng.integers(0, 7, size=70)
    queries = rng.normal(size=(25, 5))
    out = knn_label_inference(queries, public, labels, k=k, n_classes=8)
    predicted, top5, histogram, confidence = naive_knn(queries, public, labels, k, 8)
    np.testing.assert_array_equal(out.histogram, histogram)
    np.testing.assert_array_equal(out.predicted, predicted)
    np.testing.assert_array_equal(out.top5, top5)
    np.testing.assert_allclose(out.confidence, confidence, atol=1e-12)
    assert out.histogram.shape == (25, 8) and (out.histogram.sum(axis=1) == k).all()
    # neighbours come back nearest first
    d = ((queries[:, None, :] - public[out.neighbours]) ** 2).sum(-1)
    assert (np.diff(d, axis=1) >= -1e-12).all()


def test_knn_agrees_with_scikit_learn_classifier_and_scipy_entropy():
    from scipy.stats import entropy
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(3)
    public, labels, _ = clustered_public(rng, spread=2.0)
    queries = rng.normal(0, 3, size=(40, 8))
    out = knn_label_inference(queries, public, labels, k=20)
    classifier = KNeighborsClassifier(n_neighbors=20).fit(public, labels)
    np.testing.assert_array_equal(out.predicted, classifier.predict(queries))
    np.testing.assert_allclose(out.histogram / 20, classifier.predict_proba(queries))
    np.testing.assert_allclose(out.confidence, -entropy(out.histogram, axis=1), atol=1e-12)


def test_knn_class_ties_go_to_the_lower_class_and_confidence_bounds():
    public = np.array([[0.0], [0.1], [-0.1], [0.2], [10.0]])
    out = knn_label_inference(np.array([[0.0]]), public, np.array([3, 1, 3, 1, 0]), k=4)
    assert out.predicted.tolist() == [1]  # 2 votes each for classes 1 and 3
    assert out.top5[0, :2].tolist() == [1, 3]
    assert out.confidence[0] == pytest.approx(-np.log(2))
    pure = knn_label_inference(np.array([[10.0]]), public, np.array([3, 1, 3, 1, 0]), k=1)
    assert pure.confidence[0] == 0.0 and pure.predicted[0] == 0


# --------------------------------------------------------------------------------------------
# dataset-level test


def test_confident_accuracy_matches_naive_twin_with_heavy_ties():
    rng = np.random.default_rng(0)
    for _ in range(30):
        n = int(rng.integers(3, 13))
        labels = rng.integers(0, 3, size=n)
        pred_t, pred_r = rng.integers(0, 3, size=n), rng.integers(0, 3, size=n)
        # few distinct confidence values, as −entropy of small-k histograms gives
        conf_t = rng.integers(-3, 1, size=n) / 2.0
        conf_r = rng.integers(-3, 1, size=n) / 2.0
        fractions = (0.05, 0.2, 0.37, 0.5, 1.0)
        r = dataset_level_test(pred_t, conf_t, pred_r, conf_r, labels, fractions=fractions)
        for j, p in enumerate(fractions):
            n_keep = max(1, int(p * n + 1e-9))
            assert r.n_selected[j] == n_keep
            want_t = naive_confident_accuracy(pred_t == labels, conf_t, n_keep)
            want_r = naive_confident_accuracy(pred_r == labels, conf_r, n_keep)
            assert r.target_accuracy[j] == pytest.approx(want_t)
            assert r.reference_accuracy[j] == pytest.approx(want_r)
            assert r.gap[j] == pytest.approx(want_t - want_r)
        assert r.target_accuracy[-1] == pytest.approx(np.mean(pred_t == labels))


def test_confident_accuracy_does_not_depend_on_row_order():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, size=50)
    pred = rng.integers(0, 4, size=50)
    conf = rng.integers(-2, 1, size=50).astype(float)
    r = dataset_level_test(pred, conf, pred, conf, labels, fractions=(0.1, 0.3))
    perm = rng.permutation(50)
    s = dataset_level_test(
        pred[perm], conf[perm], pred[perm], conf[perm], labels[perm], fractions=(0.1, 0.3)
    )
    np.testing.assert_allclose(r.target_accuracy, s.target_accuracy)


def test_top5_predictions_score_a_hit_anywhere_in_the_row():
    labels = np.array([2, 0, 1])
    top = np.array([[0, 2], [1, 3], [1, 0]])
    assert correct_predictions(top, labels).tolist() == [True, False, True]
    r = dataset_level_test(top, [0, 0, 0], top[:, 0], [0, 0, 0], labels, fractions=(1.0,))
    assert r.target_accuracy[0] == pytest.approx(2 / 3)
    assert r.reference_accuracy[0] == pytest.approx(1 / 3)


# --------------------------------------------------------------------------------------------
# control: no memorization


def test_identical_target_and_reference_give_zero_gap_and_balanced_partition():
    rng = np.random.default_rng(5)
    public, public_labels, _ = clustered_public(rng)
    labels = rng.integers(0, 10, size=300)
    crops = rng.normal(0, 3, size=(300, 8))  # backgrounds: unrelated to the labels
    t = knn_label_inference(crops, public, public_labels, k=20)
    r = knn_label_inference(crops.copy(), public, public_labels, k=20)
    result = dataset_level_test(t.predicted, t.confidence, r.predicted, r.confidence, labels)
    np.testing.assert_array_equal(result.gap, 0.0)
    part = sample_level_partition(t.predicted == labels, r.predicted == labels)
    assert part.shares["memorized"] == part.shares["misrepresented"] == 0.0
    assert part.shares["correlated"] + part.shares["unassociated"] == pytest.approx(1.0)


def test_exchangeable_encoders_show_no_dejavu():
    """Two encoders that never saw the crops: gap and memorized − misrepresented within noise."""
    rng = np.random.default_rng(6)
    public, public_labels, centres = public_with_background(rng)
    n = 2000
    labels = rng.integers(0, 10, size=n)

    # both embed a crop near its own class centre 40% of the time (background correlates with
    # the class), elsewhere at random: same distribution, independent draws
    def embed():
        informative = rng.random(n) < 0.4
        return np.where(
            informative[:, None], centres[labels], rng.normal(0, 1, size=(n, 8))
        ) + rng.normal(0, 0.3, size=(n, 8))

    t = knn_label_inference(embed(), public, public_labels, k=20)
    r = knn_label_inference(embed(), public, public_labels, k=20)
    result = dataset_level_test(t.predicted, t.confidence, r.predicted, r.confidence, labels)
    assert np.abs(result.gap[1:]).max() < 0.07  # 20% (400 crops) and 100%
    part = sample_level_partition(t.predicted == labels, r.predicted == labels)
    assert abs(part.shares["memorized"] - part.shares["misrepresented"]) < 0.04
    assert part.shares["correlated"] > 0.15  # the background alone does reveal some labels


# --------------------------------------------------------------------------------------------
# planted effect


def test_planted_memorization_gives_large_gap_and_dejavu_share():
    rng = np.random.default_rng(7)
    public, public_labels, _ = public_with_background(rng)
    n = 1000
    labels = rng.integers(0, 10, size=n)
    memorized = rng.random(n) < 0.4
    # the target embeds 40% of its training crops right beside a public point of the true class
    anchor = np.array([rng.choice(np.flatnonzero(public_labels[:600] == y)) for y in labels])
    background = rng.normal(0, 1, size=(n, 8))
    target_crops = np.where(
        memorized[:, None], public[anchor] + rng.normal(0, 0.05, (n, 8)), background
    )
    reference_crops = rng.normal(0, 1, size=(n, 8))
    t = knn_label_inference(target_crops, public, public_labels, k=20)
    r = knn_label_inference(reference_crops, public, public_labels, k=20)
    result = dataset_level_test(t.predicted, t.confidence, r.predicted, r.confidence, labels)
    assert result.reference_accuracy[-1] < 0.16  # chance is 0.1
    assert result.target_accuracy[1] > 0.95  # the 20% most confident are memorized crops
    assert result.gap[1] > 0.7 and result.gap[1] > result.gap[-1] > 0.3
    part = sample_level_partition(t.predicted == labels, r.predicted == labels)
    # memorized crops the reference misses, plus background crops the target guesses by luck
    assert part.dejavu == pytest.approx(0.4 * 0.9 + 0.6 * 0.1 * 0.9, abs=0.05)
    assert part.dejavu > part.shares["misrepresented"] + 0.25

    # symmetrized with an unmemorized side B: the average of the two
    labels_b = rng.integers(0, 10, size=n)
    t_b = knn_label_inference(rng.normal(0, 1, (n, 8)), public, public_labels, k=20)
    r_b = knn_label_inference(rng.normal(0, 1, (n, 8)), public, public_labels, k=20)
    on_b = dataset_level_test(
        t_b.predicted, t_b.confidence, r_b.predicted, r_b.confidence, labels_b
    )
    both = symmetrized(result, on_b)
    np.testing.assert_allclose(
        both.target_accuracy, (result.target_accuracy + on_b.target_accuracy) / 2
    )
    np.testing.assert_allclose(both.gap, (result.gap + on_b.gap) / 2)
    assert both.n_examples == 2 * n
    part_b = sample_level_partition(t_b.predicted == labels_b, r_b.predicted == labels_b)
    sym = symmetrized(part, part_b)
    assert sym.dejavu == pytest.approx((part.dejavu + part_b.dejavu) / 2)
    assert sum(sym.counts.values()) == 2 * n


def test_partition_counts_match_a_loop():
    rng = np.random.default_rng(8)
    a, b = rng.random(97) < 0.6, rng.random(97) < 0.3
    part = sample_level_partition(a, b.astype(int))
    names = {
        (True, False): "memorized",
        (True, True): "correlated",
        (False, True): "misrepresented",
        (False, False): "unassociated",
    }
    counts = dict.fromkeys(names.values(), 0)
    for x, y in zip(a, b, strict=True):
        counts[names[bool(x), bool(y)]] += 1
    assert part.counts == counts and part.n_examples == 97
    assert sum(part.shares.values()) == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------
# background crop


def test_background_box_matches_brute_force_over_all_rectangles():
    rng = np.random.default_rng(9)
    for _ in range(60):
        h, w = (int(v) for v in rng.integers(1, 9, size=2))
        x0 = int(rng.integers(0, w))
        x1 = int(rng.integers(x0 + 1, w + 1))
        y0 = int(rng.integers(0, h))
        y1 = int(rng.integers(y0 + 1, h + 1))
        best = brute_force_free_rectangle(h, w, (x0, y0, x1, y1))
        for min_side in (0, 1, 2, 3):
            got = largest_background_box(h, w, (x0, y0, x1, y1), min_side=min_side)
            if best is None or best[0] <= min_side:
                assert got is None
                continue
            gx0, gy0, gx1, gy1 = got
            assert 0 <= gx0 < gx1 <= w and 0 <= gy0 < gy1 <= h
            assert not (gx0 < x1 and x0 < gx1 and gy0 < y1 and y0 < gy1)  # misses the object
            assert (min(gx1 - gx0, gy1 - gy0), (gx1 - gx0) * (gy1 - gy0)) == best


def test_background_crop_on_the_canvas_is_the_right_square_and_holds_no_object():
    rng = np.random.default_rng(10)
    for offset in range(9):
        canvas = rng.random((16, 24, 3))
        canvas[offset : offset + 8, :8] = 7.0  # the digit "object"
        crop = background_crop(canvas, (0, offset, 8, offset + 8), min_side=8)
        np.testing.assert_array_equal(crop, canvas[:, 8:])
        assert not (crop == 7.0).any()
    # the full-width strip above the object beats the paper's x-sweep candidates here
    assert largest_background_box(100, 100, (40, 50, 60, 100), min_side=10) == (0, 0, 100, 50)
    assert background_crop(np.zeros((16, 24)), (0, 0, 20, 16), min_side=8) is None  # 4 px left
    assert background_crop(np.zeros((16, 24)), (0, 0, 24, 16), min_side=0) is None  # all object


# --------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda q, p, y: knn_label_inference(q, p, y[:-1]), "one label per row"),
        (
            lambda q, p, y: knn_label_inference(q, p, y, k=31),
            "from 1 to the public set's size (30)",
        ),
        (lambda q, p, y: knn_label_inference(q, p, y, k=0), "from 1 to"),
        (lambda q, p, y: knn_label_inference(np.where(q > 1, np.nan, q), p, y, k=3), "NaN"),
        (lambda q, p, y: knn_label_inference(q, np.where(p > 1, np.inf, p), y, k=3), "finite"),
        (lambda q, p, y: knn_label_inference(q[:, :2], p, y, k=3), "same dimension"),
        (lambda q, p, y: knn_label_inference(q, p, y, k=3, n_classes=2), "larger than every"),
        (lambda q, p, y: knn_label_inference(q, p, y + 0.5, k=3), "whole class indices"),
        (lambda q, p, y: dataset_level_test(y, y, y[:-1], y, y), "one row per label"),
        (lambda q, p, y: dataset_level_test(y, y * np.nan, y, y, y), "finite confidences"),
        (lambda q, p, y: dataset_level_test(y, y, y, y, y, fractions=(0.0,)), "in (0, 1]"),
        (lambda q, p, y: sample_level_partition([True, False], [True]), "2 values"),
        (lambda q, p, y: sample_level_partition([0.5, 1.0], [1, 0]), "True/False"),
        (lambda q, p, y: background_crop(np.zeros((8, 8)), (2, 2, 9, 4)), "exclusive"),
        (lambda q, p, y: background_crop(np.zeros((8, 8)), (2, 2, 2, 4)), "x_min < x_max"),
        (lambda q, p, y: largest_background_box(8, 8, (1.5, 2, 3, 4)), "whole pixel"),
        (lambda q, p, y: symmetrized(sample_level_partition([True], [False]), None), "same kind"),
    ],
)
def test_bad_input_is_a_memlens_error_with_a_clear_message(call, fragment):
    rng = np.random.default_rng(11)
    queries, public = rng.normal(size=(4, 3)), rng.normal(size=(30, 3))
    labels = rng.integers(0, 3, size=30)
    with pytest.raises(DejaVuInputError, match=None) as info:
        call(queries, public, labels)
    assert isinstance(info.value, MemlensError) and fragment in str(info.value)
