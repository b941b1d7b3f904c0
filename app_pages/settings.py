"""The sidebar's settings as data: the stops of every slider, their ranges and defaults, and the
translation between sidebar values and a ``RunConfig``. Spelled once here; the sidebar, the URL
parser and the pickers of cached models all read them. No Streamlit calls."""

from __future__ import annotations

from vae_core import DATASETS, RunConfig, make_config
from vae_core.config import DEFAULT_DATASET, ModelConfig, TrainConfig

BETAS = [round(0.05 * i, 2) for i in range(41)] + [2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
KL_ESTIMATORS = {"analytic": "analytic (closed form)", "mc": "Monte-Carlo (sampled)"}
RANGES = {"latent_dim": (1, 64), "epochs": (1, 500), "seed": (0, 9999)}  # whole-number settings, inclusive
Z_RANGE = 10.0  # the latent page's sliders, at most this far from 0 (the model's codes set the actual range)


def dataset_defaults(name: str) -> dict:
    """The settings a dataset brings along (its recommended epochs, learning rate, layers)."""
    config = make_config(name)
    return {"epochs": config.train.epochs, "lr": config.train.lr, "hidden": config.model.hidden}


# Every dataset's own defaults are stops of these sliders, or its default config would snap to another.
HIDDENS = sorted({(64,), (128,), (64, 64), (128, 128), (512, 512)} | {dataset_defaults(n)["hidden"] for n in DATASETS})
LRS = sorted({1e-4, 3e-4, 1e-3, 3e-3, 1e-2} | {dataset_defaults(n)["lr"] for n in DATASETS})
DEFAULTS = {
    "dataset": DEFAULT_DATASET,
    "latent_dim": ModelConfig().latent_dim,
    "beta": TrainConfig().beta,
    "kl_estimator": TrainConfig().kl_estimator,
    "seed": TrainConfig().seed,
    **dataset_defaults(DEFAULT_DATASET),
}


def in_range(key: str, value: int) -> bool:
    lo, hi = RANGES[key]
    return lo <= value <= hi


def config_from(values: dict) -> RunConfig:
    """The RunConfig for a set of sidebar values."""
    return make_config(values["dataset"], **{k: values[k] for k in DEFAULTS if k != "dataset"})


def values_of(config: RunConfig) -> dict | None:
    """Sidebar values that give back exactly this config, or None if the sidebar can't."""
    m, t = config.model, config.train
    values = dict(dataset=config.dataset, latent_dim=m.latent_dim, beta=t.beta, kl_estimator=t.kl_estimator)
    values.update(seed=t.seed, epochs=t.epochs, lr=t.lr, hidden=m.hidden)
    fits = t.beta in BETAS and t.lr in LRS and m.hidden in HIDDENS
    fits = fits and all(in_range(k, values[k]) for k in RANGES)
    return values if fits and config_from(values) == config else None
