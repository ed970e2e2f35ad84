"""What mia.json says about each attack, and the report's attack table that shows it."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from memlens.audit import membership_inference
from memlens.estimate import attack_in_turn, attack_metrics, lira_online, loss_threshold_attack
from memlens.report.page import Facts, attack_table, pct


def _planted_run(seed=0, n_models=12, n_examples=1500):
    """Halves design; a vulnerable 10% of examples whose phi rises in the models trained on them."""
    rng = np.random.default_rng(seed)
    membership = np.argsort(rng.random((n_models, n_examples)), axis=0) < n_models // 2
    base = rng.normal(0.0, 2.0, n_examples)
    vulnerable = rng.random(n_examples) < 0.1
    phi = base + rng.normal(size=membership.shape) + 4.0 * vulnerable * membership
    loss = np.log1p(np.exp(-phi))
    return membership, {"confidence": phi.astype(np.float32), "loss": loss.astype(np.float32)}


@pytest.fixture(scope="module")
def mia():
    membership, observations = _planted_run()
    return membership, observations, membership_inference(membership, observations, n_targets=8)


def test_pooled_numbers_are_unchanged_and_the_interval_is_the_bootstrap(mia):
    membership, observations, result = mia
    json.dumps(result, allow_nan=False)  # plain JSON: no NaN, no numpy types
    assert "bootstrap over examples and the 8 targets" in result["intervals"]
    online = result["attacks"]["lira-online"]
    # the pooled point estimates are what they were: attack_in_turn + attack_metrics
    labels, scores, dropped = attack_in_turn(
        membership, observations["confidence"], functools.partial(lira_online, fix_variance=True),
        targets=range(8),
    )  # fmt: skip
    before = attack_metrics(labels, scores)
    for key in ("auc", "tpr_at_fpr", "n_members", "n_nonmembers", "warnings"):
        assert online[key] == before[key], key
    assert online["n_dropped"] == dropped == 0
    assert online["tpr_ci_method"] == "bootstrap"
    assert online["interval"]["resample"] == "both" and online["interval"]["replicates"] == 200
    for key in ("0.001", "0.01"):
        lo, hi = online["tpr_ci"][key]
        binomial_lo, binomial_hi = before["tpr_ci"][key]
        assert lo <= online["tpr_at_fpr"][key] <= hi
        assert hi - lo > 1.5 * (binomial_hi - binomial_lo)  # the dependence widens it
    per_target = online["per_target"]
    assert len(per_target["auc"]) == len(per_target["tpr_at_fpr"]["0.01"]) == 8
    assert per_target["spread"]["0.01"]["min"] < online["tpr_at_fpr"]["0.01"]
    assert per_target["spread"]["0.01"]["max"] > online["tpr_at_fpr"]["0.01"]
    assert per_target["resolved"] == {"0.001": False, "0.01": True}  # 750 non-members a target


def test_one_target_keeps_the_exact_binomial_interval():
    membership, observations = _planted_run(seed=1, n_models=6, n_examples=800)
    result = membership_inference(membership, observations, n_targets=1)
    loss = result["attacks"]["loss"]
    labels, scores, _ = attack_in_turn(
        membership, observations["loss"], functools.partial(loss_threshold_attack, observation="loss"),
        targets=[0],
    )  # fmt: skip
    assert loss["tpr_ci_method"] == "clopper-pearson" and "interval" not in loss
    assert loss["tpr_ci"] == attack_metrics(labels, scores)["tpr_ci"]
    assert result["intervals"].startswith("95% intervals: exact binomial")


def test_attack_table_shows_interval_spread_and_method(mia):
    _, _, result = mia
    html = attack_table(Facts({}, None, result, []))
    for name, m in result["attacks"].items():
        assert name in html
        lo, hi = m["tpr_ci"]["0.01"]
        assert f"{pct(lo)} – {pct(hi)}" in html
        spread = m["per_target"]["spread"]["0.01"]
        assert f"targets {pct(spread['min'])} – {pct(spread['max'])}" in html
    assert html.count(">targets –<") == 4  # 0.1% needs 1,000 non-members per target
    assert "bootstrap over examples and target models" in html
    assert "Clopper" not in html

    single = json.loads(json.dumps(result))
    for m in single["attacks"].values():
        m["tpr_ci_method"] = "clopper-pearson"
        m["per_target"]["tpr_at_fpr"] = {k: v[:1] for k, v in m["per_target"]["tpr_at_fpr"].items()}
    single_html = attack_table(Facts({}, None, single, []))
    assert "exact 95% (Clopper–Pearson)" in single_html and "targets " not in single_html

    old = json.loads(json.dumps(result))  # a mia.json from before: no method, no per-target values
    for m in old["attacks"].values():
        del m["tpr_ci_method"], m["per_target"], m["interval"]
    old_html = attack_table(Facts({}, None, old, []))
    assert "too narrow" in old_html and "targets " not in old_html


def test_attack_table_shows_the_epsilon_bound_only_when_mia_json_has_it(mia):
    _, _, result = mia
    html = attack_table(Facts({}, None, result, []))
    for m in result["attacks"].values():
        assert f"<td>{m['epsilon_lower_bound']['epsilon']:.2f}</td>" in html
    assert ">ε ≥</th>" in html and "heuristic floor" in html
    old = json.loads(json.dumps(result))
    for m in old["attacks"].values():
        del m["epsilon_lower_bound"]
    old_html = attack_table(Facts({}, None, old, []))
    assert "ε ≥" not in old_html and old_html.count("<th>") == html.count("<th>")  # the titled th is gone


def test_each_attack_reports_the_epsilon_its_scores_demonstrate(mia):
    from memlens.estimate import attack_in_turn_per_target, epsilon_lower_bound

    membership, observations, result = mia
    online = result["attacks"]["lira-online"]["epsilon_lower_bound"]
    labels, scores = attack_in_turn_per_target(
        membership, observations["confidence"], functools.partial(lira_online, fix_variance=True), targets=range(8)
    )
    scored = ~np.isnan(scores)
    twin = epsilon_lower_bound(labels[scored].astype(bool), scores[scored], split=True, seed=0)
    assert online["epsilon"] == pytest.approx(twin["epsilon"])
    assert online["epsilon"] > 0.5  # a planted 10% vulnerable slice is a real leak
    # control: the same attack on membership that the observations never saw proves ~nothing
    rng = np.random.default_rng(1)
    shuffled = np.argsort(rng.random(membership.shape), axis=0) < membership.shape[0] // 2
    null = membership_inference(shuffled, observations, n_targets=8)["attacks"]["lira-online"]
    assert null["epsilon_lower_bound"]["epsilon"] < 0.2
