"""Epochs and wall time for vae_core's trainer to reach a test -ELBO, for several settings.

    VAE_LAB_DATA=../shared/data python bench/time_to_target.py [--target 105.48]
    VAE_LAB_DATA=../shared/data python bench/time_to_target.py '{"batch_size": 256, "lr": 5e-3}' ...

The classic setup of bench/run.py (MNIST, 784-400-20, Bernoulli cross-entropy on [0, 1] pixels);
the target is the reference loop's test -ELBO after 10 epochs there. Each setting is a JSON
object of config overrides on top of the MNIST defaults; each prints one line: the test
-ELBO after every epoch, and the epoch and wall time at which the target was first reached.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from vae_core.config import make_config
from vae_core.data import Dataset, load_dataset
from vae_core.vae.model import build_model
from vae_core.vae.train import EpochInfo, train

CONSTANT = {"lr_schedule": "constant", "lr_warmup_epochs": 0, "adam_beta2": 0.999}
SETTINGS: list[dict[str, Any]] = [
    {"batch_size": 128, "lr": 1e-3, **CONSTANT},  # the reference's optimiser, with our step
    {"batch_size": 256, "lr": 2e-3, **CONSTANT},  # session 1's default
    {"batch_size": 512, "lr": 4e-3, **CONSTANT},
    {"batch_size": 512, "lr": 8e-3, "adam_beta2": 0.999},  # cosine, but Adam's default beta2
    {"batch_size": 256, "lr": 5e-3, "lr_warmup_epochs": 0.5},
    {"batch_size": 512, "lr": 8e-3},
    {},  # the defaults: batch 512, cosine from 1.2e-2 after a warm-up epoch, beta2 0.99
    {"batch_size": 1024, "lr": 1.6e-2},
    {"precision": "fp32"},
]


def run(data: Dataset, overrides: dict[str, Any], target: float) -> str:
    config = make_config("mnist", latent_dim=20, hidden=(400,), binarize=False, **overrides)
    history: list[float] = []
    reached: list[tuple[int, float]] = []
    t0 = time.perf_counter()

    def on_epoch(e: EpochInfo) -> None:
        history.append(round(-e.test_elbo, 2))
        if -e.test_elbo <= target and not reached:
            reached.append((e.epoch, time.perf_counter() - t0))

    result = train(build_model(config.model, 0), data, config.train, on_epoch=on_epoch)
    seconds = time.perf_counter() - t0
    t = config.train
    name = f"{json.dumps(overrides)} (batch {t.batch_size}, {t.lr_schedule} {t.lr:g}, {result.step_kind})"
    at = f"reached at epoch {reached[0][0]}, {reached[0][1]:.1f} s" if reached else "not reached"
    return f"{name}: {at}; {len(history)} epochs {seconds:.1f} s; {history}"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("settings", nargs="*", help="JSON objects of config overrides (default: a built-in sweep)")
    p.add_argument("--target", type=float, default=105.48)
    args = p.parse_args()
    data = load_dataset("mnist")
    for overrides in [json.loads(s) for s in args.settings] or SETTINGS:
        print(run(data, overrides, args.target), flush=True)


if __name__ == "__main__":
    main()
