"""The Ray executor against a real two-node cluster, joined by address from the command line.

``ray.cluster_utils.Cluster`` starts a head and a second node as separate Ray processes on this
machine (each with one CPU), as ``ray start --head`` / ``ray start --address`` would on two
machines; ``memlens audit --executor ray:HOST:PORT`` then runs in a subprocess of its own, so the
path users take — an address typed on the command line, a driver that is not the head's
process — is what is tested. The run must equal, array for array, one trained in process with one
thread, as each Ray shard trains.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

ray = pytest.importorskip("ray")

AUDIT = ["audit", "--dataset", "digits:120", "--models", "4", "--shard-size", "1", "--model", "mlp", "--width", "16",
         "--epochs", "2", "--precision", "float32", "--no-progress"]  # fmt: skip


def _memlens(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "memlens.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip


def test_an_audit_on_a_two_node_cluster_by_address_equals_an_in_process_run(tmp_path):
    from ray.cluster_utils import Cluster

    if ray.is_initialized():  # another test's local instance; the cluster needs the driver free
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        on_cluster = _memlens(*AUDIT, "--executor", f"ray:{cluster.address}", "--out", str(tmp_path / "ray"),
                              cwd=tmp_path)  # fmt: skip
    finally:
        cluster.shutdown()
    assert on_cluster.returncode == 0, on_cluster.stderr[-3000:]
    local = _memlens(*AUDIT, "--threads", "1", "--out", str(tmp_path / "local"), cwd=tmp_path)
    assert local.returncode == 0, local.stderr[-3000:]

    from memlens.store import RunStore

    ours, theirs = RunStore.open(tmp_path / "ray"), RunStore.open(tmp_path / "local")
    assert set(ours.observation_names()) == set(theirs.observation_names())
    for name in ours.observation_names():
        np.testing.assert_array_equal(np.asarray(ours.observation(name)), np.asarray(theirs.observation(name)),
                                      err_msg=name)  # fmt: skip
