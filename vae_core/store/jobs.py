"""Background training jobs: one job per config, shared by everyone who looks at it.

A job waits in the training queue (``vae_core.store.pool``) and then trains in a worker process
through the model cache (``vae_core.store.worker``: look up, else lock, train and store a
completed run); the web server never trains in its own process. A thread here follows the
worker's records into a thread-safe snapshot of steps, epochs and status that any number of
viewers poll, with the weights the worker publishes every so often, so a viewer can draw
reconstructions and the latent space as they form. A worker that dies leaves its job failed with
the reason, and nothing in the cache. A ``JobRegistry`` holds at most one live job per config
key: starting a config that is queued or training returns that job. Its memory is bounded: of the
finished jobs, and of the models it read from the cache, it keeps the most recently used few
(the cache has the rest). Nothing here knows about Streamlit; the words that describe a config
or a place in line to a person are in ``vae_core.views.wording``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from vae_core.config import RunConfig
from vae_core.store import journal
from vae_core.store.backends import Handle
from vae_core.store.cache import TrainedModel, config_key, default_cache_root, lookup
from vae_core.store.inventory import sweep_stale
from vae_core.store.pool import WorkerPool
from vae_core.store.snapshot import JobSnapshot, JobStatus
from vae_core.store.sweeps import MemberView, SweepSnapshot, member_from_cache, member_view, sweep_key
from vae_core.store.worker import JobSpec, model_from, unpack
from vae_core.vae.model import VAE
from vae_core.vae.train import EpochInfo, StepInfo

WAITING = "another process (another server on this cache, or the zoo) trains these settings; waiting for its result"
Snap = TypeVar("Snap", JobSnapshot, SweepSnapshot)
KEPT = 8  # finished jobs, and models read from the cache, that a registry keeps (each, most recent first)


@dataclass
class _State:
    status: JobStatus = "starting"
    steps: list[StepInfo] = field(default_factory=list)
    epochs: list[EpochInfo] = field(default_factory=list)
    message: str = ""
    started: float | None = None  # perf_counter when training (not loading) began
    finished: float | None = None
    weights: bytes | None = None  # the worker's last published state_dict (torch.save'd)
    weights_version: int = 0
    beta_changes: tuple[tuple[int, float], ...] = ()  # a live β: (step, β from then on), from the worker


class TrainingJob:
    """One training run: it waits in the pool's line, then trains in a worker process while a
    thread here follows its records. Every method is safe to call from any thread."""

    AGAIN = "Press Start to train again."  # what to do after a worker died, in the failure's message

    def __init__(self, config: RunConfig, *, root: str | Path | None = None, pool: WorkerPool | None = None):
        self.config = config
        self.key = config_key(config)
        self._root = str(root) if root is not None else str(default_cache_root())
        self._pool = pool if pool is not None else WorkerPool(1)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._state = _State()
        self._result: TrainedModel | None = None
        self._live: tuple[int, VAE] | None = None
        self._handle: Handle | None = None
        self._controls: dict[str, Any] = {}  # sent to the worker, or kept for it until it starts
        self._thread = threading.Thread(target=self._run, name=f"job-{self.key}", daemon=True)

    def start(self) -> TrainingJob:
        self._pool.enter(self)  # its place in line is the order of start(), not of the threads
        self._thread.start()
        return self

    def stop(self) -> None:
        """Cancel the run if it waits in line; else stop it after the current step (the partial
        model stays viewable)."""
        self._stop.set()
        self.control(stop=True)
        self._pool.wake()

    def control(self, **values: Any) -> None:
        """Send named controls to the training loop (``stop``, ``threads``, or e.g. ``beta``)."""
        with self._lock:
            self._controls.update(values)
            handle = self._handle
        if handle is not None:
            handle.send(values)

    @property
    def beta_changes(self) -> tuple[tuple[int, float], ...]:
        """The β changes made live so far, as the worker recorded them: (0-based step, β from then on)."""
        with self._lock:
            return self._state.beta_changes

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run ends; True if it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() or not self._thread.ident  # not started counts as alive

    @property
    def result(self) -> TrainedModel | None:
        """The trained (or stopped, or diverged) model once the run has ended."""
        with self._lock:
            return self._result

    @property
    def worker_pid(self) -> int | None:
        """The worker process's id while it trains here (None in line, or on Ray)."""
        with self._lock:
            return getattr(self._handle, "pid", None)

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            s = self._state
            end = s.finished or time.perf_counter()
            snap = JobSnapshot(
                key=self.key,
                status=s.status,
                steps=tuple(s.steps),
                epochs=tuple(s.epochs),
                total_steps=s.steps[-1].total_steps if s.steps else 0,
                seconds=end - s.started if s.started else 0.0,
                message=s.message,
                from_cache=self._result.from_cache if self._result else False,
            )
        return self._in_line(snap)

    def _in_line(self, snap: Snap) -> Snap:
        """``snap`` with its place in line and the wait, if it is queued."""
        if snap.status != "queued":
            return snap
        return replace(snap, ahead=self._pool.ahead(self), wait=self._pool.wait_estimate(self))

    def remaining(self) -> float | None:
        """Seconds this run still needs: its ETA once it steps, else the pool's estimate."""
        snap = self.snapshot()
        if snap.eta is not None:
            return snap.eta
        estimate = self._pool.estimate(self.config)
        return None if estimate is None else max(0.0, estimate - snap.seconds)

    def live_model(self) -> VAE | None:
        """The model as of the worker's last published weights (None before there are any)."""
        with self._lock:
            if self._result is not None:
                return self._result.model
            version, weights = self._state.weights_version, self._state.weights
        if weights is None:
            return None
        if self._live is None or self._live[0] != version:
            self._live = (version, model_from(self.config, weights))
        return self._live[1]

    # -- the thread that follows the run ---------------------------------------------------

    def _run(self) -> None:
        noted = None
        try:
            if self._from_cache():
                self._pool.withdraw(self)
                return
            noted = self._note()
            self._set(status="queued")
            if not self._pool.wait_turn(self, self._stop):
                self._set(status="stopped", message="cancelled while it waited in line; nothing was trained")
                return
            try:
                self._follow()
            finally:
                self._pool.leave(self)
                self._rebalance()
        except Exception as e:  # a broken config or worker must end the job, not the server
            self._pool.withdraw(self)
            self._set(status="failed", message=f"{type(e).__name__}: {e}")
        finally:
            journal.clear(noted)
            with self._lock:
                self._handle, self._live = None, None
                self._state.weights = None

    def _follow(self) -> None:
        with self._lock:
            controls = dict(self._controls)
        env = {k: v for k, v in os.environ.items() if k.startswith("VAE_LAB_")}
        self._set(status="starting")
        spec = self._spec(self._pool.threads(), env, controls)
        launched = time.perf_counter()
        handle = self._pool.backend.launch(spec)
        with self._lock:
            self._handle = handle
            late = {k: v for k, v in self._controls.items() if k not in controls or controls[k] != v}
        if late:  # sent while the worker started: after the spec was made, before it had a handle
            handle.send(late)
        self._rebalance()
        if self._stop.is_set():
            handle.send({"stop": True})  # a Stop that came while the worker started
        while True:
            try:
                record = handle.recv(timeout=1.0)
            except (EOFError, OSError):
                break
            if record is not None and self._apply(*record):
                self._pool.record(self.config, time.perf_counter() - launched, len(self._state.epochs))
                return
        message = f"The training process ended before the run did ({handle.ended_why()}); nothing was cached."
        self._set(status="failed", message=f"{message} {self.AGAIN}")

    def _from_cache(self) -> bool:
        """Whether the cache has the result already (then the job has finished with it)."""
        cached = lookup(self.config, self._root)
        if cached is not None:
            self._finish(cached)
        return cached is not None

    def _note(self) -> Path | None:
        return journal.note(self._root, self.key, self.config)  # a restarted server can tell it was lost

    def _spec(self, threads: int, env: dict[str, str], controls: dict[str, Any]) -> JobSpec:
        return JobSpec(self.config, self._root, threads, env, controls)

    def _apply(self, kind: str, value: Any) -> bool:
        """Take one record from the worker; True for the last one."""
        with self._lock:
            s = self._state
            if kind == "step":
                s.steps.append(StepInfo(**value))
            elif kind == "epoch":
                s.epochs.append(EpochInfo(**value))
            elif kind == "beta":
                s.beta_changes = tuple((int(a), float(b)) for a, b in value)
            elif kind == "weights":
                s.weights, s.weights_version = value, s.weights_version + 1
            elif kind == "status":
                s.status, s.message = value, WAITING if value == "waiting" else ""
                s.started = s.started or time.perf_counter()
        if kind == "failed":
            self._set(status="failed", message=str(value))
        elif kind == "done":
            self._finish(unpack(self.config, value))
        return kind in ("failed", "done")

    def _finish(self, trained: TrainedModel) -> None:
        with self._lock:
            self._result = trained
            if trained.from_cache:  # nothing streamed: show the stored history
                snap = JobSnapshot.from_trained(trained)
                self._state.steps, self._state.epochs = list(snap.steps), list(snap.epochs)
                self._state.started = time.perf_counter() - snap.seconds
            self._state.status = trained.metrics.get("status", "completed")
            self._state.message = str(trained.metrics.get("reason", ""))
            self._state.finished = time.perf_counter()

    def _set(self, status: JobStatus, message: str = "") -> None:
        with self._lock:
            self._state.status, self._state.message = status, message
            if status in ("stopped", "failed"):
                self._state.finished = time.perf_counter()

    def _rebalance(self) -> None:
        """Tell every running run how many threads it may use now."""
        threads = self._pool.threads()
        for job in self._pool.running_jobs():
            if isinstance(job, TrainingJob):
                job.control(threads=threads)


class JobRegistry:
    """At most one live job per config key, and the models they (or the cache) hold: every live
    job, and the KEPT most recently used finished jobs and cache reads."""

    def __init__(self, root: str | Path | None = None, pool: WorkerPool | None = None):
        self._root = root
        self.pool = pool if pool is not None else WorkerPool()
        self._lock = threading.Lock()
        self._jobs: dict[str, TrainingJob] = {}  # oldest use first
        self._models: dict[str, TrainedModel] = {}  # oldest use first
        sweep_stale(root)  # a server starts with a registry: clear what crashed writes left
        self._lost = journal.lost_runs(root if root is not None else default_cache_root())

    def start(self, config: RunConfig) -> TrainingJob:
        """Queue a run of ``config`` (it trains in a worker process when its turn comes), or
        return the job that already has it, in line or training."""
        key = config_key(config)
        with self._lock:
            self._lost.pop(key, None)
        return self._start(key, lambda: TrainingJob(config, root=self._root, pool=self.pool))

    def start_sweep(self, configs: Sequence[RunConfig]) -> SweepJob:
        """Queue a β sweep (its missing members train together in one worker), or return the job
        that already has it. It takes one place in the same line as single runs."""
        job = self._start(sweep_key(configs), lambda: SweepJob(configs, root=self._root, pool=self.pool))
        assert isinstance(job, SweepJob)
        return job

    def sweep(self, configs: Sequence[RunConfig]) -> SweepJob | None:
        """The latest job for this sweep (running, or finished and still kept), if any."""
        with self._lock:
            job = self._jobs.get(sweep_key(configs))
        return job if isinstance(job, SweepJob) else None

    def _start(self, key: str, make: Callable[[], TrainingJob]) -> TrainingJob:
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.alive:
                return job
            job = make()
            self._jobs.pop(key, None)
            self._jobs[key] = job
            self._trim()
            return job.start()

    def lost(self, config: RunConfig) -> bool:
        """Whether a run of ``config`` was queued or training when this server last went down
        (and has not been started again since)."""
        with self._lock:
            return config_key(config) in self._lost

    def close(self) -> None:
        """Cancel the runs in line and end the workers (a server shutting down, a test's end)."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.stop()
        self.pool.close()
        for job in jobs:
            job.wait(10)

    def get(self, config: RunConfig) -> TrainingJob | None:
        """The latest job for this config (running, or finished and still kept), if any."""
        key = config_key(config)
        with self._lock:
            job = self._jobs.pop(key, None)
            if job is not None:
                self._jobs[key] = job  # most recently used
            self._trim()  # jobs end on their own: count them when next asked
            return job

    def stop(self, config: RunConfig) -> bool:
        """Stop the running job for this config; False if none runs."""
        job = self.get(config)
        if job is None or not job.alive:
            return False
        job.stop()
        return True

    def live_jobs(self) -> list[TrainingJob]:
        """The jobs (runs and sweeps) that are queued, starting, waiting or training now, oldest first."""
        with self._lock:
            jobs = list(self._jobs.values())
        return [j for j in jobs if j.snapshot().running]

    def running(self) -> list[JobSnapshot | SweepSnapshot]:
        return [j.snapshot() for j in self.live_jobs()]

    def trained(self, config: RunConfig) -> TrainedModel | None:
        """The model for this config: a finished job's, else the cache's (memoized), else None."""
        key = config_key(config)
        job = self.get(config)
        if job is not None and job.result is not None and job.result.config == config:
            return job.result  # (a run whose β was changed live is another config: its schedule's)
        with self._lock:
            if key in self._models:
                self._models[key] = self._models.pop(key)  # most recently used
                return self._models[key]
        found = lookup(config, self._root)
        if found is not None:
            with self._lock:
                self._models[key] = found
                self._trim()
        return found

    def _trim(self) -> None:
        """Forget all but the KEPT most recently used finished jobs and cache reads (lock held)."""
        finished = [key for key, job in self._jobs.items() if not job.alive]
        for key in finished[: max(0, len(finished) - KEPT)]:
            del self._jobs[key]
        for key in list(self._models)[: max(0, len(self._models) - KEPT)]:
            del self._models[key]


class SweepJob(TrainingJob):
    """A β sweep: the members the cache lacks train together in one worker, so the sweep takes
    one place in the training queue like any run. Viewers get a ``SweepSnapshot``."""

    AGAIN = "Train the missing β again to retry."

    def __init__(self, configs: Sequence[RunConfig], *, root: str | Path | None = None, pool: WorkerPool | None = None):
        super().__init__(configs[0], root=root, pool=pool)
        self.configs, self.key = list(configs), sweep_key(configs)
        self._thread.name = f"sweep-{self.key}"
        self._member_epochs: list[list[EpochInfo]] = [[] for _ in configs]
        self._member_steps: list[tuple[int, int]] = [(0, 0)] * len(configs)
        self._members: list[MemberView] | None = None  # once it has ended

    def snapshot(self) -> SweepSnapshot:  # type: ignore[override]
        with self._lock:
            s = self._state
            end = s.finished or time.perf_counter()
            members = self._members or [
                MemberView(c, tuple(e), "running" if s.started else "waiting", step, total)
                for c, e, (step, total) in zip(self.configs, self._member_epochs, self._member_steps, strict=True)
            ]
            snap = SweepSnapshot(self.key, s.status, tuple(members), end - s.started if s.started else 0.0, s.message)
        return self._in_line(snap)

    def remaining(self) -> float | None:
        snap = self.snapshot()
        if snap.status == "queued":
            return None
        p = snap.progress
        return snap.seconds / p * (1 - p) if 0 < p < 1 else None

    def live_model(self) -> VAE | None:
        return None  # the members are viewed from the cache once they are stored

    def _from_cache(self) -> bool:
        found = [lookup(c, self._root) for c in self.configs]
        if any(t is None for t in found):
            return False
        self._end([member_from_cache(t) for t in found if t is not None], "completed")
        return True

    def _note(self) -> Path | None:
        return None  # a sweep lost with its server leaves its members untrained: the page says which

    def _spec(self, threads: int, env: dict[str, str], controls: dict[str, Any]) -> JobSpec:
        return JobSpec(self.config, self._root, threads, env, controls, sweep=tuple(self.configs))

    def _apply(self, kind: str, value: Any) -> bool:
        if kind == "members":
            with self._lock:
                self._member_steps = [(int(a), int(b)) for a, b in value]
        elif kind == "member_epoch":
            with self._lock:
                self._member_epochs[int(value[0])].append(EpochInfo(**value[1]))
        elif kind == "status":
            with self._lock:
                self._state.status, self._state.message = value, ""
                self._state.started = self._state.started or time.perf_counter()
        elif kind == "failed":
            self._set(status="failed", message=str(value))
        elif kind == "done":
            members = [member_view(c, m) for c, m in zip(self.configs, value, strict=True)]
            self._end(members, "stopped" if self._stop.is_set() else "completed")
        return kind in ("failed", "done")

    def _end(self, members: list[MemberView], status: JobStatus) -> None:
        with self._lock:
            self._members, self._state.status = members, status
            self._state.finished = time.perf_counter()
