"""A model's replay: its training snapshots (``vae/snapshots.py``), from memory or its cache entry.

A replay is optional: an entry written before snapshots existed, one of a latent with more than
two dimensions, a β-sweep member (trained stacked, without a recorder), or a snapshot file that
is missing or damaged has none, and ``replay_of`` says why in words instead of raising.
"""

from __future__ import annotations

from typing import Any

import torch

from vae_core.store.cache import SNAPSHOTS_FILE, TrainedModel
from vae_core.vae.snapshots import MAX_LATENT_DIM, check


def replay_of(trained: TrainedModel) -> dict[str, Any] | str:
    """The checked snapshots of this model, or the reason (a sentence) it has no replay."""
    if trained.config.model.latent_dim > MAX_LATENT_DIM:
        return f"replays are kept for 1- and 2-D latent spaces; this model has {trained.config.model.latent_dim}"
    stored = trained.snapshots
    if stored is None:
        if trained.path is None or not (trained.path / SNAPSHOTS_FILE).is_file():
            return "this model was stored without training snapshots (trained before replays, or in a β sweep)"
        try:
            stored = torch.load(trained.path / SNAPSHOTS_FILE, weights_only=True)
        except Exception as e:  # any damage at all means: no replay, never a crash
            return f"its snapshot file cannot be read ({type(e).__name__})"
    try:
        return check(stored, trained.config)
    except ValueError as e:
        return f"its snapshot file is damaged: {e}"
