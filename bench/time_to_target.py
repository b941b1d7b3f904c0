"""Epochs and wall time for vae_core's trainer to reach a test -ELBO, for several (batch, lr).

    VAE_LAB_DATA=../shared/data python bench/time_to_target.py [--target 105.48] [--max-epochs 14]

The classic setup of bench/run.py (MNIST, 784-400-20, Bernoulli cross-entropy on [0, 1] pixels);
the target is the reference loop's test -ELBO after 10 epochs there. Prints a line per setting.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vae_core.config import make_config
from vae_core.data import Dataset, load_dataset
from vae_core.model import build_model
from vae_core.train import EpochInfo, train

SETTINGS = ((128, 2e-3), (256, 2e-3), (256, 4e-3), (512, 4e-3), (512, 6e-3))


def run(data: Dataset, batch: int, lr: float, target: float, max_epochs: int) -> str:
    config = make_config(
        "mnist", latent_dim=20, hidden=(400,), binarize=False, epochs=max_epochs, batch_size=batch, lr=lr
    )
    stop, history = threading.Event(), []

    def on_epoch(e: EpochInfo) -> None:
        history.append(round(-e.test_elbo, 2))
        if -e.test_elbo <= target:
            stop.set()

    t0 = time.perf_counter()
    train(build_model(config.model, 0), data, config.train, on_epoch=on_epoch, stop_event=stop)
    seconds = time.perf_counter() - t0
    reached = "reached" if stop.is_set() else "not reached"
    return f"batch {batch:4d}, lr {lr:g}: {reached} in {len(history)} epochs, {seconds:.1f} s; {history}"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--target", type=float, default=105.48)
    p.add_argument("--max-epochs", type=int, default=14)
    args = p.parse_args()
    data = load_dataset("mnist")
    for batch, lr in SETTINGS:
        print(run(data, batch, lr, args.target, args.max_epochs), flush=True)


if __name__ == "__main__":
    main()
