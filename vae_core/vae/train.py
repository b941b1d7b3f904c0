"""Training: Adam on the beta-weighted negative ELBO over in-memory minibatches.

The loop takes ``on_step`` / ``on_epoch`` callbacks and a stop event and never knows who
is watching (a progress bar, a web page, a test). It is deterministic for a given seed:
initial weights, batch order, binarization and the reparameterization noise all come from
generators seeded by ``TrainConfig.seed``. A NaN/Inf loss stops the run with a reason and
restores the weights from the end of the last good epoch. Optional KL warm-up raises beta
linearly from 0 (Bowman et al., 2016).
"""

from __future__ import annotations

import contextlib
import copy
import math
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
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
    cores: Callable[[], int] | None = None  # the cores the run may use now (None: as many as torch's threads)

    def spare_cores(self) -> int:
        """How many of the run's cores its steps' torch threads leave free (a tuner chose fewer)."""
        return max(0, self.cores() - torch.get_num_threads()) if self.cores is not None else 0

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
    cores: Callable[[], int] | None = None,
) -> TrainResult:
    """Train ``model`` in place on ``data.x_train``; evaluate on ``data.x_test`` each epoch. ``chooser``
    decides ``precision="auto"`` (``precision.py``); ``controls``: a live β (``schedule.py``);
    ``cores()``: how many cores the run may use now, where its steps may run on fewer torch threads
    (the app's worker times its steps on each count: ``store/tuner.py``). Those it leaves free draw
    the next batch while a step runs (``_Batches``) and join each epoch's test-set pass, a few large
    GEMMs that split evenly over threads (MNIST: 0.16 s on one thread, 0.08 s on two; Intel Xeon).
    None: the steps' thread count is all the run has, and it uses just that, as before."""
    run = _make_run(model, data, config, on_step, stop_event, chooser)
    run.controls, run.cores = controls, cores
    with _Batches(run, data.x_train) as batches:
        _run_epochs(run, batches, fixed_binarization(data.x_test) if config.binarize else data.x_test, on_epoch)
    model.eval()
    return run.result


def _run_epochs(
    run: _Run, batches: _Batches, x_test: torch.Tensor, on_epoch: Callable[[EpochInfo], None] | None
) -> None:
    """The epochs of ``train``, each evaluated on ``x_test``, into ``run.result``."""
    model, config, result = run.model, run.config, run.result
    good_state = result.checkpoints[0] = copy.deepcopy(model.state_dict())
    keep = set(checkpoint_epochs(config.epochs))
    start = time.perf_counter()
    for epoch in range(config.epochs):
        sums, interrupted = _run_epoch(run, batches, epoch)
        if interrupted is None:
            means = sums / run.steps_per_epoch
            with _threads(torch.get_num_threads() + run.spare_cores()):  # the pass on every core the run has
                info = _end_of_epoch(model, x_test, means, epoch + 1, len(result.steps), start, config)
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
    result.seconds = time.perf_counter() - start


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


class _Batches:
    """A run's batches, drawn from its generator in one fixed order: each epoch's permutation, then
    each step's batch (binarized afresh) and, for the hand-written step, its eps.

    While the steps' torch threads leave one of the run's cores free (the app's worker on one
    thread, its tuner's choice beside a browser), the hand-written step's next batch is drawn on that
    core, in a thread of its own, while this step runs: the draws are ~2 ms of serial work a step on
    MNIST (the Bernoulli draws, the gather), a fifth of a one-thread step. With every core in torch's
    threads a third thread only slows them (4 MNIST epochs: 2 threads 3.6 s, 1 thread 4.9 s, 1
    thread drawing ahead 3.7 s, 2 threads drawing ahead 4.6 s; Intel Xeon, 2 cores), so the draws
    are made in line. Either way they come in the same order from the same generator: a seed gives
    the same run. Autograd's step draws its own eps from the generator between two batches, so its
    batches are always drawn in line.
    """

    def __init__(self, run: _Run, x_train: torch.Tensor):
        self.run, self.x_train = run, x_train
        self.order = torch.empty(0, dtype=torch.long)
        self.ahead = ThreadPoolExecutor(1, thread_name_prefix="batches") if run.fast is not None else None
        self.next: Future[tuple[torch.Tensor, torch.Tensor | None]] | None = None  # step + 1's, drawing

    def __enter__(self) -> _Batches:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.ahead is not None:
            self.ahead.shutdown(wait=True, cancel_futures=True)

    def take(self, step: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Step ``step``'s batch (B, x_dim) and eps (B, D) (None for autograd); steps come in order."""
        batch = self.next.result() if self.next is not None else self._draw(step)
        self.next = None
        if self.ahead is not None and step + 1 < self.run.total and self.run.spare_cores() > 0:
            self.next = self.ahead.submit(self._draw, step + 1)
        return batch

    def _draw(self, step: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        run, g = self.run, self.run.generator
        i = step % run.steps_per_epoch
        if i == 0:
            self.order = torch.randperm(len(self.x_train), generator=g)
        x = self.x_train[self.order[i * run.batch : (i + 1) * run.batch]]
        x = binarize(x, g) if run.config.binarize else x
        return x, (torch.randn((len(x), run.model.latent_dim), generator=g) if run.fast is not None else None)


def _run_epoch(run: _Run, batches: _Batches, epoch: int) -> tuple[torch.Tensor, Interrupted | None]:
    """One epoch of optimizer steps: the (recon, kl) sums over its steps, and why it ended early
    (a stop request or a non-finite loss; the caller restores the weights), if it did."""
    run.model.train()
    sums = torch.zeros(2)
    for _ in range(run.steps_per_epoch):
        step = len(run.result.steps)
        if run.stop_event is not None and run.stop_event.is_set():
            return sums, Interrupted("stopped", f"stopped at step {step} of {run.total}")
        x, eps = batches.take(step)
        beta = run.beta(step)
        values, loss = _step_values(run, x, eps, beta)
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


def _step_values(
    run: _Run, x: torch.Tensor, eps: torch.Tensor | None, beta: float
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The batch means (recon, kl, loss) of one step; the hand-written step (given its ``eps``) has
    already set the gradients, autograd's returns the loss to differentiate as well."""
    if run.fast is not None and eps is not None:
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


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    """torch on ``n`` threads inside, on as many as before after."""
    before = torch.get_num_threads()
    if n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
