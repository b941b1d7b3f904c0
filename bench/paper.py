"""Our model next to the published numbers: the one-layer architecture of Burda et al. (2016) on the
fixed binarization of MNIST (Larochelle & Murray, 2011).

    VAE_LAB_DATA=../shared/data python bench/paper.py [--cache-root DIR] [--n-test N]

784-200-200-50 (two deterministic hidden layers of 200, a 50-D Gaussian latent, Bernoulli pixels)
is ``make_config("binarized-mnist", latent_dim=50)``: the dataset's defaults are this setup and
its schedule, so the app and ``python -m vae_core train --dataset binarized-mnist --latent-dim 50``
train exactly this model. It is trained with the project's trainer on the 50,000 training images
(taken from the cache if it is there, so a second run only evaluates), then evaluated on all
10,000 test images: the ELBO, the importance-sampled L_1, L_50 and L_5000 (fixed seed), and the
active units (Cov_x E_q[z_d] > 0.01). The published rows are printed beside them. Prints a
table, then one JSON object as the last line. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from vae_core.config import make_config
from vae_core.data import load_dataset
from vae_core.store.cache import get_or_train
from vae_core.vae.evaluate import EVAL_SEED, dataset_terms
from vae_core.vae.objectives import log_px_importance
from vae_core.vae.precision import cpu_model

KS = (1, 50, 5000)
# log p(x) in nats, fixed binarization, the same architecture (as cited in the project's issue 10):
PUBLISHED = (
    ("Burda et al. 2016, app. D: VAE, trained on L_1, 3280 epochs", -88.7),
    ("Burda et al. 2016, app. D: IWAE, trained on L_50", -87.1),
    ("Pythae reproducibility table: VAE (200 importance samples)", -89.78),
)
TARGET = -90.0  # L_5000 at least this, with at least MIN_ACTIVE active units
MIN_ACTIVE = 15


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache-root", type=Path, help="model cache (default $VAE_LAB_CACHE or a user cache)")
    p.add_argument("--n-test", type=int, default=10_000, help="test images to evaluate (default: all)")
    args = p.parse_args()
    config = make_config("binarized-mnist", latent_dim=50)
    data = load_dataset("binarized-mnist", download_missing=False)
    t0 = time.perf_counter()
    trained = get_or_train(config, args.cache_root, data=data)
    wall = time.perf_counter() - t0
    m = trained.metrics
    if m["status"] != "completed":
        raise SystemExit(f"training did not complete: {m['reason']}")
    model, x = trained.model, data.x_test[: args.n_test]
    terms = dataset_terms(model, x)
    bounds, seconds = {}, {}
    g = torch.Generator().manual_seed(EVAL_SEED)
    for k in KS:
        t1 = time.perf_counter()
        bounds[k] = log_px_importance(model, x, k, generator=g).mean().item()
        seconds[k] = time.perf_counter() - t1
    t, mc = config.train, config.model
    how = f"{'from the cache' if trained.from_cache else f'{wall:.0f} s wall'}, {m['seconds']:.0f} s training"
    print(f"CPU: {cpu_model()}, {torch.get_num_threads()} threads; step {m.get('step_kind')}")
    print(
        f"ours: {mc.x_dim}-{'-'.join(map(str, mc.hidden))}-{mc.latent_dim} {mc.activation}, {t.epochs} epochs "
        f"(batch {t.batch_size}, {t.lr_schedule} lr {t.lr:g}, KL warm-up {t.warmup_epochs:g} epochs); {how}"
    )
    print(f"  {'test ELBO':48s} {terms.elbo:9.2f}")
    for k in KS:
        print(f"  {f'L_{k}':48s} {bounds[k]:9.2f}   ({seconds[k]:.0f} s, {len(x)} test images)")
    print(f"  {'active units':48s} {terms.active_units:6d} of {mc.latent_dim}")
    for name, value in PUBLISHED:
        print(f"  {name:48s} {value:9.2f}")
    met = bounds[5000] >= TARGET and terms.active_units >= MIN_ACTIVE
    print(f"target L_5000 >= {TARGET} with >= {MIN_ACTIVE} active units: {'met' if met else 'NOT met'}")
    print(
        json.dumps(
            {
                "cpu": cpu_model(),
                "step_kind": m.get("step_kind"),
                "epochs": t.epochs,
                "train_seconds": m["seconds"],
                "wall_seconds": None if trained.from_cache else round(wall, 1),
                "test_elbo": round(terms.elbo, 3),
                **{f"L{k}": round(v, 3) for k, v in bounds.items()},
                "active_units": terms.active_units,
                "n_test": len(x),
                "target_met": met,
            }
        )
    )


if __name__ == "__main__":
    main()
