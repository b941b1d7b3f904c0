"""The training queue: a bounded pool of worker processes, first in first out, and its faults (a
worker killed mid-run, two servers on one cache, a cache that cannot be written)."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from vae_core import make_config
from vae_core.store import cache
from vae_core.store.backends import InProcessBackend
from vae_core.store.cache import entry_dir, lookup
from vae_core.store.jobs import JobRegistry
from vae_core.store.pool import WorkerPool, cores, default_workers
from vae_core.store.worker import Controls

LONG = {"epochs": 500}  # a digits run that trains until stopped


@pytest.fixture
def root(tmp_path):
    return tmp_path / "models"


@pytest.fixture
def registry(root):
    """A server's registry with one worker; its workers are ended whatever the test does."""
    reg = JobRegistry(root, pool=WorkerPool(1))
    yield reg
    reg.close()


def wait_for(predicate, timeout: float = 90.0) -> None:
    done = threading.Event()
    end = timeout / 0.05
    for _ in range(int(end)):
        if predicate():
            return
        done.wait(0.05)
    raise AssertionError("timed out")


def test_later_runs_wait_in_line_first_come_first_served(registry, root):
    first, second, third = (make_config("digits", seed=s, **LONG) for s in (1, 2, 3))
    a, b, c = registry.start(first), registry.start(second), registry.start(third)
    wait_for(lambda: a.snapshot().step > 0)
    assert [b.snapshot().status, c.snapshot().status] == ["queued", "queued"]
    assert (b.snapshot().ahead, c.snapshot().ahead) == (0, 1)
    assert b.worker_pid is None and c.worker_pid is None, "one worker: nothing else may train"
    assert registry.start(second) is b, "a second session on a queued config joins it"
    assert registry.pool.counts() == (1, 2)
    c.stop()  # cancelled while it waits: it never trains
    assert c.wait(30) and c.snapshot().status == "stopped" and c.result is None
    a.stop()
    wait_for(lambda: b.snapshot().step > 0)
    assert a.wait(30) and b.worker_pid not in (None, a.worker_pid)
    assert registry.pool.counts() == (1, 0)


def test_the_wait_is_estimated_from_the_runs_before_it(root):
    class Run:
        def __init__(self, config, left):
            self.config, self.left = config, left

        def remaining(self):
            return self.left

    pool = WorkerPool(2, backend=InProcessBackend())
    config = make_config("digits", epochs=10)
    never = threading.Event()
    running = [Run(config, 30.0), Run(config, 5.0)]
    for run in running:
        assert pool.wait_turn(run, never)
    line = [Run(config, None) for _ in range(3)]
    for run in line:
        threading.Thread(target=pool.wait_turn, args=(run, never), daemon=True).start()
    wait_for(lambda: pool.counts() == (2, 3))
    assert pool.wait_estimate(line[2]) is None, "no run has finished here: the pace is unknown"
    pool.record(config, 20.0, 10)  # 2 s an epoch: 20 s a run
    # Free at 5 and 30; the first in line takes the 5 (free at 25), the second the 25 (free at 45).
    assert [pool.wait_estimate(r) for r in line] == [5.0, 25.0, 30.0]
    pool.close()


def test_the_cores_are_shared_out_among_the_running_runs(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    pool = WorkerPool(cores() + 1, backend=InProcessBackend())
    never = threading.Event()
    assert pool.threads() == cores(), "a run alone uses every core"
    for i in range(cores() + 1):
        pool.wait_turn(make_config("digits", seed=i), never)
    assert pool.threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    pool.leave(pool.running_jobs()[0])
    assert pool.threads() == 1
    pool.close()


def test_the_number_of_workers_comes_from_the_environment():
    assert default_workers({}) == max(1, cores() - 1)
    assert default_workers({"VAE_LAB_WORKERS": "3"}) == 3
    with pytest.raises(ValueError, match="VAE_LAB_WORKERS"):
        default_workers({"VAE_LAB_WORKERS": "none"})


def test_a_warmed_pool_has_its_forkserver_running_before_the_first_run(tmp_path):
    """The app warms the pool at server start, so that Start does not wait for torch's import."""
    script = (
        "import multiprocessing.forkserver as f, os\n"
        "from vae_core.store.pool import WorkerPool\n"
        "assert f._forkserver._forkserver_pid is None\n"
        "WorkerPool(1).warm()\n"
        "pid = f._forkserver._forkserver_pid\n"
        "os.kill(pid, 0)\n"  # a live process
        "print(pid)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip().isdigit(), out.stderr[-2000:]


def test_controls_carry_stop_threads_and_named_values():
    controls = Controls({"beta": 1.0})
    controls.update({"beta": 0.5, "threads": 2})
    assert controls.get("beta") == 0.5 and controls.get("lr", 1e-3) == 1e-3
    assert controls.take("threads") == 2 and controls.take("threads") is None, "a change is applied once"
    assert not controls.stop.is_set()
    controls.update({"stop": True})
    assert controls.stop.is_set()


def test_a_worker_killed_mid_run_fails_its_job_and_leaves_the_cache_clean(registry, root):
    config = make_config("digits", **LONG)
    job = registry.start(config)
    wait_for(lambda: job.snapshot().step > 0)
    os.kill(job.worker_pid, signal.SIGKILL)
    assert job.wait(30)
    snap = job.snapshot()
    assert snap.status == "failed" and not snap.running
    assert "killed by signal SIGKILL" in snap.message and "nothing was cached" in snap.message
    assert lookup(config, root) is None and not entry_dir(config, root).exists()
    assert not [p for p in root.iterdir() if p.name.startswith(".tmp-")]
    again = registry.start(config)
    assert again is not job, "Start works again"
    wait_for(lambda: again.snapshot().step > 0)
    again.stop()
    assert again.wait(30) and again.snapshot().status == "stopped"


def test_two_servers_on_one_cache_train_a_config_once(root):
    """Each server has its own pool of workers; the cache's lock on the config key makes the
    second one's worker wait for the first one's result."""
    servers = [JobRegistry(root, pool=WorkerPool(1)) for _ in range(2)]
    try:
        config = make_config("digits", epochs=20)
        jobs = [reg.start(config) for reg in servers]
        assert all(job.wait(120) for job in jobs)
        assert [job.snapshot().status for job in jobs] == ["completed", "completed"]
        assert sorted(job.result.from_cache for job in jobs) == [False, True], "trained exactly once"
        assert lookup(config, root) is not None
    finally:
        for reg in servers:
            reg.close()


def test_a_cache_that_cannot_be_written_keeps_the_model_for_the_session(root, monkeypatch):
    """A read-only cache, as the worker sees it (in this process, so that the write can fail)."""

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(cache, "_write_entry", read_only)
    registry = JobRegistry(root, pool=WorkerPool(1, backend=InProcessBackend()))
    config = make_config("digits", epochs=2, hidden=(16,))
    job = registry.start(config)
    assert job.wait(60)
    assert job.snapshot().status == "completed"
    assert job.result.save_error == "the cache folder is read-only — nothing was saved"
    assert registry.trained(config) is job.result, "still viewable in this server"
    assert lookup(config, root) is None
    registry.close()


def test_a_real_read_only_cache_folder_is_reported_by_the_worker(tmp_path):
    """The same through a real worker process and a real read-only bind mount (needs root)."""
    import shutil
    import subprocess

    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a read-only bind mount needs root; the in-process test covers the message")
    mounted = subprocess.run(["mount", "--bind", "-o", "ro", str(folder), str(folder)], capture_output=True)
    if mounted.returncode:
        pytest.skip("mount --bind -o ro is not allowed here")
    try:
        registry = JobRegistry(folder, pool=WorkerPool(1))
        job = registry.start(make_config("digits", epochs=2, hidden=(16,)))
        assert job.wait(90)
        assert job.snapshot().status == "completed", job.snapshot().message
        assert job.result.save_error == "the cache folder is read-only — nothing was saved"
        assert job.result.model is not None
        registry.close()
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)


SERVER = """
import sys, time
from vae_core import make_config
from vae_core.store.jobs import JobRegistry
from vae_core.store.pool import WorkerPool
if __name__ == "__main__":
    registry = JobRegistry(sys.argv[1], pool=WorkerPool(1))
    jobs = [registry.start(make_config("digits", epochs=500, seed=s)) for s in (1, 2, 3)]
    while jobs[0].snapshot().step == 0:
        time.sleep(0.05)
    print(jobs[0].worker_pid, flush=True)
    time.sleep(600)
"""


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads process states from /proc")
def test_a_server_killed_with_runs_queued_leaves_nothing_and_the_next_one_says_so(root, tmp_path):
    import subprocess
    import sys

    script = tmp_path / "server.py"
    script.write_text(SERVER)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}  # this checkout's vae_core
    server = subprocess.Popen([sys.executable, str(script), str(root)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        worker = int(server.stdout.readline())
    finally:
        server.kill()  # SIGKILL: no clean-up runs in the server
        server.wait(30)
    wait_for(lambda: _gone(worker), timeout=60)  # its worker stops: the server's pipe closed
    configs = [make_config("digits", epochs=500, seed=s) for s in (1, 2, 3)]
    cached = [(c.train.seed, lookup(c, root).metrics) for c in configs if lookup(c, root) is not None]
    assert not cached, f"nothing half-written is used: {cached}"
    restarted = JobRegistry(root, pool=WorkerPool(1))
    try:
        assert all(restarted.lost(c) for c in configs), "the restarted server knows which runs were lost"
        assert not restarted.running(), "the queue is simply gone"
        assert JobRegistry(root, pool=WorkerPool(1)).lost(configs[0]) is False, "each loss is told once"
        job = restarted.start(configs[1])
        assert not restarted.lost(configs[1]), "started again: no longer lost"
        job.stop()
        assert job.wait(30)
    finally:
        restarted.close()
