"""The ray backend: a sweep on a local Ray, and on a two-node Ray cluster simulated on this machine.

Ray is a dev requirement (requirements-dev.txt), so these run wherever the suite runs. Each test
starts its own Ray and shuts it down, leaving no Ray process behind.
"""

import pytest
import ray
from ray.cluster_utils import Cluster

from lfm.config import RunConfig
from lfm.lab.backends import RayBackend
from lfm.lab.sweep import SweepSpec, plan_sweep
from lfm.lab.sweep_runner import run_sweep
from lfm.store import RunReader
from tiny import TINY_SETTINGS

TINY = RunConfig().with_overrides({**TINY_SETTINGS, "log_every": 2})


@pytest.fixture
def no_ray_left():
    yield
    if ray.is_initialized():
        ray.shutdown()


def test_a_four_run_sweep_on_a_local_ray_ends_with_four_finished_runs(tmp_path, no_ray_left):
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    planned = plan_sweep(TINY, SweepSpec((0.0, 0.3), None, (0, 1)), "sweep-ray")
    report = run_sweep(planned, RayBackend(), tmp_path, "sweep-ray")
    reader = RunReader(tmp_path)
    runs = reader.list_runs()
    assert len(runs) == 4 and {r.state for r in runs} == {"finished"}
    assert {r.meta["backend"] for r in runs} == {"ray"}
    assert all(t.outcome.node for t in report.tasks)  # each ran as a Ray task on a node


def test_runs_are_placed_on_both_nodes_of_a_two_node_cluster(tmp_path, no_ray_left):
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    try:
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
        cluster.wait_for_nodes()
        backend = RayBackend()
        assert backend.max_concurrent == 2  # one run per CPU of the cluster
        planned = plan_sweep(TINY.with_overrides({"num_epochs": 10}), SweepSpec((0.0, 0.3)), "sweep-two")
        report = run_sweep(planned, backend, tmp_path, "sweep-two")
        assert [t.outcome.status for t in report.tasks] == ["finished", "finished"]
        nodes = {t.outcome.node for t in report.tasks}
        assert len(nodes) == 2  # one CPU each: the two runs in flight had to go to different nodes
    finally:
        ray.shutdown()
        cluster.shutdown()
