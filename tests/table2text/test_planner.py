"""The TF-IDF prompt planner retrieves the nearest training table, never itself when told."""

import numpy as np
import pytest

from memlens.errors import DataError
from memlens.table2text.data import Example, labelled_examples
from memlens.table2text.planner import PromptPlanner


def test_duplicate_query_returns_its_training_table():
    train = labelled_examples(40, np.random.default_rng(0))
    planner = PromptPlanner().fit(train)
    # every training table, asked again, finds itself (or an identical table: same similarity)
    found = planner.nearest([ex.table for ex in train])
    for i, j in enumerate(found):
        assert train[j].table == train[i].table
    assert planner.prompts([train[7].table], delexicalize=False) == [train[found[7]].reference]
    plan = planner.prompts([train[7].table])[0]
    assert "[name]" in plan and train[7].table["name"] not in plan


def test_exclude_self_finds_the_brute_force_nearest_other():
    train = labelled_examples(30, np.random.default_rng(1))
    planner = PromptPlanner().fit(train)
    found = planner.nearest([ex.table for ex in train], exclude_self=True)
    assert all(found != np.arange(len(train)))
    # brute force: among the other tables with the same slots (any table when none has), the
    # highest cosine similarity of the fitted TF-IDF rows, one pair at a time
    rows = planner.matrix_.toarray()
    for i in range(len(train)):
        same = [j for j in range(len(train)) if j != i and set(train[j].table) == set(train[i].table)]
        pool = same or [j for j in range(len(train)) if j != i]
        assert found[i] in pool
        assert rows[i] @ rows[found[i]] == pytest.approx(max(rows[i] @ rows[j] for j in pool))


def test_the_prototype_has_the_query_topology_whenever_one_exists():
    train = labelled_examples(50, np.random.default_rng(2))
    test = labelled_examples(100, np.random.default_rng(3))
    found = PromptPlanner().fit(train).nearest([ex.table for ex in test])
    topologies = {frozenset(ex.table) for ex in train}
    for ex, j in zip(test, found, strict=True):
        if frozenset(ex.table) in topologies:
            assert set(train[j].table) == set(ex.table)


def test_planner_bad_input():
    train = [Example({"name": "Anna Berg", "occupation": "painter"}, "Anna Berg is a painter .")]
    with pytest.raises(DataError, match="lacks the required slot"):
        PromptPlanner().fit([Example({"name": "Anna Berg"}, "Anna Berg .")])
    planner = PromptPlanner().fit(train)
    with pytest.raises(DataError, match="Query table 0 lacks the required slot"):
        planner.nearest([{"occupation": "painter"}])
    with pytest.raises(DataError, match="at least two"):
        planner.nearest([train[0].table], exclude_self=True)
    with pytest.raises(DataError, match="before nearest"):
        PromptPlanner().nearest([train[0].table])
