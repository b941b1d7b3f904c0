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
    if t.beta_schedule:  # a run whose β changed while it trained is never read as a constant-β one
        parts["β"] = schedule_text(config)
    return ", ".join(f"{k} {v}" for k, v in parts.items())


def describe_sweep(configs: Sequence[RunConfig]) -> str:
    """A β sweep in one line: "β sweep over 0, 0.25, …, 8 (7 runs together): data digits, D 2, …"."""
    betas = ", ".join(f"{c.train.beta:g}" for c in configs)
    rest = describe(configs[0]).split(", ", 3)  # data, D, β, the rest
    return f"β sweep over {betas} ({len(configs)} runs together): {', '.join(rest[:2] + rest[3:])}"


def schedule_text(config: RunConfig) -> str:
    """β over the run in words: "1, then 4 from step 120, then 0.5 from step 300"."""
    t = config.train
    return ", ".join([f"{t.beta:g}", *(f"then {b:g} from step {s + 1}" for s, b in t.beta_schedule)])


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


def collapse_warning(active_units: int, latent_dim: int) -> str | None:
    """What a page that draws codes says about collapsed units (KL ≈ 0); None if there are none."""
    dead = latent_dim - active_units
    if dead <= 0:
        return None
    text = (
        f"Posterior collapse in {dead} of {latent_dim} latent dimension{'s' * (latent_dim > 1)}: there "
        "q(z|x) equals the prior for every x, so those units carry no information."
    )
    if active_units == 0:
        text += (
            " Every code sits at the prior's centre: whatever pattern the points make lies far inside "
            "the prior's 1σ circle, at a scale the decoder ignores."
        )
    return text


def first_run_text(config: RunConfig) -> str:
    """What the Train page says before anything has been trained with the sidebar's settings."""
    m, t = config.model, config.train
    return (
        f"Nothing has been trained with these settings yet: {config.info.title}, a {m.latent_dim}-D latent "
        f"space, β {t.beta:g}, {t.epochs} epochs. Press **Start training**: curves, reconstructions and "
        "the latent space fill in while it learns, and the progress bar says how long is left."
    )


def posterior_story(epochs: Sequence[int], kl_posterior: Sequence[float], kl_prior: Sequence[float]) -> str:
    """What the checkpoints of one image show, in its own numbers (nats): KL(q ‖ p(z|x)), the
    ELBO's gap, and KL(q ‖ p(z)), its penalty, at the first and the last checkpoint."""
    first = (
        f"At epoch {epochs[0]} the weights are random: q(z|x) is wherever the untrained encoder puts it, "
        f"{kl_prior[0]:.2f} nats from the prior and {kl_posterior[0]:.2f} nats from the untrained "
        "decoder's true posterior."
    )
    if len(epochs) < 2:
        return first
    gap, start = kl_posterior[-1], kl_posterior[0]
    trend = (
        "training pulled q onto the posterior; what is left is the part a Gaussian can't fit"
        if gap < start
        else "it did not shrink here, since training moves the decoder, and with it p(z|x), as well as q"
    )
    return f"{first} After epoch {epochs[-1]} the gap is {gap:.2f} nats and the penalty {kl_prior[-1]:.2f}: {trend}."


def queue_text(ahead: int | None, wait: float | None) -> str:
    """Where a queued run stands, for the student who started it: "queued — 3 runs ahead of yours,
    about 40 s"."""
    place = f"{ahead} run{'s' * (ahead != 1)} ahead of yours" if ahead else "yours is next"
    if wait is None:
        when = "it starts when a worker is free"
    elif wait < 1:
        when = "it starts in a moment"
    else:
        when = f"about {_duration(wait)}"
    return f"queued — {place}, {when}"


def server_queue_text(training: int, queued: int, workers: int) -> str:
    """The sidebar's line about the server's training queue."""
    text = f"{training} of {workers} worker{'s' * (workers != 1)} training"
    return text + (f", {queued} run{'s' * (queued != 1)} queued" if queued else "")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds / 5) * 5 if seconds > 10 else round(seconds))} s"
    return f"{round(seconds / 60)} min"
