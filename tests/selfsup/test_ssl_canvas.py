"""Déjà vu canvases: the crop never holds an object pixel, sets are disjoint, the seed fixes everything;
the two objectives against their formulas computed by brute force."""

import itertools

import numpy as np
import pytest
import torch

from memlens.errors import MemlensError
from memlens.ssl.canvas import PUBLIC, CanvasError, background_only, make_canvas
from memlens.ssl.objectives import objective, simclr_loss, vicreg_loss
from memlens.ssl.trainer import augment


@pytest.fixture(scope="module")
def canvas():
    return make_canvas(n_target=40, n_shared=10, n_public=60, seed=3)


def test_background_crop_box_never_meets_the_object_and_holds_none_of_its_pixels(canvas):
    n, h, w = canvas.images.shape
    assert n == 150 and canvas.summary()["sets"] == {"A": 40, "B": 40, "shared": 10, "public": 60}
    inputs = canvas.attack_inputs()
    for i in range(n):
        x0, y0, x1, y1 = canvas.boxes[i]
        cx0, cy0, cx1, cy1 = canvas.crop_boxes[i]
        assert not (cx0 < x1 and x0 < cx1 and cy0 < y1 and y0 < cy1)  # the boxes do not overlap
        assert min(cx1 - cx0, cy1 - cy0) > canvas.min_crop_side
        if canvas.part[i] == PUBLIC:  # the public set is embedded whole
            np.testing.assert_array_equal(inputs[i], canvas.images[i])
            continue
        assert (inputs[i, y0:y1, x0:x1] == 0).all()  # no object pixel reaches the encoder
        np.testing.assert_array_equal(inputs[i, cy0:cy1, cx0:cx1], canvas.images[i, cy0:cy1, cx0:cx1])
        outside = np.ones((h, w), bool)
        outside[cy0:cy1, cx0:cx1] = False
        assert (inputs[i][outside] == 0).all()


def test_the_object_is_the_digit_and_the_seed_fixes_every_canvas(canvas):
    from sklearn.datasets import load_digits

    digits_x, digits_y = load_digits(return_X_y=True)
    for i in range(0, len(canvas.labels), 7):
        x0, y0, x1, y1 = canvas.boxes[i]
        patch = canvas.images[i, y0:y1, x0:x1].reshape(-1) * 16
        match = np.flatnonzero(np.abs(digits_x - patch).max(axis=1) < 1e-4)
        assert len(match) and canvas.labels[i] in digits_y[match]  # the label is the pasted digit's
        outside = np.ones(canvas.images.shape[1:], bool)
        outside[y0:y1, x0:x1] = False
        np.testing.assert_array_equal(canvas.images[i][outside], canvas.backgrounds[i][outside])
    again = make_canvas(n_target=40, n_shared=10, n_public=60, seed=3)
    assert again.fingerprint() == canvas.fingerprint()
    assert make_canvas(n_target=40, n_shared=10, n_public=60, seed=4).fingerprint() != canvas.fingerprint()
    assert canvas.images.min() >= 0 and canvas.images.max() <= 1


def test_backgrounds_carry_no_label():
    # the mean brightness of the background crop is the same for every class (up to sampling noise)
    big = make_canvas(n_target=1000, n_shared=0, n_public=10, seed=0)
    crops = background_only(big.images, big.crop_boxes)
    brightness = crops.sum(axis=(1, 2)) / np.prod(big.crop_boxes[0, 2:] - big.crop_boxes[0, :2])
    means = np.array([brightness[big.labels == c].mean() for c in range(10)])
    sem = brightness.std() / np.sqrt(len(brightness) / 10)
    assert np.abs(means - brightness.mean()).max() < 4 * sem


@pytest.mark.parametrize(("height", "width", "min_side"), [(16, 12, 8), (16, 24, 16), (6, 24, 2)])
def test_a_canvas_whose_crop_is_too_small_is_refused(height, width, min_side):
    with pytest.raises(CanvasError, match="too small|at least"):
        make_canvas(n_target=4, n_shared=0, n_public=10, height=height, width=width, min_crop_side=min_side)


def test_augmented_views_keep_an_in_place_crop_of_the_requested_area():
    g = torch.Generator().manual_seed(0)
    images = torch.ones(400, 16, 24)
    views = augment(images, g, shift=0, noise=0.0)
    kept = views.sum(dim=(1, 2)) / (16 * 24)
    assert kept.min() >= 0.25 and kept.max() <= 0.76  # 30–70% of the canvas, up to rounding of the sides
    assert set(torch.unique(views).tolist()) <= {0.0, 1.0}
    for v in views[:20]:  # the kept pixels form one rectangle
        rows, cols = torch.nonzero(v, as_tuple=True)
        assert v[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()


# --------------------------------------------------------------------------------------------
# objectives against brute force


def brute_vicreg(z1, z2, sim=25.0, std=25.0, cov=1.0, eps=1e-4):
    z1, z2 = z1.double().numpy(), z2.double().numpy()
    n, d = z1.shape
    invariance = sum((z1[i, j] - z2[i, j]) ** 2 for i in range(n) for j in range(d)) / (n * d)
    variance, covariance = 0.0, 0.0
    for z in (z1, z2):
        mean = [sum(z[i, j] for i in range(n)) / n for j in range(d)]
        var = [sum((z[i, j] - mean[j]) ** 2 for i in range(n)) / (n - 1) for j in range(d)]
        variance += sum(max(0.0, 1 - np.sqrt(v + eps)) for v in var) / d / 2
        for a, b in itertools.permutations(range(d), 2):
            c = sum((z[i, a] - mean[a]) * (z[i, b] - mean[b]) for i in range(n)) / (n - 1)
            covariance += c**2 / d
    return sim * invariance + std * variance + cov * covariance


def brute_simclr(z1, z2, t=0.5):
    z = torch.cat([z1, z2]).double().numpy()
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    n = len(z1)
    total = 0.0
    for i in range(2 * n):
        partner = (i + n) % (2 * n)
        others = [np.exp(z[i] @ z[j] / t) for j in range(2 * n) if j != i]
        total += -np.log(np.exp(z[i] @ z[partner] / t) / sum(others))
    return total / (2 * n)


@pytest.mark.parametrize("scale", [0.3, 3.0])  # below and above the variance hinge's threshold
def test_vicreg_matches_its_formula(scale):
    g = torch.Generator().manual_seed(1)
    z1, z2 = scale * torch.randn(6, 4, generator=g), scale * torch.randn(6, 4, generator=g)
    assert float(vicreg_loss(z1, z2)) == pytest.approx(brute_vicreg(z1, z2), rel=1e-5)
    assert float(vicreg_loss(z1, z2, sim=1, std=0, cov=0)) == pytest.approx(brute_vicreg(z1, z2, 1, 0, 0), rel=1e-5)


def test_simclr_matches_its_formula_and_rewards_aligned_views():
    g = torch.Generator().manual_seed(2)
    z1, z2 = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    assert float(simclr_loss(z1, z2)) == pytest.approx(brute_simclr(z1, z2), rel=1e-5)
    assert float(simclr_loss(z1, z2, temperature=0.1)) == pytest.approx(brute_simclr(z1, z2, 0.1), rel=1e-5)
    assert float(simclr_loss(z1, z1 + 0.01 * z2)) < float(simclr_loss(z1, z2))


def test_unknown_objective_is_refused():
    assert objective("vicreg") is vicreg_loss
    with pytest.raises(MemlensError, match="vicreg, simclr"):
        objective("byol")


def test_faiss_and_scikit_learn_find_the_same_neighbours():
    pytest.importorskip("faiss")
    from memlens.ssl.dejavu import knn_backend, knn_label_inference, nearest_neighbours

    rng = np.random.default_rng(0)
    public, queries = rng.normal(size=(500, 16)), rng.normal(size=(80, 16))
    labels = rng.integers(0, 10, 500)
    assert knn_backend("auto") == "faiss"
    np.testing.assert_array_equal(nearest_neighbours(queries, public, 25, backend="faiss"),
                                  nearest_neighbours(queries, public, 25, backend="sklearn"))
    a = knn_label_inference(queries, public, labels, k=25, backend="faiss")
    b = knn_label_inference(queries, public, labels, k=25, backend="sklearn")
    np.testing.assert_array_equal(a.histogram, b.histogram)
    np.testing.assert_allclose(a.confidence, b.confidence)
    with pytest.raises(MemlensError, match="faiss, sklearn"):
        knn_backend("annoy")


def test_object_views_put_the_digit_on_another_training_background(canvas):
    from memlens.ssl.trainer import two_views

    g = torch.Generator().manual_seed(0)
    images, textures = torch.from_numpy(canvas.images[:30]), torch.from_numpy(canvas.backgrounds[:30])
    ys, xs = torch.arange(16)[None, :, None], torch.arange(24)[None, None, :]
    box = torch.from_numpy(canvas.boxes[:30])[:, :, None, None]
    masks = (xs >= box[:, 0]) & (xs < box[:, 2]) & (ys >= box[:, 1]) & (ys < box[:, 3])
    views = two_views(images, masks, textures, g, swap=1.0, shift=0, noise=0.0)
    for i in range(30):
        assert torch.equal(views[i][masks[i]], images[i][masks[i]])  # the canvas's own digit, in place
        outside = ~masks[i]
        assert any(torch.equal(views[i][outside], t[outside]) for t in textures)  # one training texture around it
    scenes = two_views(images, masks, textures, g, swap=0.0, shift=0, noise=0.0)
    assert ((scenes == 0) | (scenes == images)).all()  # an in-place crop of the canvas itself
