"""Training on a Ray cluster, behind the same handle as a local worker process.

Each run is a Ray actor (one CPU) that calls ``run_job`` exactly as a local worker does, so its
result goes into the same on-disk cache through the same lock-and-rename write: the cache folder
must be one that every node sees at the same path (a shared folder). The server collects the
actor's records about once a second and sends it controls (stop, a named value). Ray is an
optional extra (``pip install -e ".[ray]"``) and this module is imported only when a Ray address
is given (``$VAE_LAB_RAY_ADDRESS``, ``vae-lab --ray``, ``zoo --ray``).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import deque
from collections.abc import Mapping
from typing import Any

import ray

from vae_core.store.worker import Controls, JobSpec, Record, run_job


@ray.remote(num_cpus=1, max_concurrency=3)  # threads: run, and the server's take() / control() calls
class RunActor:
    """One run on a node of the cluster."""

    def __init__(self, spec: JobSpec):
        os.environ.update(spec.env)
        self._spec = spec
        self._controls = Controls(spec.controls)
        self._lock = threading.Lock()
        self._records: list[Record] = []

    def run(self) -> None:
        run_job(self._spec, self._append, self._controls)

    def take(self) -> list[Record]:
        """The records since the last call."""
        with self._lock:
            out, self._records = self._records, []
        return out

    def control(self, message: Mapping[str, Any]) -> None:
        self._controls.update(message)

    def _append(self, record: Record) -> None:
        with self._lock:
            self._records.append(record)


class RayRun:
    """A launched run, seen from the server."""

    pid = None

    def __init__(self, spec: JobSpec):
        self.actor = RunActor.remote(spec)
        self.done = self.actor.run.remote()
        self._buffer: deque[Record] = deque()
        self._ended = False

    def recv(self, timeout: float) -> Record | None:
        if not self._buffer and not self._ended:
            finished, _ = ray.wait([self.done], timeout=timeout)
            try:
                self._buffer.extend(ray.get(self.actor.take.remote(), timeout=60))
            except ray.exceptions.RayError:  # the actor (or its node) died
                self._ended = True
            self._ended = self._ended or bool(finished)
        if self._buffer:
            return self._buffer.popleft()
        if self._ended:
            raise EOFError
        return None

    def send(self, message: Mapping[str, Any]) -> None:
        with contextlib.suppress(ray.exceptions.RayError):
            self.actor.control.remote(dict(message))

    def kill(self) -> None:
        with contextlib.suppress(ray.exceptions.RayError):
            ray.kill(self.actor)

    def ended_why(self) -> str:
        try:
            ray.get(self.done, timeout=5)
        except ray.exceptions.RayError as e:
            return f"its Ray actor failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
        return "its Ray actor ended without a result"


class RayBackend:
    """Runs as actors on the Ray cluster at ``address`` (None: the Ray this process already
    joined, e.g. a test's ``ray.init(num_cpus=2)``)."""

    local = False

    def __init__(self, address: str | None = None):
        if not ray.is_initialized():
            ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
        self._live: list[RayRun] = []

    def slots(self) -> int:
        """As many runs at once as the cluster has CPUs."""
        return max(1, int(ray.cluster_resources().get("CPU", 1)))

    def launch(self, spec: JobSpec) -> RayRun:
        run = RayRun(spec)
        self._live = [r for r in self._live if not r._ended] + [run]
        return run

    def close(self) -> None:
        for run in self._live:
            run.kill()
        self._live = []
