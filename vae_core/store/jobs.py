"""Background training jobs: one job per config, shared by everyone who looks at it.

A job trains in a daemon thread through the model cache (look up, else lock, train and store a
completed run) and keeps a thread-safe snapshot of its steps, epochs and status that any number
of viewers poll. While it trains it also publishes a copy of the weights every so often, so a
viewer can draw reconstructions and the latent space as they form without touching the model
being trained. A ``JobRegistry`` holds at most one live job per config key: starting a config
that already runs returns that job. Its memory is bounded: of the finished jobs, and of the models
it read from the cache, it keeps the most recently used few (the cache has the rest), and a job
lets go of its dataset, its training copy and its published weights when it ends. Nothing here
knows about Streamlit; the words that describe a config to a person are in ``vae_core.views.wording``.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from vae_core.config import RunConfig
from vae_core.data.datasets import Dataset, load_dataset
from vae_core.store.cache import TrainedModel, config_key, get_or_train, lookup
from vae_core.store.inventory import sweep_stale
from vae_core.vae.model import VAE
from vae_core.vae.schedule import Controls
from vae_core.vae.train import EpochInfo, StepInfo

JobStatus = Literal["starting", "waiting", "running", "completed", "stopped", "diverged", "failed"]
WAITING = "another process (another server on this cache, or the zoo) trains these settings; waiting for its result"
PUBLISH_SECONDS = 0.5  # how often a training job copies its weights for viewers
KEPT = 8  # finished jobs, and models read from the cache, that a registry keeps (each, most recent first)
LoadData = Callable[[str], Dataset]


def _load_local(name: str) -> Dataset:
    return load_dataset(name, download_missing=False)  # a job never goes online


@dataclass(frozen=True)
class JobSnapshot:
    """What a viewer sees of a job at one moment; plain immutable data."""

    key: str
    status: JobStatus
    steps: tuple[StepInfo, ...] = ()
    epochs: tuple[EpochInfo, ...] = ()
    total_steps: int = 0
    seconds: float = 0.0  # training time so far (data loading excluded)
    message: str = ""
    from_cache: bool = False

    @property
    def running(self) -> bool:
        return self.status in ("starting", "waiting", "running")

    @property
    def step(self) -> int:
        return self.steps[-1].step if self.steps else 0

    @property
    def progress(self) -> float:
        """Fraction of steps done, in [0, 1]."""
        if self.status == "completed":
            return 1.0
        return min(1.0, self.step / self.total_steps) if self.total_steps else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the mean pace so far, or None before the first step."""
        if not self.running or not self.step or not self.total_steps:
            return None
        return self.seconds / self.step * (self.total_steps - self.step)

    @classmethod
    def from_trained(cls, trained: TrainedModel) -> JobSnapshot:
        """The snapshot of a finished run, rebuilt from its stored history."""
        steps = tuple(StepInfo(**s) for s in trained.history.get("steps", []))
        epochs = tuple(EpochInfo(**e) for e in trained.history.get("epochs", []))
        return cls(
            key=config_key(trained.config),
            status=trained.metrics.get("status", "completed"),
            steps=steps,
            epochs=epochs,
            total_steps=steps[-1].total_steps if steps else 0,
            seconds=float(trained.metrics.get("seconds", 0.0)),
            message=str(trained.metrics.get("reason", "")),
            from_cache=trained.from_cache,
        )


@dataclass
class _State:
    status: JobStatus = "starting"
    steps: list[StepInfo] = field(default_factory=list)
    epochs: list[EpochInfo] = field(default_factory=list)
    message: str = ""
    started: float | None = None  # perf_counter when training (not loading) began
    finished: float | None = None
    weights: dict[str, torch.Tensor] | None = None
    weights_version: int = 0


class TrainingJob:
    """One training run in a daemon thread; every method is safe to call from any thread."""

    def __init__(
        self,
        config: RunConfig,
        *,
        root: str | Path | None = None,
        load_data: LoadData | None = None,
        data: Dataset | None = None,
    ):
        self.config = config
        self._data = data
        self.key = config_key(config)
        self._root = root
        self._load_data = load_data or _load_local
        self._stop = threading.Event()
        self._controls = Controls()  # what the loop reads each step besides Stop (a live β)
        self._lock = threading.Lock()
        self._state = _State()
        self._result: TrainedModel | None = None
        self._live: tuple[int, VAE] | None = None
        self._model: VAE | None = None  # the model being trained; only the training thread touches it
        self._last_publish = 0.0
        self._thread = threading.Thread(target=self._run, name=f"train-{self.key}", daemon=True)

    def start(self) -> TrainingJob:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the run to stop after the current step; the partial model stays viewable."""
        self._stop.set()

    def control(self, *, beta: float) -> None:
        """Change β from the next step on; the run is then saved under its recorded β schedule."""
        self._controls.set(beta=beta)

    @property
    def beta_changes(self) -> tuple[tuple[int, float], ...]:
        """The β changes made live so far: (0-based step, β from then on)."""
        return self._controls.changes

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

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            s = self._state
            end = s.finished or time.perf_counter()
            return JobSnapshot(
                key=self.key,
                status=s.status,
                steps=tuple(s.steps),
                epochs=tuple(s.epochs),
                total_steps=s.steps[-1].total_steps if s.steps else 0,
                seconds=end - s.started if s.started else 0.0,
                message=s.message,
                from_cache=self._result.from_cache if self._result else False,
            )

    def live_model(self) -> VAE | None:
        """A copy of the model as of the last published weights (None before there are any)."""
        with self._lock:
            if self._result is not None:
                return self._result.model
            version, weights = self._state.weights_version, self._state.weights
        if weights is None:
            return None
        if self._live is None or self._live[0] != version:
            model = VAE(self.config.model)
            model.load_state_dict(weights)
            self._live = (version, model.eval())
        return self._live[1]

    # -- the training thread -------------------------------------------------------------

    def _run(self) -> None:
        torch.set_num_threads(1)  # leave the other core to the web server
        _lower_priority()
        try:
            data = self._data
            if data is None and lookup(self.config, self._root) is None:
                data = self._load_data(self.config.dataset)
            with self._lock:
                self._state.status, self._state.started = "running", time.perf_counter()
            trained = get_or_train(
                self.config,
                self._root,
                data=data,
                on_step=self._on_step,
                on_epoch=self._on_epoch,
                on_model=self._on_model,
                on_wait=self._on_wait,
                stop_event=self._stop,
                controls=self._controls,
            )
        except Exception as e:  # a broken dataset or config must end the job, not the server
            with self._lock:
                self._state.status, self._state.message = "failed", f"{type(e).__name__}: {e}"
                self._state.finished = time.perf_counter()
            return
        finally:  # what only training needed: the result (or the reason) is all a viewer reads now
            self._data, self._model, self._live = None, None, None
        with self._lock:
            self._result = trained
            self._state.weights = None
            if trained.from_cache:  # nothing streamed: show the stored history
                snap = JobSnapshot.from_trained(trained)
                self._state.steps, self._state.epochs = list(snap.steps), list(snap.epochs)
                self._state.started = time.perf_counter() - snap.seconds
            self._state.status = trained.metrics.get("status", "completed")
            self._state.message = str(trained.metrics.get("reason", ""))
            self._state.finished = time.perf_counter()

    def _on_wait(self) -> None:
        with self._lock:
            self._state.status, self._state.message = "waiting", WAITING

    def _on_model(self, model: VAE) -> None:
        self._model = model
        with self._lock:
            self._state.status, self._state.message = "running", ""

    def _on_step(self, info: StepInfo) -> None:
        with self._lock:
            self._state.steps.append(info)
        if time.perf_counter() - self._last_publish > PUBLISH_SECONDS:
            self._publish()

    def _on_epoch(self, info: EpochInfo) -> None:
        with self._lock:
            self._state.epochs.append(info)
        self._publish()

    def _publish(self) -> None:
        if self._model is None:
            return
        weights = {k: v.detach().clone() for k, v in self._model.state_dict().items()}
        self._last_publish = time.perf_counter()
        with self._lock:
            self._state.weights = weights
            self._state.weights_version += 1


class JobRegistry:
    """At most one live job per config key, and the models they (or the cache) hold: every live
    job, and the KEPT most recently used finished jobs and cache reads."""

    def __init__(self, root: str | Path | None = None, load_data: LoadData | None = None):
        self._root = root
        self._load_data = load_data
        self._lock = threading.Lock()
        self._jobs: dict[str, TrainingJob] = {}  # oldest use first
        self._models: dict[str, TrainedModel] = {}  # oldest use first
        sweep_stale(root)  # a server starts with a registry: clear what crashed writes left

    def start(self, config: RunConfig, data: Dataset | None = None) -> TrainingJob:
        """Start training ``config`` (on ``data`` if given, else the job loads it), or return
        the job that already trains it."""
        key = config_key(config)
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.alive:
                return job
            job = TrainingJob(config, root=self._root, load_data=self._load_data, data=data)
            self._jobs.pop(key, None)
            self._jobs[key] = job
            self._trim()
            return job.start()

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
        """The jobs that are starting, waiting or training now, oldest first."""
        with self._lock:
            jobs = list(self._jobs.values())
        return [j for j in jobs if j.snapshot().running]

    def running(self) -> list[JobSnapshot]:
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


def _lower_priority(by: int = 10) -> None:
    """Make the calling thread yield the CPU to the web server and the browser (Linux: a thread
    has its own nice value), so a slider stays quick while a run trains: with a run training and
    its Train tab polling, the median slider move took 80-81 ms against 88-99 ms without."""
    with contextlib.suppress(AttributeError, OSError):  # elsewhere: train at normal priority
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + by))
