"""The training queue: a bounded pool of worker processes and the first-in, first-out line to it.

At most ``workers`` runs train at once (default ``max(1, cores - 1)``, or ``$VAE_LAB_WORKERS``),
each in a worker process of its own, started from the 'forkserver' (a clean single-threaded
parent that has imported torch once: forking the threaded web server itself is unsafe). Later runs
wait in line. A worker uses the cores the other runs leave free (all of them when it trains
alone), and is told a new count when a run starts or ends. The pool also estimates how long a
queued run waits, from the pace of the runs it has seen. With ``$VAE_LAB_RAY_ADDRESS`` set,
``pool_from_env`` hands the runs to a Ray cluster instead (``vae_core.store.ray_pool``); the job
layer above sees the same interface either way.
"""

from __future__ import annotations

import heapq
import os
import threading
from collections import deque
from collections.abc import Mapping
from typing import Protocol

from vae_core.config import RunConfig
from vae_core.store.backends import Backend, LocalBackend

WORKERS_ENV = "VAE_LAB_WORKERS"
RAY_ENV = "VAE_LAB_RAY_ADDRESS"
WAIT_POLL_SECONDS = 0.5  # how often a queued run checks whether it was cancelled


class Queued(Protocol):
    """What the pool needs of a job: its config and how long it still needs (None: unknown)."""

    config: RunConfig

    def remaining(self) -> float | None: ...


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def default_workers(env: Mapping[str, str] = os.environ) -> int:
    """``$VAE_LAB_WORKERS``, else one core fewer than this machine has (at least one)."""
    text = env.get(WORKERS_ENV, "").strip()
    if not text:
        return max(1, cores() - 1)
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{WORKERS_ENV}={text!r} must be a whole number of at least 1")
    return int(text)


class WorkerPool:
    """At most ``workers`` runs at once; the others wait in line, first come first served."""

    def __init__(
        self,
        workers: int | None = None,
        *,
        backend: Backend | None = None,
        threads: int | None = None,
    ):
        self.workers = workers if workers is not None else default_workers()
        self.backend = backend if backend is not None else LocalBackend()
        self._threads = threads  # None: share the cores out among the running runs
        self._cond = threading.Condition()
        self._queue: deque[Queued] = deque()
        self._running: list[Queued] = []
        self._pace: dict[str, float] = {}  # dataset -> seconds per epoch of its last finished run
        self._closed = False

    def warm(self) -> None:
        """Make the backend ready for a first run where it can (the local forkserver started)."""
        warm = getattr(self.backend, "warm", None)
        if warm is not None:
            warm()

    # -- the line --------------------------------------------------------------------------

    def enter(self, job: Queued) -> None:
        """Take ``job``'s place in line now (runs are served in the order they entered)."""
        with self._cond:
            if job not in self._queue:
                self._queue.append(job)

    def withdraw(self, job: Queued) -> None:
        """Take ``job`` out of line without training it (it was found in the cache)."""
        with self._cond:
            if job in self._queue:
                self._queue.remove(job)
            self._cond.notify_all()

    def wait_turn(self, job: Queued, cancelled: threading.Event) -> bool:
        """Block while ``job`` waits in line (entering it, if it has not); True when it may train
        now (it holds a slot until ``leave``), False if it was cancelled first (or the pool closed)."""
        with self._cond:
            if job not in self._queue:
                self._queue.append(job)
            while not (cancelled.is_set() or self._closed):
                if self._queue[0] is job and len(self._running) < self.workers:
                    break
                self._cond.wait(WAIT_POLL_SECONDS)
            self._queue.remove(job)
            self._cond.notify_all()
            if cancelled.is_set() or self._closed:
                return False
            self._running.append(job)
        return True

    def leave(self, job: Queued) -> None:
        """``job`` has ended: its slot goes to the next in line."""
        with self._cond:
            if job in self._running:
                self._running.remove(job)
            self._cond.notify_all()

    def wake(self) -> None:
        """Have waiting runs look again (one was cancelled)."""
        with self._cond:
            self._cond.notify_all()

    def ahead(self, job: Queued) -> int | None:
        """How many runs wait in line before ``job``; None if it is not in line."""
        with self._cond:
            return self._queue.index(job) if job in self._queue else None

    def counts(self) -> tuple[int, int]:
        """(runs training, runs waiting in line)."""
        with self._cond:
            return len(self._running), len(self._queue)

    # -- cores -----------------------------------------------------------------------------

    def threads(self) -> int:
        """Torch threads for each running run: the cores shared out among them (one thread per
        run on a remote backend), at most ``$OMP_NUM_THREADS`` where that is set."""
        if self._threads is not None:
            return self._threads
        if not self.backend.local:
            return 1
        with self._cond:
            n = max(1, cores() // max(1, len(self._running)))
        cap = os.environ.get("OMP_NUM_THREADS", "").strip()
        return min(n, int(cap)) if cap.isdigit() and int(cap) > 0 else n

    def running_jobs(self) -> list[Queued]:
        with self._cond:
            return list(self._running)

    # -- how long ---------------------------------------------------------------------------

    def record(self, config: RunConfig, seconds: float, epochs: int) -> None:
        """A run of ``config`` took ``seconds`` (wall, worker start to result) for ``epochs``."""
        if epochs > 0:
            with self._cond:
                self._pace[config.dataset] = seconds / epochs

    def estimate(self, config: RunConfig) -> float | None:
        """Seconds a run of ``config`` should take, from the last run on its dataset; None if
        none has finished here yet."""
        with self._cond:
            pace = self._pace.get(config.dataset)
        return pace * config.train.epochs if pace is not None else None

    def wait_estimate(self, job: Queued) -> float | None:
        """Seconds until ``job`` starts, if every run before it has an estimate: the runs in line
        take the first free worker, in order."""
        with self._cond:
            if job not in self._queue:
                return None
            before = list(self._queue)[: self._queue.index(job)]
            running = list(self._running)
        free = [r.remaining() for r in running] + [0.0] * max(0, self.workers - len(running))
        durations = [self.estimate(other.config) for other in before]
        if any(t is None for t in free) or any(d is None for d in durations):
            return None
        heap = sorted(t for t in free if t is not None)[: self.workers]
        heapq.heapify(heap)
        for d in durations:
            heapq.heappush(heap, heapq.heappop(heap) + float(d or 0.0))
        return max(0.0, heap[0])

    def close(self) -> None:
        """Stop taking runs: the waiting ones are cancelled and the workers killed."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self.backend.close()


def pool_from_env(env: Mapping[str, str] = os.environ, threads: int | None = None) -> WorkerPool:
    """The pool the app serves with: local worker processes, or a Ray cluster where
    ``$VAE_LAB_RAY_ADDRESS`` is set (Ray is imported only then)."""
    address = env.get(RAY_ENV, "").strip()
    if address:
        from vae_core.store.ray_pool import RayBackend

        backend = RayBackend(address)
        workers = int(env[WORKERS_ENV]) if env.get(WORKERS_ENV, "").strip() else backend.slots()
        return WorkerPool(workers, backend=backend, threads=threads)
    return WorkerPool(default_workers(env), threads=threads)
