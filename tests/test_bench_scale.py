"""bench/scale_on_paper.py at toy size: the projection's arithmetic and the timing helper."""

from __future__ import annotations

import math

import pytest
import torch
from bench import scale_on_paper as scale

PLATFORM = {"units_per_node": 8, "flop_per_s_per_unit": 1e12, "write_bytes_per_s": 1e9,
            "network_bytes_per_s": 2e9, "finalize_bytes_per_s": 5e8, "price_per_node_hour": 10.0}  # fmt: skip
WORKLOAD = {"models": 20, "flop_per_model": 3.6e15, "store_bytes": 1e10, "estimator_s": 60.0}


@pytest.mark.parametrize("nodes", [1, 2, 8])
def test_projection_matches_the_arithmetic_written_out(nodes):
    row = scale.project(WORKLOAD, PLATFORM, nodes)
    # brute force: every possible cores-per-model, the soonest (fewest cores on a tie)
    options = []
    for units in range(1, 9):
        waves = math.ceil(20 / (nodes * (8 // units)))
        options.append((waves * 3.6e15 / (units * 1e12), units, waves))
    compute, units, waves = min(options)
    streamed = 1e10 / 1e9 + (1e10 / 2e9 if nodes > 1 else 0)
    wall = max(compute, streamed) + 1e10 / 5e8 + 60.0
    assert (row["units"], row["waves"]) == (units, waves)
    assert row["wall_s"] == pytest.approx(wall)
    assert row["cost"] == pytest.approx(nodes * wall / 3600 * 10.0)
    if nodes == 8:  # 64 cores, 20 models: 3 waves on 8 cores each (3/8 of a model's 1-core time)
        assert (row["units"], row["waves"]) == (8, 3)  # beat 1 wave on 2 cores each (1/2)


def test_timing_helper_times_both_precisions_and_leaves_the_model_in_eval():
    model = torch.nn.Linear(8, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(4, 8), torch.tensor([0, 1, 2, 0])
    before = model.weight.detach().clone()
    steps, forwards = scale._time_both_precisions(model, opt, lambda: torch.nn.functional.cross_entropy(model(x), y),
                                                  lambda: model(x), repeats=1)  # fmt: skip
    assert set(steps) == set(forwards) == {"fp32", "bf16"}
    assert all(v > 0 for v in (*steps.values(), *forwards.values()))
    assert not torch.equal(before, model.weight.detach()) and not model.training  # it trained, then observed
