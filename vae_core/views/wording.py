"""A config in words, for people: pickers of cached models, page captions, the command line.

The words never stand in for a key: ``describe`` leaves out most of the optimiser, so two
configs can read the same; anything cached per model is keyed by ``store.cache.config_key``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vae_core.config import RunConfig
from vae_core.store.cache import machine_chooser
from vae_core.vae.fast_step import step_kind


def describe(config: RunConfig) -> str:
    """A one-line human summary of a config, e.g. for a picker of cached models."""
    m, t = config.model, config.train
    parts = {
        "data": config.dataset,
        "D": m.latent_dim,
        "β": f"{t.beta:g}",
        "epochs": t.epochs,
        "lr": f"{t.lr:g}",
        "hidden": "×".join(map(str, m.hidden)),
        "KL": t.kl_estimator,
        "seed": t.seed,
    }
    return ", ".join(f"{k} {v}" for k, v in parts.items())


def details(config: RunConfig) -> dict[str, str]:
    """What ``describe`` leaves out, in the same "name value" form."""
    m, t = config.model, config.train
    return {
        "batch": str(t.batch_size),
        "lr schedule": t.lr_schedule,
        "lr warm-up": f"{t.lr_warmup_epochs:g}",
        "β₂": f"{t.adam_beta2:g}",
        "KL warm-up": f"{t.warmup_epochs:g}",
        "z samples": str(t.kl_samples),
        "precision": t.precision,
        "decoder std": "learned" if m.decoder_std is None else f"{m.decoder_std:g}",
        "binarized": "yes" if t.binarize else "no",
    }


def describe_apart(configs: Sequence[RunConfig]) -> dict[RunConfig, str]:
    """``describe`` for each config, made unique where two read alike by adding the details in
    which those differ: a picker's labels must tell its options apart (a selectbox sends its label)."""
    labels = {c: describe(c) for c in configs}
    groups: dict[str, list[RunConfig]] = {}
    for c, label in labels.items():
        groups.setdefault(label, []).append(c)
    for label, group in groups.items():
        if len(group) < 2:
            continue
        rows = [details(c) for c in group]
        differing = [k for k in rows[0] if len({r[k] for r in rows}) > 1]
        for c, row in zip(group, rows, strict=True):
            labels[c] = ", ".join([label, *(f"{k} {row[k]}" for k in differing)])
    return labels


def describe_optimiser(config: RunConfig, root: str | Path | None = None) -> str:
    """How a config trains, in words: batch, learning-rate schedule, and how the steps run (as
    the cache at ``root`` trains it: ``precision="auto"`` is this machine's measured choice)."""
    t = config.train
    rate = f"lr {t.lr:g}" if t.lr_schedule == "constant" else f"cosine-decaying lr from {t.lr:g}"
    if t.lr_warmup_epochs:
        rate += f" after {t.lr_warmup_epochs:g} warm-up epoch{'s' if t.lr_warmup_epochs != 1 else ''}"
    kind = step_kind(config.model, t, machine_chooser(root))
    bf16 = "hand-written, bf16 GEMMs" + (" (measured faster here)" if t.precision == "auto" else "")
    steps = {"bf16": bf16, "fp32": "hand-written, fp32", "autograd": "autograd"}[kind]
    return f"Adam, batch {t.batch_size}, {rate}, β₂ {t.adam_beta2:g}; steps: {steps}"
