"""The training queue on a real (local) Ray: the same job interface, the same on-disk cache.

Marked ``ray`` (``-m ray`` runs it alone; it starts Ray with two CPUs and takes tens of seconds)
and skipped, with the reason, where Ray is not installed (``pip install -e ".[ray]"``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vae_core import make_config
from vae_core.store.cache import lookup
from vae_core.store.jobs import JobRegistry
from vae_core.store.pool import WorkerPool

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def ray_backend():
    ray = pytest.importorskip("ray", reason='Ray is not installed: pip install -e ".[ray]"')
    from vae_core.store.ray_pool import RayBackend

    # The actors import this checkout's vae_core (an installed copy elsewhere may be older).
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    try:
        yield RayBackend()
    finally:
        ray.shutdown()


def test_runs_train_as_ray_actors_into_the_same_cache_and_stop_reaches_them(ray_backend, tmp_path):
    root = tmp_path / "models"
    registry = JobRegistry(root, pool=WorkerPool(ray_backend.slots(), backend=ray_backend))
    try:
        assert registry.pool.workers == 2
        quick, long = make_config("digits", epochs=3, hidden=(32,)), make_config("digits", epochs=500, seed=1)
        job, other = registry.start(quick), registry.start(long)
        assert job.wait(120), job.snapshot()
        snap = job.snapshot()
        assert snap.status == "completed", snap.message
        assert len(snap.epochs) == 3 and snap.step == snap.total_steps, "steps and epochs streamed back"
        assert not job.result.from_cache and lookup(quick, root) is not None, "stored by the lock-and-rename write"
        for _ in range(600):
            if other.snapshot().step > 0:
                break
            other.wait(0.1)
        other.stop()
        assert other.wait(60) and other.snapshot().status == "stopped"
        assert lookup(long, root) is None
    finally:
        registry.close()
