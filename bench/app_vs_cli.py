"""In-app training against the command line: one MNIST config, 10 epochs, wall time each way.

The command line: ``python -m vae_core train --dataset mnist --latent-dim 2 --epochs 10`` (torch's
default threads). The app's way: the training queue's worker (``JobRegistry.start``, as the Start
button does), from the press to the result, worker start and data loading included; alone on the
server it trains on every core. Each side gets a fresh cache folder holding the same measured
precision decisions, so neither trains a cached model or measures the machine. Run with
``OMP_NUM_THREADS`` unset: this measures threads. Target: app / command line ≤ 1.5.

    VAE_LAB_DATA=../shared/data python bench/app_vs_cli.py [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vae_core import make_config  # noqa: E402
from vae_core.store.cache import PRECISION_FILE  # noqa: E402
from vae_core.store.jobs import JobRegistry  # noqa: E402
from vae_core.store.pool import WorkerPool  # noqa: E402

CLI = ["-m", "vae_core", "train", "--dataset", "mnist", "--latent-dim", "2", "--epochs", "10", "--offline"]


def cli_seconds(cache: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, *CLI, "--cache-root", str(cache)], env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def app_seconds(cache: Path) -> tuple[float, int]:
    registry = JobRegistry(cache, pool=WorkerPool())
    try:
        t0 = time.perf_counter()
        job = registry.start(make_config("mnist", latent_dim=2, epochs=10))
        threads = registry.pool.threads()
        assert job.wait(1800) and job.snapshot().status == "completed", job.snapshot().message
        return time.perf_counter() - t0, threads
    finally:
        registry.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="app-vs-cli-"))
    first = cli_seconds(work / "warm-up")  # measures the machine's precision decisions once
    for side in ("cli", "app"):
        (work / side).mkdir()
        shutil.copy(work / "warm-up" / PRECISION_FILE, work / side / PRECISION_FILE)
    cli = cli_seconds(work / "cli")
    app, threads = app_seconds(work / "app")
    figures = {
        "cli_seconds": round(cli, 2),
        "cli_first_seconds": round(first, 2),
        "app_seconds": round(app, 2),
        "app_threads": threads,
        "app_over_cli": round(app / cli, 3),
    }
    for key, value in figures.items():
        print(f"{key:20s} {value}")
    if args.json:
        print(json.dumps(figures))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
