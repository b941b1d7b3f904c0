"""β sweeps through the model cache: the members a sweep still needs train together
(``vae.sweep.train_sweep``), each is stored as an ordinary entry under its own config's key (so
every page opens it as if it had been trained alone), and a background job (``jobs.SweepJob``:
one place in the training queue, one worker for all members) lets viewers watch the members move
on the rate-distortion plane while they train.

A sweep's configs are the sidebar's setting at each β of ``ZOO_BETAS``, exactly the zoo's cells:
the zoo's cached grid and a finished sweep are the same entries.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vae_core.config import RunConfig
from vae_core.data.datasets import Dataset
from vae_core.store.cache import TrainedModel, config_key, lookup, machine_chooser, store, usable
from vae_core.store.snapshot import LIVE, JobStatus
from vae_core.vae.sweep import train_sweep
from vae_core.vae.train import EpochInfo, StepInfo

ZOO_BETAS: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)  # the zoo's grid and every sweep


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
    status: JobStatus
    members: tuple[MemberView, ...]
    seconds: float = 0.0
    message: str = ""
    ahead: int | None = None  # queued: runs in line before this sweep
    wait: float | None = None  # queued: seconds until it starts, if the pool can tell

    @property
    def running(self) -> bool:
        return self.status in LIVE

    @property
    def progress(self) -> float:
        done = sum(m.steps_done for m in self.members if m.status != "cached")
        total = sum(m.total_steps for m in self.members if m.status != "cached")
        return 1.0 if not self.running else (done / total if total else 0.0)


def member_summary(trained: TrainedModel) -> dict[str, Any]:
    """What a sweep's viewer needs of a member, as plain data (a worker sends it; the model itself
    is in the cache): the inverse of ``member_view``."""
    steps = trained.history.get("steps", [])
    total = steps[-1]["total_steps"] if steps else 0
    status = "cached" if trained.from_cache else str(trained.metrics.get("status", "completed"))
    done = total if trained.from_cache else len(steps)
    return {"epochs": trained.history.get("epochs", []), "status": status, "steps_done": done, "total": total}


def member_view(config: RunConfig, summary: Mapping[str, Any]) -> MemberView:
    """A member from its ``member_summary``."""
    epochs = tuple(EpochInfo(**e) for e in summary["epochs"])
    return MemberView(config, epochs, str(summary["status"]), int(summary["steps_done"]), int(summary["total"]))


def member_from_cache(trained: TrainedModel) -> MemberView:
    return member_view(trained.config, member_summary(trained))


def cached_members(configs: Sequence[RunConfig], root: str | Path | None = None) -> list[MemberView]:
    """The members the cache holds already (the zoo's grid), drawn without training."""
    found = [lookup(c, root) for c in configs]
    return [member_from_cache(t) for t in found if t is not None]
