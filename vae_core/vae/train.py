"""Training: Adam on the beta-weighted negative ELBO over in-memory minibatches.

The loop takes ``on_step`` / ``on_epoch`` callbacks and a stop event and never knows who
is watching (a progress bar, a web page, a test). It is deterministic for a given seed:
initial weights, batch order, binarization and the reparameterization noise all come from
generators seeded by ``TrainConfig.seed``. A NaN/Inf loss stops the run with a reason and
restores the weights from the end of the last good epoch. Optional KL warm-up raises beta
linearly from 0 (Bowman et al., 2016).
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Literal, NamedTuple, Protocol

import torch

from vae_core.config import TrainConfig
from vae_core.vae.binarize import binarize, fixed_binarization
from vae_core.vae.evaluate import dataset_terms
from vae_core.vae.fast_step import Chooser, FastStep, step_kind
from vae_core.vae.model import VAE
from vae_core.vae.objectives import elbo_terms
from vae_core.vae.schedule import Controls, beta_at, lr_at

Status = Literal["completed", "stopped", "diverged"]


class Splits(Protocol):
    """What the trainer needs of a dataset (``vae_core.data.Dataset`` is one): (N, x_dim) tensors."""

    @property
    def x_train(self) -> torch.Tensor: ...
    @property
    def x_test(self) -> torch.Tensor: ...


@dataclass(frozen=True)
class StepInfo:
    """One optimizer step; terms are batch means in nats per example."""

    step: int
    epoch: int  # 0-based epoch the step belongs to
    beta: float  # the beta in force (rises during warm-up)
    recon: float
    kl: float
    elbo: float
    loss: float
    total_steps: int
    lr: float = 0.0  # the learning rate this step used

    @classmethod
    def of(cls, values: list[float], *, step: int, epoch: int, beta: float, total_steps: int, lr: float) -> StepInfo:
        """A step's record from its batch means (recon, kl, loss) and where it stands in the run."""
        recon, kl, loss = values
        elbo = recon - kl
        return cls(
            step=step, epoch=epoch, beta=beta, recon=recon, kl=kl, elbo=elbo, loss=loss, total_steps=total_steps, lr=lr
        )


@dataclass(frozen=True)
class EpochInfo:
    """The end of an epoch: train means over its steps, and the test set's terms."""

    epoch: int  # 1-based count of finished epochs
    step: int
    seconds: float  # wall time since the start of training
    train_recon: float
    train_kl: float
    train_elbo: float
    test_recon: float
    test_kl: float
    test_elbo: float
    kl_per_dim: list[float]  # test-set mean, per latent dimension
    active_units: int
    total_epochs: int


@dataclass
class TrainResult:
    model: VAE
    status: Status
    reason: str
    epochs: list[EpochInfo] = field(default_factory=list)
    steps: list[StepInfo] = field(default_factory=list)
    seconds: float = 0.0
    # Weights at a few epochs (0 = the initial weights), for views of how training went.
    checkpoints: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)
    # How the steps ran: "fp32" or "bf16" GEMMs in the hand-written step, or "autograd".
    step_kind: str = "autograd"

    def history(self) -> dict[str, list[dict[str, float]]]:
        """Plain data for JSON: per-epoch rows and per-step rows."""
        return {"epochs": [asdict(e) for e in self.epochs], "steps": [asdict(s) for s in self.steps]}

    def metrics(self) -> dict[str, float | int | str]:
        last = self.epochs[-1] if self.epochs else None
        return {
            "status": self.status,
            "reason": self.reason,
            "epochs_done": last.epoch if last else 0,
            "steps_done": last.step if last else 0,
            "seconds": round(self.seconds, 3),
            "test_recon": last.test_recon if last else math.nan,
            "test_kl": last.test_kl if last else math.nan,
            "test_elbo": last.test_elbo if last else math.nan,
            "active_units": last.active_units if last else 0,
            "step_kind": self.step_kind,
        }


def checkpoint_epochs(epochs: int) -> list[int]:
    """The epochs whose weights a run keeps: the start, early ones, and the end (at most 7)."""
    return sorted({0, 1, epochs // 8, epochs // 4, epochs // 2, 3 * epochs // 4, epochs})


@dataclass
class _Run:
    """What every step of one run shares."""

    model: VAE
    optimizer: torch.optim.Optimizer
    config: TrainConfig
    generator: torch.Generator
    batch: int
    steps_per_epoch: int
    result: TrainResult
    on_step: Callable[[StepInfo], None] | None
    stop_event: threading.Event | None
    fast: FastStep | None  # the hand-written step where it covers the model, else autograd
    controls: Controls | None = None  # what a person changes while it trains (schedule.py)

    @property
    def total(self) -> int:
        return self.steps_per_epoch * self.config.epochs

    def lr(self, step: int) -> float:
        return lr_at(self.config, step, self.steps_per_epoch)

    def beta(self, step: int) -> float:
        """The schedule's β (with the changes a person made live, recorded in ``controls``)."""
        spe = self.steps_per_epoch
        live = self.controls.poll(step, beta_at(self.config, step, 0, self.controls.changes)) if self.controls else ()
        return beta_at(self.config, step, spe, live)


class Interrupted(NamedTuple):
    """Why an epoch ended early: the run's new status and the reason, in words."""

    status: Status
    reason: str


def train(
    model: VAE,
    data: Splits,
    config: TrainConfig,
    *,
    on_step: Callable[[StepInfo], None] | None = None,
    on_epoch: Callable[[EpochInfo], None] | None = None,
    stop_event: threading.Event | None = None,
    chooser: Chooser | None = None,
    controls: Controls | None = None,
) -> TrainResult:
    """Train ``model`` in place on ``data.x_train``; evaluate on ``data.x_test`` each epoch. ``chooser``
    decides ``precision="auto"`` (``precision.py``); ``controls``: a live β (``schedule.py``)."""
    (run := _make_run(model, data, config, on_step, stop_event, chooser)).controls = controls
    result = run.result
    x_test = fixed_binarization(data.x_test) if config.binarize else data.x_test
    good_state = result.checkpoints[0] = copy.deepcopy(model.state_dict())
    keep = set(checkpoint_epochs(config.epochs))
    start = time.perf_counter()
    for epoch in range(config.epochs):
        sums, interrupted = _run_epoch(run, data.x_train, epoch)
        if interrupted is None:
            info = _end_of_epoch(model, x_test, sums / run.steps_per_epoch, epoch + 1, len(result.steps), start, config)
            if not math.isfinite(info.test_elbo):
                reason = f"the test ELBO became {info.test_elbo} after epoch {epoch + 1}; weights restored"
                interrupted = Interrupted("diverged", reason)
        if interrupted is not None:
            result.status, result.reason = interrupted
            if interrupted.status == "diverged":
                model.load_state_dict(good_state)
            break
        good_state = copy.deepcopy(model.state_dict())
        if epoch + 1 in keep:
            result.checkpoints[epoch + 1] = good_state
        result.epochs.append(info)
        if on_epoch is not None:
            on_epoch(info)
    model.eval()
    result.seconds = time.perf_counter() - start
    return result


def _make_run(
    model: VAE,
    data: Splits,
    config: TrainConfig,
    on_step: Callable[[StepInfo], None] | None,
    stop_event: threading.Event | None,
    chooser: Chooser | None,
) -> _Run:
    batch = min(config.batch_size, len(data.x_train))
    kind = step_kind(model.config, config, chooser)
    result = TrainResult(model, "completed", f"trained {config.epochs} epochs", step_kind=kind)
    return _Run(
        model=model,
        # fused: one kernel for all parameters, not ~10 per parameter
        optimizer=torch.optim.Adam(model.parameters(), lr=config.lr, betas=(0.9, config.adam_beta2), fused=True),
        config=config,
        generator=torch.Generator().manual_seed(config.seed),
        batch=batch,
        steps_per_epoch=len(data.x_train) // batch,  # drop the ragged last batch: every step sees `batch` examples
        result=result,
        on_step=on_step,
        stop_event=stop_event,
        fast=FastStep(model, kind) if kind != "autograd" else None,
    )


def _run_epoch(run: _Run, x_train: torch.Tensor, epoch: int) -> tuple[torch.Tensor, Interrupted | None]:
    """One epoch of optimizer steps: the (recon, kl) sums over its steps, and why it ended early
    (a stop request or a non-finite loss; the caller restores the weights), if it did."""
    run.model.train()
    order = torch.randperm(len(x_train), generator=run.generator)
    sums = torch.zeros(2)
    for i in range(run.steps_per_epoch):
        step = len(run.result.steps)
        if run.stop_event is not None and run.stop_event.is_set():
            return sums, Interrupted("stopped", f"stopped at step {step} of {run.total}")
        x = x_train[order[i * run.batch : (i + 1) * run.batch]]
        beta = run.beta(step)
        values, loss = _step_values(run, binarize(x, run.generator) if run.config.binarize else x, beta)
        if not torch.isfinite(values).all():
            reason = (
                f"the loss became {values[2].item()} at step {step} (epoch {epoch + 1}); "
                f"the weights are those from the end of epoch {epoch}. Try a smaller learning rate."
            )
            return sums, Interrupted("diverged", reason)
        if loss is not None:
            run.optimizer.zero_grad(set_to_none=True)
            loss.backward()
        lr = run.lr(step)
        for group in run.optimizer.param_groups:
            group["lr"] = lr
        run.optimizer.step()
        sums += values[:2]
        _record(run, StepInfo.of(values.tolist(), step=step + 1, epoch=epoch, beta=beta, total_steps=run.total, lr=lr))
    return sums, None


def _record(run: _Run, info: StepInfo) -> None:
    run.result.steps.append(info)
    if run.on_step is not None:
        run.on_step(info)


def _step_values(run: _Run, x: torch.Tensor, beta: float) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The batch means (recon, kl, loss) of one step; the hand-written step has already set the
    gradients, autograd's returns the loss to differentiate as well."""
    if run.fast is not None:
        eps = torch.randn((len(x), run.model.latent_dim), generator=run.generator)
        return run.fast(x, beta, eps), None
    c = run.config
    terms = elbo_terms(run.model, x, kl_estimator=c.kl_estimator, n_samples=c.kl_samples, generator=run.generator)
    loss = terms.loss(beta)
    return torch.stack([terms.recon.mean(), terms.kl.mean(), loss]).detach(), loss


def _end_of_epoch(
    model: VAE,
    x_test: torch.Tensor,
    train_means: torch.Tensor,
    epoch: int,
    step: int,
    start: float,
    config: TrainConfig,
) -> EpochInfo:
    model.eval()
    test = dataset_terms(model, x_test)
    train_recon, train_kl = train_means.tolist()
    return EpochInfo(
        epoch=epoch,
        step=step,
        seconds=time.perf_counter() - start,
        train_recon=train_recon,
        train_kl=train_kl,
        train_elbo=train_recon - train_kl,
        test_recon=test.recon,
        test_kl=test.kl,
        test_elbo=test.elbo,
        kl_per_dim=test.kl_per_dim,
        active_units=test.active_units,
        total_epochs=config.epochs,
    )
