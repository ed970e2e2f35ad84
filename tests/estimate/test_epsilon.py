"""ε lower bounds from audits: brute-force twins, a null control, planted ε-DP mechanisms, bad input."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from memlens.errors import MemlensError
from memlens.estimate.epsilon import (
    epsilon_lower_bound,
    epsilon_lower_bound_curve,
    one_run_epsilon_lower_bound,
    one_run_epsilon_sweep,
    one_run_p_value,
)
from memlens.estimate.heldout import split_halves

FAST = settings(max_examples=40, deadline=None)
TRUE_EPS = 1.0


def randomized_response(rng, n, eps=TRUE_EPS):
    """Canaries IN with probability ½; the score reports membership truthfully w.p. e^ε/(1+e^ε).

    Each score is an ε-DP function of its canary's membership, and the tightest such: its TPR/FPR
    ratio is exactly e^ε.
    """
    member = rng.random(n) < 0.5
    truthful = rng.random(n) < math.exp(eps) / (1 + math.exp(eps))
    return member, np.where(truthful, member, ~member).astype(np.float64)


def laplace_scores(rng, n, eps=TRUE_EPS):
    """Membership (0/1) plus Laplace(1/ε) noise: ε-DP, with many distinct thresholds."""
    member = rng.random(n) < 0.5
    return member, member + rng.laplace(scale=1.0 / eps, size=n)


# ---------------------------------------------------------------------------- brute-force twins


def naive_cp(k, n, beta):
    """One-sided Clopper–Pearson at β / 2 each, straight from the beta quantiles."""
    lo = 0.0 if k == 0 else stats.beta.ppf(beta / 2, k, n - k + 1)
    hi = 1.0 if k == n else stats.beta.ppf(1 - beta / 2, k + 1, n - k)
    return lo, hi


def naive_multi_run(labels, scores, delta, beta):
    """Every distinct threshold tried by hand; the two DP inequalities evaluated one by one."""
    n_in = sum(labels)
    n_out = len(labels) - n_in
    rows = []
    for t in sorted(set(scores), reverse=True):
        tp = sum(1 for y, s in zip(labels, scores, strict=True) if y and s >= t)
        fp = sum(1 for y, s in zip(labels, scores, strict=True) if not y and s >= t)
        tpr_lo = naive_cp(tp, n_in, beta)[0]
        fpr_hi = naive_cp(fp, n_out, beta)[1]
        best = 0.0
        if tpr_lo - delta > 0:
            best = max(best, math.log((tpr_lo - delta) / fpr_hi))
        if 1 - fpr_hi - delta > 0:
            best = max(best, math.log((1 - fpr_hi - delta) / (1 - tpr_lo)))
        rows.append((t, best, tp, fp))
    return rows


@st.composite
def audits(draw, max_n=40):
    n = draw(st.integers(4, max_n))
    labels = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    labels[:4] = [True, True, False, False]
    elem = st.sampled_from([-1.0, 0.0, 0.5, 2.0]) if draw(st.booleans()) else st.floats(-5, 5)
    scores = draw(st.lists(elem, min_size=n, max_size=n))
    return labels, scores


@FAST
@given(audits(), st.sampled_from([0.0, 1e-3, 0.1]), st.sampled_from([0.01, 0.05, 0.3]))
def test_multi_run_curve_and_best_match_naive_threshold_loop(data, delta, beta):
    labels, scores = data
    thr, eps, tp, fp = epsilon_lower_bound_curve(labels, scores, delta=delta, beta=beta)
    rows = naive_multi_run(labels, scores, delta, beta)
    assert thr.tolist() == [r[0] for r in rows]
    assert tp.tolist() == [r[2] for r in rows] and fp.tolist() == [r[3] for r in rows]
    np.testing.assert_allclose(eps, [r[1] for r in rows], rtol=1e-9, atol=1e-12)
    best = epsilon_lower_bound(np.array(labels, dtype=int), scores, delta=delta, beta=beta)
    assert best["epsilon"] == pytest.approx(max(r[1] for r in rows), abs=1e-12)
    if best["epsilon"] > 0:
        t, e, k, j = max(rows, key=lambda r: r[1])
        assert (best["tp"], best["fp"]) == (k, j) and best["epsilon"] == pytest.approx(e)


@FAST
@given(audits(), st.integers(0, 10))
def test_split_bound_is_the_naive_bound_of_the_first_halfs_threshold_on_the_second(data, seed):
    labels, scores = data
    labels_arr, scores_arr = np.array(labels), np.array(scores)
    first = split_halves(labels_arr, seed=seed)
    got = epsilon_lower_bound(labels_arr, scores_arr, split=True, seed=seed)
    rows = naive_multi_run(labels_arr[first].tolist(), scores_arr[first].tolist(), 0.0, 0.05)
    best = max(rows, key=lambda r: r[1])  # first maximum, as np.argmax
    t = best[0] if best[1] > 0 else math.inf
    second_l, second_s = labels_arr[~first], scores_arr[~first]
    tp = int(((second_s >= t) & second_l).sum())
    fp = int(((second_s >= t) & ~second_l).sum())
    n_in, n_out = int(second_l.sum()), int((~second_l).sum())
    lo, hi = naive_cp(tp, n_in, 0.05)[0], naive_cp(fp, n_out, 0.05)[1]
    want = max(0.0, math.log(lo / hi) if lo > 0 else 0.0, math.log((1 - hi) / (1 - lo)))
    assert got["threshold"] == t and (got["tp"], got["fp"]) == (tp, fp)
    assert (got["n_in"], got["n_out"]) == (n_in, n_out)
    assert got["epsilon"] == pytest.approx(want, abs=1e-12)


def naive_correct_guesses(included, scores, k_in, k_out):
    ranked = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    right = sum(1 for i in ranked[:k_in] if included[i])
    right += sum(1 for i in ranked[len(scores) - k_out :] if not included[i]) if k_out else 0
    return right


@pytest.mark.parametrize("m,k_in,k_out", [(30, 10, 10), (30, 5, 0), (40, 0, 12), (25, 25, 0)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_run_bound_matches_a_grid_search_over_epsilon(m, k_in, k_out, seed):
    rng = np.random.default_rng(seed)
    included, scores = randomized_response(rng, m, eps=3.0)
    scores = scores + rng.integers(0, 3, size=m)  # ties across and within classes
    got = one_run_epsilon_lower_bound(included, scores, n_guess_in=k_in, n_guess_out=k_out)
    r, v = k_in + k_out, naive_correct_guesses(included.tolist(), scores.tolist(), k_in, k_out)
    assert (got["guesses"], got["correct"]) == (r, v)
    grid = np.arange(0.0, 8.0, 1e-3)
    tail = stats.binom.sf(v - 1, r, 1 / (1 + np.exp(-grid)))  # P[Bin(r, q_ε) ≥ v]
    rejected = grid[tail <= 0.05]
    want = float(rejected.max()) if rejected.size else 0.0
    assert got["epsilon"] == pytest.approx(want, abs=1.1e-3)


def naive_p_value(m, r, v, eps, delta):
    """Steinke et al. (2023) Appendix D, written as their loop."""
    q = 1 / (1 + math.exp(-eps))
    tail = sum(stats.binom.pmf(k, r, q) for k in range(v, r + 1))
    worst, running = 0.0, 0.0
    for i in range(1, v + 1):
        running += stats.binom.pmf(v - i, r, q)
        worst = max(worst, running / i)
    return min(tail + worst * delta * 2 * m, 1.0)


@pytest.mark.parametrize("m,r,v", [(100, 20, 18), (1000, 200, 150), (50, 10, 0), (60, 30, 30)])
@pytest.mark.parametrize("eps,delta", [(0.0, 0.0), (0.7, 0.0), (0.7, 1e-4), (2.5, 1e-3)])
def test_one_run_p_value_matches_the_papers_loop(m, r, v, eps, delta):
    assert one_run_p_value(m, r, v, eps, delta=delta) == pytest.approx(
        naive_p_value(m, r, v, eps, delta), rel=1e-9, abs=1e-15
    )


def test_one_run_delta_bound_is_the_largest_epsilon_the_p_value_rejects():
    rng = np.random.default_rng(3)
    included, scores = randomized_response(rng, 1000, eps=2.0)
    plain = one_run_epsilon_lower_bound(included, scores, n_guess_in=200, n_guess_out=200)
    with_delta = one_run_epsilon_lower_bound(
        included, scores, n_guess_in=200, n_guess_out=200, delta=1e-5
    )
    m, r, v = 1000, with_delta["guesses"], with_delta["correct"]
    e = with_delta["epsilon"]
    assert 0 < e < plain["epsilon"]  # δ > 0 only weakens what the audit can prove
    assert naive_p_value(m, r, v, e, 1e-5) < 0.05 <= naive_p_value(m, r, v, e + 1e-6, 1e-5)
    tiny = one_run_epsilon_lower_bound(
        included, scores, n_guess_in=200, n_guess_out=200, delta=1e-300
    )
    assert tiny["epsilon"] == pytest.approx(plain["epsilon"], abs=1e-9)  # bisection ≈ closed form


def test_sweep_takes_the_best_of_bonferroni_corrected_single_bounds():
    rng = np.random.default_rng(4)
    included, scores = laplace_scores(rng, 400, eps=2.0)
    guesses = [10, 40, 100, 400]
    sweep = one_run_epsilon_sweep(included, scores, guesses=guesses, in_fraction=0.5)
    singles = [
        one_run_epsilon_lower_bound(
            included, scores, n_guess_in=round(g / 2), n_guess_out=g - round(g / 2), beta=0.05 / 4
        )["epsilon"]
        for g in guesses
    ]
    assert sweep["beta_each"] == 0.05 / 4
    assert [row["epsilon"] for row in sweep["table"]] == singles
    assert sweep["epsilon"] == max(singles) > 0
    loose = one_run_epsilon_sweep(included, scores, guesses=guesses, correct_for_sweep=False)
    assert loose["epsilon"] > sweep["epsilon"]  # the uncorrected maximum claims more


# ---------------------------------------------------------------------------- control


@pytest.mark.parametrize("seed", range(10))
def test_scores_independent_of_membership_prove_almost_nothing(seed):
    rng = np.random.default_rng(seed)
    member = rng.random(2000) < 0.5
    scores = rng.normal(size=2000)
    assert epsilon_lower_bound(member, scores)["epsilon"] <= 0.1
    assert epsilon_lower_bound(member, scores, split=True, seed=seed)["epsilon"] <= 0.1
    assert one_run_epsilon_sweep(member, scores)["epsilon"] <= 0.1


# ---------------------------------------------------------------------------- planted ε-DP


def exceed_count(audit, generator, n, runs=200):
    return sum(audit(*generator(np.random.default_rng(s), n), s) > TRUE_EPS for s in range(runs))


def test_multi_run_bound_on_randomized_response_is_sound():
    # β = 0.05 over 200 audits: about 10 may exceed by chance; 20 is 3 sd above that
    plain = exceed_count(
        lambda y, s, _: epsilon_lower_bound(y, s)["epsilon"], randomized_response, 2000
    )
    held = exceed_count(
        lambda y, s, seed: epsilon_lower_bound(y, s, split=True, seed=seed)["epsilon"],
        randomized_response,
        2000,
    )
    assert plain <= 20 and held <= 20


def test_split_keeps_the_bound_sound_where_picking_the_threshold_in_sample_does_not():
    # Laplace scores offer many thresholds; the in-sample maximum over them is optimistic
    held = exceed_count(
        lambda y, s, seed: epsilon_lower_bound(y, s, split=True, seed=seed)["epsilon"],
        laplace_scores,
        2000,
    )
    plain = exceed_count(lambda y, s, _: epsilon_lower_bound(y, s)["epsilon"], laplace_scores, 2000)
    assert held <= 20
    assert plain > 200 * 0.05 and plain > held  # measured: 24 of 200 in-sample, 1 held out


def test_one_run_bound_on_randomized_response_is_sound():
    def audit(included, scores, _):
        return one_run_epsilon_lower_bound(included, scores, n_guess_in=300, n_guess_out=300)[
            "epsilon"
        ]

    assert exceed_count(audit, randomized_response, 1000) <= 20


def test_bounds_approach_the_true_epsilon_as_trials_grow():
    multi, one = [], []
    for n in (1_000, 10_000, 100_000):
        member, scores = randomized_response(np.random.default_rng(1), n)
        multi.append(epsilon_lower_bound(member, scores)["epsilon"])
        one.append(
            one_run_epsilon_lower_bound(member, scores, n_guess_in=n // 4, n_guess_out=n // 4)[
                "epsilon"
            ]
        )
    assert multi[-1] > 0.95 and one[-1] > 0.95
    assert multi[0] < multi[-1] <= TRUE_EPS and one[0] < one[-1] <= TRUE_EPS + 0.02


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call,words",
    [
        (lambda: epsilon_lower_bound([1, 0, 1], [0.1, 0.2]), "same shape"),
        (lambda: epsilon_lower_bound([1, 0], [0.1, float("nan")]), "NaN"),
        (lambda: epsilon_lower_bound([1, 2], [0.1, 0.2]), "0/1"),
        (lambda: epsilon_lower_bound([1, 1], [0.1, 0.2]), "needs both"),
        (lambda: epsilon_lower_bound([1, 0], [0.1, 0.2], beta=0.0), "beta must be in (0, 1)"),
        (lambda: epsilon_lower_bound([1, 0], [0.1, 0.2], beta=1.5), "beta must be in (0, 1)"),
        (lambda: epsilon_lower_bound([1, 0], [0.1, 0.2], delta=-0.1), "delta"),
        (lambda: epsilon_lower_bound([1, 0, 0, 0], [1, 2, 3, 4], split=True), "half"),
        (lambda: epsilon_lower_bound_curve([1, 0], ["a", "b"]), "numeric"),
        (
            lambda: one_run_epsilon_lower_bound([1, 0], [0.1, 0.2], n_guess_in=2, n_guess_out=1),
            "exceed",
        ),
        (lambda: one_run_epsilon_lower_bound([[1, 0]], [[0.1, 0.2]], n_guess_in=1), "1-D"),
        (
            lambda: one_run_epsilon_lower_bound([1, 0], [0.1, 0.2], n_guess_in=1, beta=1.0),
            "beta must be in (0, 1)",
        ),
        (lambda: one_run_epsilon_sweep([1, 0], [0.1, 0.2], guesses=[3]), "guesses"),
        (lambda: one_run_p_value(10, 5, 6, 1.0), "v <= r <= m"),
    ],
)
def test_bad_input_raises_a_memlens_error_that_says_what(call, words):
    with pytest.raises(MemlensError) as info:
        call()
    assert words in str(info.value)
