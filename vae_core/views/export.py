"""What the app hands out as files: metrics and latent codes as CSV, a model as one file.

The model file is ``cache.save_model``'s format, which ``python -m vae_core evaluate --model
FILE`` and ``vae_core.load_model`` read. CSV numbers are nats per example.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vae_core.store.cache import TrainedModel, save_model

EPOCH_COLUMNS = (
    "epoch",
    "step",
    "seconds",
    "train_recon",
    "train_kl",
    "train_elbo",
    "test_recon",
    "test_kl",
    "test_elbo",
    "active_units",
)


def _csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def epochs_csv(epochs: Sequence[dict[str, Any]]) -> str:
    """One row per epoch (train and test terms, active units, KL per latent dimension)."""
    dims = len(epochs[0]["kl_per_dim"]) if epochs else 0
    header = [*EPOCH_COLUMNS, *(f"kl_z{d + 1}" for d in range(dims))]
    rows = [[e[c] for c in EPOCH_COLUMNS] + list(e["kl_per_dim"]) for e in epochs]
    return _csv(header, rows)


def codes_csv(mu: np.ndarray, logvar: np.ndarray, labels: np.ndarray, class_names: Sequence[str]) -> str:
    """One row per test image: index, label, mu_1..mu_D, logvar_1..logvar_D; mu and logvar (N, D)."""
    n, dims = mu.shape
    header = [
        "index",
        "label",
        "class",
        *(f"mu_{d + 1}" for d in range(dims)),
        *(f"logvar_{d + 1}" for d in range(dims)),
    ]
    names = [class_names[c] if 0 <= c < len(class_names) else "" for c in labels]
    rows = [[i, int(labels[i]), names[i], *mu[i].tolist(), *logvar[i].tolist()] for i in range(n)]
    return _csv(header, rows)


def estimates_csv(ks: Sequence[int], estimates: dict[str, np.ndarray]) -> str:
    """log p(x) estimates per k and repeat: one row per (estimator, k, repeat); arrays (K, R)."""
    rows = [
        [name, k, r, float(values[i, r])]
        for name, values in estimates.items()
        for i, k in enumerate(ks)
        for r in range(values.shape[1])
    ]
    return _csv(["estimator", "k", "repeat", "log_px"], rows)


def model_bytes(trained: TrainedModel) -> bytes:
    """The one-file model format (``cache.save_model``) as bytes, written through a temp file."""
    with tempfile.TemporaryDirectory() as folder:
        return save_model(trained, Path(folder) / "model.pt").read_bytes()


def model_file_name(trained: TrainedModel) -> str:
    """e.g. ``vae-digits-d2-beta4.pt``."""
    c = trained.config
    return f"vae-{c.dataset}-d{c.model.latent_dim}-beta{c.train.beta:g}.pt"
