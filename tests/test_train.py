import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.special import softmax

from memlens import observe
from memlens.data import load
from memlens.design import halves, kfold
from memlens.errors import MemlensError
from memlens.train import Ensemble, Sklearn, model_seeds, parse_model


def _one_model_forward(kind, params, x, image_shape):
    """The slow twin: model j alone, written with ordinary PyTorch layers."""
    if kind == "mlp":
        W1, b1, W2, b2 = params
        return torch.relu(x @ W1 + b1) @ W2 + b2
    W1, b1, W2, b2, W3, b3 = params
    h = x.reshape(-1, 1, *image_shape)
    h = F.max_pool2d(torch.relu(F.conv2d(h, W1, b1, padding=1)), 2)
    h = F.max_pool2d(torch.relu(F.conv2d(h, W2, b2, padding=1)), 2)
    return h.flatten(1) @ W3 + b3


def _slice(kind, params, j, m):
    if kind == "mlp":
        return [p[j] for p in params]
    return [p.reshape(m, -1, *p.shape[1:])[j] for p in params[:4]] + [params[4][j], params[5][j]]


@pytest.mark.parametrize("kind, image_shape", [("mlp", (8, 8)), ("cnn", (8, 8))])
def test_batched_forward_and_gradients_match_each_model_alone(kind, image_shape):
    m, B, d, c = 3, 5, 64, 4
    trainer = Ensemble(kind, width=4)
    params = trainer._init(d, c, image_shape, model_seeds(0, m))
    x = torch.randn(m, B, d)
    y = torch.randint(0, c, (m, B))
    logits = trainer._forward(params, x, image_shape, shared=False)
    loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(m, B).mean(1).sum()
    grads = torch.autograd.grad(loss, params)
    shared = trainer._forward(params, x[0], image_shape, shared=True)  # (M, B, C): x[0] for all
    for j in range(m):
        own = [p.detach().clone().requires_grad_() for p in _slice(kind, params, j, m)]
        out = _one_model_forward(kind, own, x[j], image_shape)
        torch.testing.assert_close(logits[j], out, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(shared[j], _one_model_forward(kind, own, x[0], image_shape), rtol=1e-5, atol=1e-5)
        own_grads = torch.autograd.grad(F.cross_entropy(out, y[j]), own)
        for g, og in zip(_slice(kind, list(grads), j, m), own_grads, strict=True):
            torch.testing.assert_close(g, og, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("kind", ["mlp", "cnn", "linear"])
def test_models_do_not_depend_on_which_shard_trains_them(kind):
    """Model j trained with 3 others equals model j trained alone: slices never interact."""
    data = load("digits:120")
    membership = halves(4, 120, seed=1).membership
    seeds = model_seeds(5, 4)
    trainer = Ensemble(kind, width=8, epochs=3, batch_size=16)
    together = trainer.fit_observe(data, membership, seeds)
    for j in (0, 3):
        alone = trainer.fit_observe(data, membership[j : j + 1], seeds[j : j + 1])
        np.testing.assert_allclose(together["loss"][j], alone["loss"][0], rtol=1e-4, atol=1e-5)


def test_ensemble_learns_and_reports_progress():
    data = load("digits")
    membership = halves(4, data.n_examples).membership
    ticks = []
    obs = Ensemble("mlp", epochs=30).fit_observe(data, membership, model_seeds(0, 4), progress=ticks.append)
    assert sum(ticks) == 4 * 30
    train_acc = obs["correct"][membership].mean()
    assert train_acc > 0.99 and obs["test_correct"].mean() > 0.9
    assert obs["probabilities"].shape == (4, data.n_examples, 10)
    # models are worse on examples they did not train on
    assert obs["loss"][~membership].mean() > 3 * obs["loss"][membership].mean()


def test_unequal_subsets_are_trained_with_padding():
    data = load("digits:50")
    obs = Ensemble("linear", epochs=2).fit_observe(data, kfold(3, 50, 3).membership, model_seeds(0, 3))
    assert np.isfinite(obs["loss"]).all()


def test_bfloat16_is_close_to_float32():
    data = load("digits")
    membership = halves(4, data.n_examples).membership
    accs = [
        Ensemble("mlp", epochs=20, precision=p).fit_observe(data, membership, model_seeds(0, 4))["test_correct"].mean()
        for p in ("float32", "bfloat16")
    ]
    assert abs(accs[0] - accs[1]) < 0.02


def test_cnn_needs_images(tmp_path):
    p = tmp_path / "tab.npz"
    np.savez(p, X=np.random.default_rng(0).normal(size=(20, 5)), y=np.arange(20) % 2)
    with pytest.raises(MemlensError, match="needs image data"):
        Ensemble("cnn", epochs=1).fit_observe(load(str(p)), np.ones((1, 20), bool), model_seeds(0, 1))


def test_sklearn_trainer_fills_classes_missing_from_a_subset():
    from sklearn.linear_model import LogisticRegression

    data = load("digits:200")
    membership = np.zeros((1, 200), bool)
    membership[0, np.flatnonzero(data.y != 3)[:100]] = True  # class 3 never seen
    obs = Sklearn(LogisticRegression(max_iter=300)).fit_observe(data, membership, model_seeds(0, 1))
    assert obs["probabilities"].shape == (1, 200, 10)
    assert (obs["probabilities"][0, :, 3] == 0).all() and (obs["correct"][0, data.y == 3] == 0).all()


def test_parse_model():
    assert parse_model("logreg", epochs=1).model == "linear"
    assert isinstance(parse_model("sklearn:sklearn.naive_bayes.GaussianNB"), Sklearn)
    with pytest.raises(MemlensError, match="Could not import"):
        parse_model("sklearn:nope.Nope")
    with pytest.raises(MemlensError, match="no predict_proba"):
        parse_model("sklearn:sklearn.svm.LinearSVC")
    with pytest.raises(MemlensError, match="Unknown model"):
        parse_model("transformer")


def test_observables_match_definitions():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=5, size=(3, 7, 4))
    y = rng.integers(0, 4, 7)
    out = observe.from_logits(logits, y)
    p = softmax(logits, axis=2)
    for m in range(3):
        for i in range(7):
            py = p[m, i, y[i]]
            assert out["correct"][m, i] == float(np.argmax(logits[m, i]) == y[i])
            assert np.isclose(out["loss"][m, i], -np.log(py), rtol=1e-5)
            assert np.isclose(out["confidence"][m, i], np.log(py) - np.log(1 - py), rtol=1e-4, atol=1e-5)
    # stays finite where 1 - p_y underflows
    sure = observe.from_logits(np.array([[[60.0, 0.0]]]), np.array([0]))
    assert np.isclose(sure["confidence"][0, 0], 60.0)
    np.testing.assert_allclose(observe.from_probabilities(p, y)["confidence"], out["confidence"], rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("kind", ["adam", "sgd"])
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_stacked_optimizer_matches_torch_for_each_model_and_skips_inactive(kind, weight_decay):
    from memlens.train.optim import StackedOptimizer

    torch.manual_seed(0)
    m = 3
    stacked = [torch.randn(m, 4, 2, requires_grad=True), torch.randn(m * 5, 2, requires_grad=True)]
    lone = [[p.detach().view(m, -1, *p.shape[1:])[j].clone().requires_grad_() for p in stacked] for j in range(m)]
    opt = StackedOptimizer(stacked, m, kind=kind, lr=0.01, weight_decay=weight_decay)
    make = (lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=weight_decay)) if kind == "adam" else (
        lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9, weight_decay=weight_decay))
    lone_opts = [make(ps) for ps in lone]
    for step in range(6):
        active = torch.tensor([True, step % 2 == 0, step < 2])
        grads = [torch.randn_like(p) for p in stacked]
        opt.zero_grad()
        for p, g in zip(stacked, grads, strict=True):
            p.grad += g  # as autograd accumulates into the optimizer's gradient buffers
        opt.step(active)
        for j in range(m):
            if active[j]:
                for p, g in zip(lone[j], grads, strict=True):
                    p.grad = g.view(m, -1, *g.shape[1:])[j].clone()
                lone_opts[j].step()
    for j in range(m):
        for p, q in zip(stacked, lone[j], strict=True):
            torch.testing.assert_close(p.detach().view(m, -1, *p.shape[1:])[j], q.detach(), rtol=1e-5, atol=1e-6)


def test_closed_form_gradient_norms_match_autograd_per_example():
    """The slow twin of self-influence: each example's parameter gradient through autograd."""
    from memlens.train.proxies import _logits_and_grad_sq_norm

    for kind in ("mlp", "linear"):
        trainer = Ensemble(kind, width=6)
        m, B, d, c = 2, 4, 5, 3
        params = trainer._init(d, c, None, model_seeds(1, m))
        x, y = torch.randn(B, d), torch.randint(0, c, (B,))
        _, sq = _logits_and_grad_sq_norm(trainer, params, x, y, None, True)
        for j in range(m):
            for i in range(B):
                logits = trainer._forward([p[j : j + 1] for p in params], x[i : i + 1], None, shared=True)[0]
                grads = torch.autograd.grad(F.cross_entropy(logits, y[i : i + 1], reduction="sum"), params)
                expected = sum(g[j].pow(2).sum() for g in grads)
                assert np.isclose(sq[j, i], expected.item(), rtol=1e-4)


def test_curvature_matches_per_example_finite_differences():
    from memlens.train.proxies import _curvature

    trainer = Ensemble("mlp", width=8)
    params = trainer._init(5, 3, None, model_seeds(2, 2))
    x, y = torch.randn(4, 5), torch.randint(0, 3, (4,))
    got = _curvature(trainer, params, x, y, None, torch.Generator().manual_seed(0), 3, 1e-2)
    g = torch.Generator().manual_seed(0)
    expected = np.zeros((2, 4))
    for _ in range(3):
        v = (torch.randint(0, 2, x.shape, generator=g, dtype=torch.float32) * 2 - 1) * 1e-2
        for j in range(2):
            for i in range(4):
                def input_grad(inp, j=j, i=i):
                    inp = inp.clone().requires_grad_()
                    out = trainer._forward([p[j : j + 1] for p in params], inp[None, None], None, shared=False)[0, 0]
                    return torch.autograd.grad(F.cross_entropy(out[None], y[i : i + 1]), inp)[0]
                expected[j, i] += (input_grad(x[i] + v[i]) - input_grad(x[i])).pow(2).sum().item() / 3
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-9)


def test_proxies_find_planted_label_noise_with_one_model():
    from memlens.data import label_noise
    from memlens.estimate import planted_recovery

    data = load("digits:600").plant(label_noise(0.1, seed=0))
    trainer = Ensemble("mlp", epochs=40, proxies=("curvature", "self-influence", "learning-events"),
                       curvature_vectors=2)
    obs = trainer.fit_observe(data, np.ones((1, 600), bool), model_seeds(0, 1))
    for name in ("curvature", "self_influence", "train_loss_mean", "first_learned_epoch"):
        assert planted_recovery(data.planted, obs[name][0])["auroc"] > 0.85, name
    assert planted_recovery(data.planted, -obs["train_margin_mean"][0])["auroc"] > 0.85
    assert obs["forgetting_events"].min() >= 0 and obs["first_learned_epoch"].max() <= 41


def test_proxies_that_cannot_apply_are_refused_up_front():
    with pytest.raises(MemlensError, match="closed form for the mlp and logreg"):
        Ensemble("cnn", epochs=10, proxies=("self-influence",))
    with pytest.raises(MemlensError, match="fewer than 2"):
        Ensemble("mlp", epochs=1, proxies=("curvature",))
    with pytest.raises(MemlensError, match="Unknown proxy"):
        Ensemble("mlp", proxies=("vibes",))
    with pytest.raises(MemlensError, match="scikit-learn estimator does not expose"):
        parse_model("sklearn:sklearn.naive_bayes.GaussianNB", proxies=("curvature",))


@pytest.mark.parametrize("kind", ["adam", "sgd"])
def test_stacked_optimizer_with_a_few_lagging_models_matches_torch(kind):
    """The common path: most models step together while a few sat out once and lag behind."""
    from memlens.train.optim import StackedOptimizer

    torch.manual_seed(1)
    m = 8
    stacked = [torch.randn(m, 3, 2, requires_grad=True), torch.randn(m, 1, 2, requires_grad=True)]
    lone = [[p.detach()[j].clone().requires_grad_() for p in stacked] for j in range(m)]
    opt = StackedOptimizer(stacked, m, kind=kind, lr=0.01, weight_decay=0.01)
    make = (lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.01)) if kind == "adam" else (
        lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9, weight_decay=0.01))
    lone_opts = [make(ps) for ps in lone]
    for step in range(12):
        active = torch.ones(m, dtype=torch.bool)
        if step % 4 == 3:  # the end of an "epoch": models 2 and 5 have used up their subsets
            active[[2, 5]] = False
        if step == 10:
            active[:] = False
        grads = [torch.randn_like(p) for p in stacked]
        opt.zero_grad()
        for p, g in zip(stacked, grads, strict=True):
            p.grad += g
        opt.step(active)
        for j in np.flatnonzero(active.numpy()):
            for p, g in zip(lone[j], grads, strict=True):
                p.grad = g[j].clone()
            lone_opts[j].step()
    assert opt.model_steps.tolist() == [11, 11, 8, 11, 11, 8, 11, 11]
    for j in range(m):
        for p, q in zip(stacked, lone[j], strict=True):
            torch.testing.assert_close(p.detach()[j], q.detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind, depth", [("linear", 1), ("mlp", 1), ("mlp", 3)])
def test_hand_written_dense_gradients_equal_autograd(kind, depth):
    """memlens.train.dense.DenseGradients against autograd through Ensemble._forward, padded rows included."""
    from memlens.train.dense import DenseGradients

    m, B, d, c, n = 3, 7, 5, 4, 20
    trainer = Ensemble(kind, width=6, depth=depth)
    params = trainer._init(d, c, None, model_seeds(0, m))
    X, idx, y = torch.randn(n, d), torch.randint(0, n, (m, B)), torch.randint(0, c, (m, B))
    x = X[idx]
    w = torch.rand(m, B)
    w[1, 4:] = 0  # a model whose batch is padded
    scale = w / w.sum(1, keepdim=True)
    losses = F.cross_entropy(trainer._forward(params, x, None, shared=False).flatten(0, 1), y.flatten(), reduction="none")
    expected = torch.autograd.grad((losses.view(m, B) * scale).sum(), params)
    for p in params:
        p.grad = torch.full_like(p, 7.0)  # stale values must be overwritten, not added to
    DenseGradients(params, X, torch.float32)(idx, y, scale)
    for p, g in zip(params, expected, strict=True):
        torch.testing.assert_close(p.grad, g, rtol=1e-5, atol=1e-6)
    DenseGradients(params, X, torch.bfloat16)(idx, y, scale)  # the bf16 path: same, to bf16 rounding
    for p, g in zip(params, expected, strict=True):
        torch.testing.assert_close(p.grad, g, rtol=0.05, atol=0.02)


@pytest.mark.parametrize("kind, precision, batch_size", [("mlp", "float32", 16), ("mlp", "bfloat16", 100),
                                                         ("linear", "float32", 16)])  # fmt: skip
def test_a_dense_model_trains_bit_for_bit_the_same_in_any_shard_with_two_threads(kind, precision, batch_size):
    """Growing a run and resuming it compare arrays exactly, so the number of models trained beside
    a model must not change its last bit, even when torch splits work across threads by size."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        data = load("digits:240")
        membership, seeds = halves(6, 240, seed=3).membership, model_seeds(0, 6)
        trainer = Ensemble(kind, width=16, epochs=2, batch_size=batch_size, precision=precision)
        together = trainer.fit_observe(data, membership, seeds)
        for j in (0, 5):
            alone = trainer.fit_observe(data, membership[j : j + 1], seeds[j : j + 1])
            for name, values in together.items():
                np.testing.assert_array_equal(values[j], alone[name][0], err_msg=name)
    finally:
        torch.set_num_threads(threads)
