"""What a viewer sees of a training job at one moment: plain immutable data, from a live job's
records or rebuilt from a finished run's stored history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vae_core.store.cache import TrainedModel, config_key
from vae_core.vae.train import EpochInfo, StepInfo

JobStatus = Literal["queued", "starting", "waiting", "running", "completed", "stopped", "diverged", "failed"]
LIVE: tuple[JobStatus, ...] = ("queued", "starting", "waiting", "running")  # a job that has not ended


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
    ahead: int | None = None  # queued: runs in line before this one
    wait: float | None = None  # queued: seconds until it starts, if the pool can tell

    @property
    def running(self) -> bool:
        return self.status in LIVE

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
