"""The zoo: a grid of β × latent-dimension models trained into the cache ahead of a lecture.

Each cell is ``make_config(dataset, latent_dim=D, beta=b)``, exactly the config the app's sidebar
builds for those two values with every advanced setting at its default, so that moving either
slider in the app lands on a cached model and opens instantly. Cells already in the cache are
skipped, so an interrupted zoo resumes where it stopped; a stopped cell caches nothing. Given a
``WorkerPool`` (``zoo --workers N``, or ``--ray ADDRESS`` for a cluster) every uncached cell is
queued at once and trains in the pool's workers, as the app's runs do; without one, in this
process, one at a time.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from vae_core.config import RunConfig, make_config
from vae_core.data.datasets import Dataset
from vae_core.store.cache import TrainedModel, entry_dir, get_or_train, lookup
from vae_core.store.jobs import TrainingJob
from vae_core.store.pool import RAY_ENV, WORKERS_ENV, WorkerPool, pool_from_env
from vae_core.store.sweeps import ZOO_BETAS

ZOO_LATENT_DIMS: tuple[int, ...] = (1, 2, 3, 5, 10, 20)
CellStatus = Literal["cached", "trained", "unsaved", "stopped", "diverged"]  # unsaved: trained, the cache full


@dataclass(frozen=True)
class ZooCell:
    """What happened to one grid cell."""

    index: int  # 1-based position in the grid
    total: int
    beta: float
    latent_dim: int
    status: CellStatus
    test_elbo: float | None  # nats per example; None for a stopped run
    seconds: float  # wall time spent on this cell (0 for a cached one)
    eta: float | None  # seconds left for the uncached cells after this one, at the mean pace so far


def zoo_configs(
    dataset: str, betas: Sequence[float] = ZOO_BETAS, latent_dims: Sequence[int] = ZOO_LATENT_DIMS
) -> list[RunConfig]:
    """The grid, latent dimension outer and β inner (a lecture's 2-D row of β first)."""
    dims = sorted(set(latent_dims), key=lambda d: (d != 2, d))
    return [make_config(dataset, latent_dim=d, beta=b) for d in dims for b in sorted(set(betas))]


def run_zoo(
    configs: Sequence[RunConfig],
    root: str | Path | None = None,
    *,
    load_data: Callable[[str], Dataset],
    on_cell: Callable[[ZooCell], None] | None = None,
    stop_event: threading.Event | None = None,
    pool: WorkerPool | None = None,
) -> list[ZooCell]:
    """Train every config not yet in the cache at ``root``, in order, one at a time (or all queued at
    once in ``pool``'s workers). ``stop_event`` stops the current cell (then not cached)."""
    if pool is not None:
        return _run_pooled(configs, root, pool, on_cell, stop_event)
    remaining = sum(not entry_dir(c, root).is_dir() for c in configs)  # for the ETA only
    spent, trained = 0.0, 0
    data: Dataset | None = None
    cells: list[ZooCell] = []
    for i, config in enumerate(configs, start=1):
        if stop_event is not None and stop_event.is_set():
            break
        t0 = time.perf_counter()
        found = lookup(config, root)
        if found is not None:
            status: CellStatus = "cached"
            elbo: float | None = float(found.metrics["test_elbo"])
        else:
            data = data if data is not None else load_data(config.dataset)
            result = get_or_train(config, root, data=data, stop_event=stop_event)
            status = "trained" if result.metrics["status"] == "completed" else result.metrics["status"]
            status = "unsaved" if status == "trained" and result.save_error else status
            elbo = float(result.metrics["test_elbo"]) if status in ("trained", "unsaved") else None
            spent, trained, remaining = spent + time.perf_counter() - t0, trained + 1, max(remaining - 1, 0)
        seconds = time.perf_counter() - t0 if status != "cached" else 0.0
        eta = spent / trained * remaining if trained else None
        cell = ZooCell(i, len(configs), config.train.beta, config.model.latent_dim, status, elbo, seconds, eta)
        cells.append(cell)
        if on_cell is not None:
            on_cell(cell)
    return cells


def summary(cells: Sequence[ZooCell], wall_seconds: float) -> dict[str, object]:
    """Plain data for ``zoo --json``."""
    counts = {s: sum(c.status == s for c in cells) for s in ("cached", "trained", "unsaved", "stopped", "diverged")}
    return {"cells": [asdict(c) for c in cells], "counts": counts, "wall_seconds": round(wall_seconds, 3)}


def _run_pooled(
    configs: Sequence[RunConfig],
    root: str | Path | None,
    pool: WorkerPool,
    on_cell: Callable[[ZooCell], None] | None,
    stop_event: threading.Event | None,
) -> list[ZooCell]:
    t0 = time.perf_counter()
    jobs = {i: TrainingJob(c, root=root, pool=pool).start() for i, c in enumerate(configs) if lookup(c, root) is None}
    cells: list[ZooCell] = []
    for i, config in enumerate(configs):
        job = jobs.get(i)
        while job is not None and not job.wait(0.2):
            if stop_event is not None and stop_event.is_set():
                for other in jobs.values():
                    other.stop()
        snap = job.snapshot() if job is not None else None
        result = job.result if job is not None else lookup(config, root)
        status = _status(snap.status if snap else "cached", result)
        elbo = float(result.metrics["test_elbo"]) if result is not None and status != "stopped" else None
        done = sum(not j.alive for j in jobs.values())
        eta = (time.perf_counter() - t0) / done * (len(jobs) - done) if done and len(jobs) > done else None
        seconds = snap.seconds if snap else 0.0
        cells.append(
            ZooCell(i + 1, len(configs), config.train.beta, config.model.latent_dim, status, elbo, seconds, eta)
        )
        if on_cell is not None:
            on_cell(cells[-1])
        if stop_event is not None and stop_event.is_set():
            break
    return cells


def _status(job_status: str, result: TrainedModel | None) -> CellStatus:
    if job_status == "cached" or (result is not None and result.from_cache):
        return "cached"
    if job_status == "completed" and result is not None:
        return "unsaved" if result.save_error else "trained"
    return "diverged" if job_status == "diverged" else "stopped"


def zoo_pool(workers: int | None, ray: str | None, threads: int = 1) -> WorkerPool | None:
    """The app's training queue for the zoo where asked for (``workers``, ``ray`` or their
    environment variables), its runs on ``threads`` threads each; else None (this process)."""
    env = dict(os.environ)
    if ray:
        env[RAY_ENV] = ray
    if workers:
        env[WORKERS_ENV] = str(workers)
    if not (env.get(RAY_ENV, "").strip() or env.get(WORKERS_ENV, "").strip()):
        return None
    return pool_from_env(env, threads=max(1, threads))
