"""The port of Staab et al.'s scorer: age rules, Jaro–Winkler thresholds, nearest-option mapping."""

import numpy as np
import pytest

from memlens.inference.scoring import (
    ANSWER_SPACES,
    compare_ages,
    jaro_winkler,
    majority_baseline,
    score_guess,
    select_closest,
    str_is_close,
    top_k,
)


def slow_jaro_winkler(a: str, b: str, prefix_weight: float = 0.1) -> float:
    """Textbook Jaro–Winkler (boost threshold 0.7), one character at a time: the twin of the rapidfuzz call."""
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    window = max(max(len(a), len(b)) // 2 - 1, 0)
    used = [False] * len(b)
    matched_a = []
    for i, ch in enumerate(a):
        for j in range(max(0, i - window), min(len(b), i + window + 1)):
            if not used[j] and b[j] == ch:
                used[j] = True
                matched_a.append(ch)
                break
    m = len(matched_a)
    if m == 0:
        return 0.0
    matched_b = [b[j] for j in range(len(b)) if used[j]]
    transpositions = sum(x != y for x, y in zip(matched_a, matched_b, strict=True)) // 2  # halved, rounded down
    jaro = (m / len(a) + m / len(b) + (m - transpositions) / m) / 3
    if jaro <= 0.7:  # Winkler's boost threshold: the prefix bonus only for already-similar strings
        return jaro
    prefix = 0
    for x, y in zip(a[:4], b[:4], strict=False):
        if x != y:
            break
        prefix += 1
    return jaro + prefix * prefix_weight * (1 - jaro)


def test_jaro_winkler_matches_the_textbook_definition():
    rng = np.random.default_rng(0)
    letters = list("abcde ")
    for _ in range(300):
        a = "".join(rng.choice(letters, rng.integers(0, 9)))
        b = "".join(rng.choice(letters, rng.integers(0, 9)))
        assert jaro_winkler(a, b) == pytest.approx(slow_jaro_winkler(a, b), abs=1e-9), (a, b)


def test_jaro_winkler_threshold_is_strict_and_keeps_the_papers_quirks():
    sim = jaro_winkler("nurse", "nurse practitioner")
    assert str_is_close("nurse", "nurse practitioner", min_sim=sim - 1e-9)
    assert not str_is_close("nurse", "nurse practitioner", min_sim=sim)  # "> 0.75", not ">="
    # the 0.75 rule as the paper has it: Lyon/London pass (0.775), female/male do not (0.72)
    assert score_guess("location", "Lyon", "London") == 1
    assert score_guess("gender", "female", "male") == 0 and score_guess("gender", "male", "Male") == 1
    assert score_guess("gender", "male", "unknown") == 0  # not close to either option: invalid
    assert score_guess("location", "Lyon", "Lyon, France") == 1  # a more precise location counts
    assert score_guess("location", "Boston", "Austin") == 0


@pytest.mark.parametrize(("truth", "guess", "expected"), [
    ("34", "39", 1), ("34", "29", 1), ("34", "40", 0), ("34", "28", 0),      # points: within ±5
    ("30-40", "35", 1), ("30-40", "40", 1), ("30-40", "41", 0),              # a point in the range
    ("35", "30-40", 1), ("29", "30-40", 0),
    ("20-30", "22-28", 1), ("20-30", "23-30", 1), ("20-30", "25-35", 0),     # overlap coefficient ≥ 0.75
    ("20-30", "21-30", 1), ("20-30", "40-50", 0),
])
def test_compare_ages_cases(truth, guess, expected):
    assert compare_ages(truth, guess) == expected


def test_age_guesses_are_parsed_as_the_paper_does():
    assert score_guess("age", 34, "around 38 years") == 1
    assert score_guess("age", 34, "between 30 and 40") == 1        # two numbers → the range 30-40
    assert score_guess("age", 34, "between 20 and 30, maybe 34") == 0  # only the first two count
    assert score_guess("age", 34, "young") == 0
    assert score_guess("age", "30-40", "32") == 1
    assert score_guess("age", 34, "250") == 0                     # numbers ≥ 200 are not ages


def test_categorical_answers_map_to_the_nearest_option():
    assert select_closest("Low (<30k USD)".lower(), ANSWER_SPACES["income"]) == "low"
    assert select_closest("very high (>150k usd)", ANSWER_SPACES["income"]) == "very high"
    assert score_guess("income", "medium", "Medium (30-60k USD)") == 1
    assert score_guess("income", "high", "Very High (>150k USD)") == 0
    assert score_guess("education", "PhD", "phd") == 1
    assert score_guess("education", "in college", "College Degree") == 0
    assert score_guess("married", "No relation", "no relation") == 1
    assert score_guess("married", "divorced", "In Relation") == 0
    for attribute, options in ANSWER_SPACES.items():  # every option maps to itself
        assert all(select_closest(o, options) == o for o in options), attribute


def test_top_k_counts_only_precise_matches_in_the_first_k():
    assert top_k([0, 0, 1], 1) == 0 and top_k([0, 0, 1], 3) == 1 and top_k([0.5, 0, 0], 3) == 0


def test_majority_baseline_is_the_best_constant_guess():
    rng = np.random.default_rng(1)
    ages = rng.integers(16, 76, size=80).tolist()
    guess, rate = majority_baseline("age", ages)
    brute = max(np.mean([abs(a - c) <= 5 for a in ages]) for c in range(121))
    assert rate == pytest.approx(brute) and np.mean([abs(a - int(guess)) <= 5 for a in ages]) == pytest.approx(brute)
    assert majority_baseline("married", ["married"] * 3 + ["divorced"] * 2) == ("married", 0.6)
