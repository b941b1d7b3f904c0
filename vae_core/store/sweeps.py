"""β sweeps through the model cache: the members a sweep still needs train together
(``vae.sweep.train_sweep``), each is stored as an ordinary entry under its own config's key (so
every page opens it as if it had been trained alone), and a background job lets viewers watch
the members move on the rate-distortion plane while they train.

A sweep's configs are the sidebar's setting at each β of ``ZOO_BETAS``, exactly the zoo's cells:
the zoo's cached grid and a finished sweep are the same entries.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from vae_core.config import RunConfig
from vae_core.data.datasets import Dataset
from vae_core.store.cache import TrainedModel, config_key, lookup, machine_chooser, store, usable
from vae_core.store.zoo import ZOO_BETAS
from vae_core.vae.sweep import train_sweep
from vae_core.vae.train import EpochInfo, StepInfo

SweepStatus = str  # "running", "completed", "stopped", "failed"


def sweep_configs(config: RunConfig, betas: Sequence[float] = ZOO_BETAS) -> list[RunConfig]:
    """The sweep of ``config``'s setting over ``betas`` (a constant β each)."""
    return [
        dataclasses.replace(config, train=dataclasses.replace(config.train, beta=float(b), beta_schedule=()))
        for b in betas
    ]


def sweep_key(configs: Sequence[RunConfig]) -> str:
    return hashlib.sha256(",".join(config_key(c) for c in configs).encode()).hexdigest()[:20]


def run_sweep(
    configs: Sequence[RunConfig],
    root: str | Path | None = None,
    *,
    data: Dataset,
    on_step: Callable[[int, StepInfo], None] | None = None,
    on_epoch: Callable[[int, EpochInfo], None] | None = None,
    stop_event: threading.Event | None = None,
) -> list[TrainedModel]:
    """Every config's model: the cached ones read, the rest trained together in one job and each
    completed one stored under its own key. Callbacks get the index into ``configs``."""
    found = [lookup(c, root) for c in configs]
    todo = [i for i, f in enumerate(found) if f is None]
    if todo:
        results = train_sweep(
            [configs[i] for i in todo],
            data,
            on_step=(lambda m, info: on_step(todo[m], info)) if on_step else None,
            on_epoch=(lambda m, info: on_epoch(todo[m], info)) if on_epoch else None,
            stop_event=stop_event,
            chooser=machine_chooser(root),
        )
        for i, result in zip(todo, results, strict=True):
            trained = TrainedModel(result.model, configs[i], result.history(), result.metrics())
            trained.checkpoints = result.checkpoints
            if result.status == "completed" and not usable(configs[i], root):  # not written meanwhile
                store(trained, root)
            found[i] = trained
    return [f for f in found if f is not None]


@dataclass(frozen=True)
class MemberView:
    """One member of a sweep as a viewer sees it: its β, its test-set epochs so far, its status."""

    config: RunConfig
    epochs: tuple[EpochInfo, ...]
    status: str  # "cached", "waiting", "running", or a finished run's status
    steps_done: int = 0
    total_steps: int = 0

    @property
    def beta(self) -> float:
        return self.config.train.beta


@dataclass(frozen=True)
class SweepSnapshot:
    key: str
    status: SweepStatus
    members: tuple[MemberView, ...]
    seconds: float = 0.0
    message: str = ""

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def progress(self) -> float:
        done = sum(m.steps_done for m in self.members if m.status != "cached")
        total = sum(m.total_steps for m in self.members if m.status != "cached")
        return 1.0 if not self.running else (done / total if total else 0.0)


def member_from_cache(trained: TrainedModel) -> MemberView:
    epochs = tuple(EpochInfo(**e) for e in trained.history.get("epochs", []))
    steps = trained.history.get("steps", [])
    total = steps[-1]["total_steps"] if steps else 0
    return MemberView(trained.config, epochs, "cached", total, total)


class SweepJob:
    """One sweep in a daemon thread; every method is safe to call from any thread."""

    def __init__(self, configs: Sequence[RunConfig], data: Dataset, root: str | Path | None = None) -> None:
        self.configs, self.key = list(configs), sweep_key(configs)
        self._data, self._root = data, root
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._epochs: list[list[EpochInfo]] = [[] for _ in configs]
        self._steps = [0] * len(configs)
        self._total = [0] * len(configs)
        self._status, self._message, self._started = "running", "", time.perf_counter()
        self._finished: float | None = None
        self._members: list[MemberView] | None = None
        self._thread = threading.Thread(target=self._run, name=f"sweep-{self.key}", daemon=True)

    def start(self) -> SweepJob:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() or not self._thread.ident

    def snapshot(self) -> SweepSnapshot:
        with self._lock:
            end = self._finished or time.perf_counter()
            members = self._members or [
                MemberView(c, tuple(e), "running", s, t)
                for c, e, s, t in zip(self.configs, self._epochs, self._steps, self._total, strict=True)
            ]
            return SweepSnapshot(self.key, self._status, tuple(members), end - self._started, self._message)

    def _run(self) -> None:
        torch.set_num_threads(1)  # leave the other core to the web server
        try:
            trained = run_sweep(
                self.configs,
                self._root,
                data=self._data,
                on_step=self._on_step,
                on_epoch=self._on_epoch,
                stop_event=self._stop,
            )
        except Exception as e:  # a broken dataset or config must end the job, not the server
            with self._lock:
                self._status, self._message, self._finished = "failed", f"{type(e).__name__}: {e}", time.perf_counter()
            return
        members = [self._member(t) for t in trained]
        with self._lock:
            self._members = members
            self._status = "stopped" if self._stop.is_set() else "completed"
            self._finished, self._data = time.perf_counter(), None

    def _member(self, trained: TrainedModel) -> MemberView:
        if trained.from_cache:
            return member_from_cache(trained)
        epochs = tuple(EpochInfo(**e) for e in trained.history["epochs"])
        steps = trained.history["steps"]
        total = steps[-1]["total_steps"] if steps else 0
        return MemberView(trained.config, epochs, str(trained.metrics["status"]), len(steps), total)

    def _on_step(self, i: int, info: StepInfo) -> None:
        with self._lock:
            self._steps[i], self._total[i] = info.step, info.total_steps

    def _on_epoch(self, i: int, info: EpochInfo) -> None:
        with self._lock:
            self._epochs[i].append(info)


class SweepRegistry:
    """At most one sweep job per set of configs, and the latest few finished ones."""

    def __init__(self, root: str | Path | None = None) -> None:
        self._root, self._lock = root, threading.Lock()
        self._jobs: dict[str, SweepJob] = {}

    def start(self, configs: Sequence[RunConfig], data: Dataset) -> SweepJob:
        key = sweep_key(configs)
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.alive:
                return job
            self._jobs.pop(key, None)
            self._jobs[key] = job = SweepJob(configs, data, self._root)
            for old in [k for k, j in self._jobs.items() if not j.alive][:-4]:
                del self._jobs[old]
            return job.start()

    def get(self, configs: Sequence[RunConfig]) -> SweepJob | None:
        with self._lock:
            return self._jobs.get(sweep_key(configs))

    def cached(self, configs: Sequence[RunConfig]) -> list[MemberView]:
        """The members the cache holds already (the zoo's grid), drawn without training."""
        found = [lookup(c, self._root) for c in configs]
        return [member_from_cache(t) for t in found if t is not None]
