"""What runs in a view worker process (``service.py`` starts them): it loads a model from the
cache by its config, and the test set, once each, and computes pieces of views."""

from __future__ import annotations

import contextlib
import functools
import os
from typing import Any

import torch

from vae_core.config import RunConfig
from vae_core.data.datasets import load_test_set
from vae_core.store.cache import TrainedModel, config_key, lookup
from vae_core.vae.binarize import fixed_binarization
from vae_core.views.stored import Piece, compute


def init(threads: int, nice: int = 5) -> None:
    """torch's threads, and the worker's niceness: the server's requests first (and, at 19, the
    background build after everything else)."""
    torch.set_num_threads(threads)
    with contextlib.suppress(OSError):
        os.nice(nice)


def warm() -> None:
    """Nothing: the worker's imports and its initializer are the point."""


def prepare(root: str, config: RunConfig) -> None:
    """Load a model and its test set now (a second or two on a busy core), while its page is
    drawn from stored views, not when the first piece of a new image is asked for."""
    _trained(root, config)
    test_inputs(config.dataset, config.train.binarize)


@functools.lru_cache(maxsize=4)
def _trained(root: str, config: RunConfig) -> TrainedModel:
    trained = lookup(config, root)
    if trained is None:
        raise LookupError(f"no cached model {config_key(config)} in {root}")
    return trained


@functools.lru_cache(maxsize=2)
def test_inputs(dataset: str, binarize: bool) -> torch.Tensor:
    """The test inputs as every reported number sees them (as the app's ``test_set``)."""
    x = load_test_set(dataset)[0]  # not the training split: a tenth of MNIST's files to read
    return fixed_binarization(x) if binarize else x


def work(root: str, config: RunConfig, piece: Piece) -> Any:
    return compute(_trained(root, config), test_inputs(config.dataset, config.train.binarize), piece)
