"""What a run's step uses, by step: the learning rate, β, and the live controls that change β.

    lr(step)   = lr * (step + 1) / warm-up steps during the warm-up, then constant or a half
                 cosine to 0 at the last step (Loshchilov & Hutter, 2017)
    β(step)    = target(step) * min(1, (step + 1) / KL warm-up steps)     (Bowman et al., 2016)
    target(s)  = the β of the last change (s_i, β_i) of the schedule with s_i <= s, else ``config.beta``

A schedule is ``TrainConfig.beta_schedule``: pairs (0-based optimizer step, β) in step order.
``Controls`` is the one input a running loop reads from outside each step (a person moving the β
control of a live run); the loop records each new value with the step it took effect, and that
record, put into the config (``with_schedule``), is what the saved model is keyed by: retraining
that config from scratch follows the same β steps and gives the same model.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Sequence

from vae_core.config import RunConfig, TrainConfig

Schedule = tuple[tuple[int, float], ...]


def lr_at(config: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """The learning rate of a 0-based step: warm-up, then constant or a half cosine to 0."""
    warmup = config.lr_warmup_epochs * steps_per_epoch
    if step < warmup:
        return config.lr * (step + 1) / warmup
    if config.lr_schedule == "cosine":
        progress = (step - warmup) / max(1.0, steps_per_epoch * config.epochs - warmup)
        return config.lr * 0.5 * (1.0 + math.cos(math.pi * progress))
    return config.lr


def beta_at(config: TrainConfig, step: int, steps_per_epoch: int, live: Sequence[tuple[int, float]] = ()) -> float:
    """β at a 0-based step: the schedule's (then ``live``'s) latest change, times the KL warm-up."""
    target = config.beta
    for start, value in (*config.beta_schedule, *live):
        if step >= start:
            target = value
    warmup_steps = config.warmup_epochs * steps_per_epoch
    return target * min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else target


def with_schedule(config: RunConfig, changes: Sequence[tuple[int, float]]) -> RunConfig:
    """The config of a run whose β was changed live: its schedule extended by ``changes``."""
    if not changes:
        return config
    schedule = (*config.train.beta_schedule, *changes)
    return dataclasses.replace(config, train=dataclasses.replace(config.train, beta_schedule=schedule))


class Controls:
    """The values a person can change while a run trains (now: β), set from any thread.

    ``set`` asks; the training loop calls ``poll`` before each step, which turns a request that
    changes β into a recorded change (step, β) and returns every change so far."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._beta: float | None = None
        self._changes: list[tuple[int, float]] = []

    def set(self, *, beta: float) -> None:
        if not 0.0 <= beta <= 1000.0:
            raise ValueError(f"beta must be in 0..1000, got {beta}")
        with self._lock:
            self._beta = float(beta)

    def poll(self, step: int, current: float) -> Schedule:
        """The changes so far, after taking a pending request: ``current`` is the β target the
        step would use without it (a request for the same value records nothing)."""
        with self._lock:
            if self._beta is not None and self._beta != current:
                self._changes.append((step, self._beta))
            self._beta = None
            return tuple(self._changes)

    @property
    def changes(self) -> Schedule:
        with self._lock:
            return tuple(self._changes)
