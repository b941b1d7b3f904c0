"""VAE Latent Lab's core: datasets, the VAE, its objectives and estimators, training, a
model cache and a command line. Pure PyTorch; never imports Streamlit.

The layers, lowest first (each may import only those before it; ``tests/core/test_layers.py``):

    config.py   plain data: what to train, the dataset table, every default
    vae/        the math and the model (torch and numpy only)
    data/       datasets, their files and downloads, uploaded pictures
    store/      the model cache, background jobs, the zoo
    views/      what the pages show: arrays, figures (the only plotly user), pad, exports, wording
    cli.py      ``python -m vae_core``

The names below are re-exported lazily, so ``import vae_core.vae.objectives`` loads no storage code.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DATASETS": "vae_core.config",
    "ModelConfig": "vae_core.config",
    "RunConfig": "vae_core.config",
    "TrainConfig": "vae_core.config",
    "make_config": "vae_core.config",
    "VAE": "vae_core.vae.model",
    "build_model": "vae_core.vae.model",
    "TrainedModel": "vae_core.store.cache",
    "get_or_train": "vae_core.store.cache",
    "load_model": "vae_core.store.cache",
    "lookup": "vae_core.store.cache",
    "save_model": "vae_core.store.cache",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vae_core' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
