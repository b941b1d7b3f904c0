"""A β sweep trained together (stacked, one data pass) against the same runs one after another.

    OMP_NUM_THREADS=1 python bench/sweep.py [--dataset digits] [--rounds 3] [--precision auto]

The zoo's seven β of one setting (the dataset's defaults, latent dimension 2), fresh models, no
cache. Each round times the stacked sweep and then the seven separate runs, in the same
conditions; the best round of each counts. Also checks that both give the same test ELBO per β.
The last line is JSON. On a shared machine the seconds are upper bounds; the ratio is the figure.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from vae_core.config import make_config
from vae_core.data import load_dataset
from vae_core.store.sweeps import sweep_configs
from vae_core.vae.fast_step import resolve_precision
from vae_core.vae.model import build_model
from vae_core.vae.sweep import train_sweep
from vae_core.vae.train import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--latent-dim", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--epochs", type=int, default=None, help="default: the dataset's")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    extra = {"epochs": args.epochs} if args.epochs else {}
    base = make_config(args.dataset, latent_dim=args.latent_dim, precision=args.precision, **extra)
    configs = sweep_configs(base)
    data = load_dataset(args.dataset, download_missing=False)
    kind = resolve_precision(base.train.precision, base.model, base.train.batch_size)
    train_sweep(configs[:2], data)  # warm-up: first-call costs (allocator, kernels) count for neither
    together, separate = [], []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        stacked = train_sweep(configs, data)
        together.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        alone = []
        for config in configs:
            alone.append(train(build_model(config.model, config.train.seed), data, config.train))
        separate.append(time.perf_counter() - t0)
        print(f"round: together {together[-1]:.2f} s, one after another {separate[-1]:.2f} s", flush=True)
    gap = max(abs(a.epochs[-1].test_elbo - b.epochs[-1].test_elbo) for a, b in zip(stacked, alone, strict=True))
    out = {
        "dataset": args.dataset,
        "betas": [c.train.beta for c in configs],
        "epochs": base.train.epochs,
        "step": kind,
        "threads": torch.get_num_threads(),
        "together_seconds": round(min(together), 3),
        "separate_seconds": round(min(separate), 3),
        "ratio": round(min(together) / min(separate), 3),
        "max_test_elbo_gap_nats": round(gap, 5),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
