"""A β sweep trained together: M copies of one setting, differing only in β, in one set of GEMMs.

Every member of a sweep has the same seed, so separate runs would draw the same initial weights,
batch order, binarization and ε; here they are drawn once and drive all members. The members'
weights are stacked with a leading member dimension, W (M, out, in), and the hand-written step of
``fast_step.py`` runs over that dimension with batched GEMMs (torch.baddbmm / bmm):

    h_m = act(h_m W_m^T + b_m)                 for each member m, in one bmm per layer
    loss_m = -log p(x|z_m) + β_m KL_m          the same closed-form gradients, β as an (M,) vector

Adam is elementwise, so one fused Adam over the stacked tensors is each member's own Adam. The
result is each member's ordinary ``TrainResult`` (``tests/core/test_sweep.py`` compares it with
separate training). Alemi et al. (2018, "Fixing a broken ELBO") read such a sweep as points on
the rate-distortion plane: rate R = KL, distortion D = -E_q[log p(x|z)], ELBO = -(D + R).
"""

from __future__ import annotations

import copy
import dataclasses
import threading
import time
from collections.abc import Callable, Sequence

import torch
from torch import nn

from vae_core.config import RunConfig
from vae_core.vae.binarize import binarize, fixed_binarization
from vae_core.vae.fast_step import Chooser, resolve_precision
from vae_core.vae.model import VAE, build_model
from vae_core.vae.schedule import beta_at, lr_at
from vae_core.vae.train import EpochInfo, Splits, StepInfo, TrainResult, _end_of_epoch, checkpoint_epochs


def check_sweep(configs: Sequence[RunConfig]) -> None:
    """Raise ValueError unless the configs can train together: one setting apart from β, and an
    objective the hand-written step covers (analytic KL, one z, a fixed decoder std if Gaussian)."""
    if not configs:
        raise ValueError("a sweep needs at least one config")
    first = configs[0]

    def setting(c: RunConfig) -> RunConfig:
        return dataclasses.replace(c, train=dataclasses.replace(c.train, beta=0.0, beta_schedule=()))

    if any(setting(c) != setting(first) for c in configs):
        raise ValueError("a sweep's configs must differ in β only")
    t, m = first.train, first.model
    if t.kl_estimator != "analytic" or t.kl_samples != 1 or (m.likelihood == "gaussian" and m.decoder_std is None):
        raise ValueError("a sweep trains analytic KL, one z per example and a fixed decoder std only")


class StackedStep:
    """The members' parameters stacked (``params``), and one step's forward and backward over all."""

    def __init__(self, models: Sequence[VAE], dtype: torch.dtype) -> None:
        self.config, self.dtype = models[0].config, dtype
        enc = [[m for m in model.encoder if isinstance(m, nn.Linear)] for model in models]
        dec = [[m for m in model.decoder if isinstance(m, nn.Linear)] for model in models]
        self.enc = [self._stack([layers[i] for layers in enc]) for i in range(len(enc[0]))]
        self.dec = [self._stack([layers[i] for layers in dec]) for i in range(len(dec[0]))]
        self.params = [p for pair in self.enc + self.dec for p in pair]

    @staticmethod
    def _stack(layers: list[nn.Linear]) -> tuple[nn.Parameter, nn.Parameter]:
        weight = torch.stack([layer.weight.detach() for layer in layers])  # (M, out, in)
        bias = torch.stack([layer.bias.detach() for layer in layers])  # (M, out)
        return nn.Parameter(weight), nn.Parameter(bias)

    def copy_into(self, member: int, model: VAE) -> None:
        """Member ``member``'s current weights into an ordinary VAE."""
        layers = [m for m in (*model.encoder, *model.decoder) if isinstance(m, nn.Linear)]
        with torch.no_grad():
            for layer, (weight, bias) in zip(layers, self.enc + self.dec, strict=True):
                layer.weight.copy_(weight[member])
                layer.bias.copy_(bias[member])

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, beta: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """x (B, x_dim) and eps (B, D) shared by all members, beta (M,): the members' batch means
        (recon, kl, loss) as (M, 3); sets every stacked parameter's ``.grad``."""
        batch, members, dt = len(x), len(beta), self.dtype
        tanh = self.config.activation == "tanh"
        enc_w, dec_w = [w.to(dt) for w, _ in self.enc], [w.to(dt) for w, _ in self.dec]
        out, enc_in = _forward(self.enc, enc_w, x.to(dt).expand(members, *x.shape), tanh)
        mu, logvar = out.float().chunk(2, dim=-1)  # (M, B, D) each
        std = logvar.mul(0.5).exp_()
        z = torch.addcmul(mu, std, eps)
        logits, dec_in = _forward(self.dec, dec_w, z.to(dt), tanh, bias_last=False)
        logits = torch.add(logits, self.dec[-1][1][:, None, :])  # the bias and the cast to fp32 in one pass
        if self.config.likelihood == "bernoulli":
            probs = torch.sigmoid(logits)
            log_norm = logits.sum((1, 2)) - probs.log().sum((1, 2))  # sum softplus(l), as fast_step's
            bad = ~torch.isfinite(log_norm)
            if bad.any():
                log_norm[bad] = nn.functional.softplus(logits[bad]).sum((1, 2))
            nll = (log_norm - (logits * x).sum((1, 2))) / batch
            grad = (probs - x).mul_(1.0 / batch)
        else:
            r = (x - logits) / self.config.decoder_std
            nll = 0.5 * r.square().sum((1, 2)) / batch + self.config.x_dim * _gaussian_const(self.config.decoder_std)
            grad = r.mul_(-1.0 / (batch * self.config.decoder_std))
        var = std.square()
        kl = 0.5 * (mu.square() + var - 1.0 - logvar).sum((1, 2)) / batch
        grad_z = _backward(self.dec, dec_w, dec_in, grad.to(dt), tanh)
        scale = (beta / batch)[:, None, None]
        grad_mu = grad_z + scale * mu
        grad_logvar = grad_z * eps * (0.5 * std) + (0.5 * scale) * (var - 1.0)
        _backward(self.enc, enc_w, enc_in, torch.cat([grad_mu, grad_logvar], dim=-1), tanh, need_input_grad=False)
        return torch.stack([-nll, kl, nll + beta * kl], dim=1)


def _gaussian_const(std: float) -> float:
    return float(torch.log(torch.tensor(std)) + 0.5 * torch.log(torch.tensor(2 * torch.pi)))


def _forward(
    layers: list[tuple[nn.Parameter, nn.Parameter]],
    weights: list[torch.Tensor],
    h: torch.Tensor,
    tanh: bool,
    bias_last: bool = True,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Linear, activation, ..., Linear over (M, B, in) inputs; the output and each layer's input.
    ``bias_last=False`` leaves the last bias to the caller, as ``fast_step._forward`` does."""
    inputs = []
    for i, ((_, bias), weight) in enumerate(zip(layers, weights, strict=True)):
        inputs.append(h)
        if i < len(layers) - 1 or bias_last:
            h = torch.baddbmm(bias.to(weight.dtype)[:, None, :], h, weight.transpose(1, 2))
        else:
            h = torch.bmm(h, weight.transpose(1, 2))
        if i < len(layers) - 1:
            h = h.tanh_() if tanh else h.relu_()
    return h, inputs


def _backward(
    layers: list[tuple[nn.Parameter, nn.Parameter]],
    weights: list[torch.Tensor],
    inputs: list[torch.Tensor],
    grad: torch.Tensor,
    tanh: bool,
    need_input_grad: bool = True,
) -> torch.Tensor | None:
    """Back through ``_forward``: each stacked weight's and bias's .grad; returns d/d input (fp32)."""
    for i in range(len(layers) - 1, -1, -1):
        (weight_p, bias_p), weight, a = layers[i], weights[i], inputs[i]
        g = grad.to(weight.dtype)
        bias_p.grad = g.sum(1, dtype=torch.float32)
        weight_p.grad = torch.bmm(g.transpose(1, 2), a).float()
        if i > 0:
            back = torch.bmm(g, weight)
            grad = torch.ops.aten.tanh_backward(back, a) if tanh else torch.ops.aten.threshold_backward(back, a, 0)
        elif need_input_grad:
            return torch.bmm(g, weight).float()
    return None


MemberStep = Callable[[int, StepInfo], None]
MemberEpoch = Callable[[int, EpochInfo], None]


def train_sweep(
    configs: Sequence[RunConfig],
    data: Splits,
    *,
    on_step: MemberStep | None = None,
    on_epoch: MemberEpoch | None = None,
    stop_event: threading.Event | None = None,
    chooser: Chooser | None = None,
) -> list[TrainResult]:
    """Train the configs (``check_sweep``) together on ``data``; one ``TrainResult`` per config, as
    ``train`` would give for it alone. Callbacks get the member's index first. A member whose loss
    becomes non-finite ends "diverged" with its last good epoch's weights; the others go on."""
    check_sweep(configs)
    run = _Sweep(configs, data, chooser)
    start = time.perf_counter()
    for epoch in range(run.train.epochs):
        if stop_event is not None and stop_event.is_set():
            run.end_all("stopped", f"stopped at step {len(run.results[0].steps)} of {run.total}")
            break
        sums = run.epoch(epoch, on_step, stop_event)
        for m in run.live():
            run.step.copy_into(m, run.models[m])
            info = _end_of_epoch(
                run.models[m], run.x_test, sums[m] / run.steps_per_epoch, epoch + 1, run.stepped, start, run.train
            )
            run.keep(m, epoch + 1, info)
            if on_epoch is not None and m in run.live():
                on_epoch(m, info)
    for m, result in enumerate(run.results):
        run.models[m].eval()
        result.seconds = time.perf_counter() - start
    return run.results


class _Sweep:
    """What every step of a sweep shares, and each member's result so far."""

    def __init__(self, configs: Sequence[RunConfig], data: Splits, chooser: Chooser | None) -> None:
        self.train, self.data = configs[0].train, data
        self.betas = [c.train for c in configs]
        self.models = [build_model(c.model, c.train.seed) for c in configs]
        kind = resolve_precision(self.train.precision, configs[0].model, self.train.batch_size, chooser)
        self.step = StackedStep(self.models, torch.bfloat16 if kind == "bf16" else torch.float32)
        self.optimizer = torch.optim.Adam(
            self.step.params, lr=self.train.lr, betas=(0.9, self.train.adam_beta2), fused=True
        )
        self.generator = torch.Generator().manual_seed(self.train.seed)
        self.batch = min(self.train.batch_size, len(data.x_train))
        self.steps_per_epoch = len(data.x_train) // self.batch
        self.total = self.steps_per_epoch * self.train.epochs
        self.x_test = fixed_binarization(data.x_test) if self.train.binarize else data.x_test
        epochs = self.train.epochs
        self.results = [
            TrainResult(m, "completed", f"trained {epochs} epochs", step_kind=f"stacked-{kind}") for m in self.models
        ]
        self.good = [copy.deepcopy(m.state_dict()) for m in self.models]
        for result, state in zip(self.results, self.good, strict=True):
            result.checkpoints[0] = state
        self.checkpoint_epochs = set(checkpoint_epochs(epochs))
        self.ended: set[int] = set()
        self.stepped = 0

    def live(self) -> list[int]:
        return [m for m in range(len(self.models)) if m not in self.ended]

    def end(self, m: int, status: str, reason: str) -> None:
        self.results[m].status, self.results[m].reason = status, reason  # type: ignore[assignment]
        self.ended.add(m)
        if status == "diverged":
            self.models[m].load_state_dict(self.good[m])

    def end_all(self, status: str, reason: str) -> None:
        for m in self.live():
            self.end(m, status, reason)

    def keep(self, m: int, epoch: int, info: EpochInfo) -> None:
        if not torch.isfinite(torch.tensor(info.test_elbo)):
            self.end(m, "diverged", f"the test ELBO became {info.test_elbo} after epoch {epoch}; weights restored")
            return
        self.good[m] = copy.deepcopy(self.models[m].state_dict())
        if epoch in self.checkpoint_epochs:
            self.results[m].checkpoints[epoch] = self.good[m]
        self.results[m].epochs.append(info)

    def epoch(self, epoch: int, on_step: MemberStep | None, stop_event: threading.Event | None) -> torch.Tensor:
        """One epoch of steps for every member: the (M, 2) sums of (recon, kl) over its steps."""
        x_train, g = self.data.x_train, self.generator
        order = torch.randperm(len(x_train), generator=g)
        sums = torch.zeros(len(self.models), 2)
        for i in range(self.steps_per_epoch):
            step = self.stepped
            if stop_event is not None and stop_event.is_set():
                self.end_all("stopped", f"stopped at step {step} of {self.total}")
                return sums
            x = x_train[order[i * self.batch : (i + 1) * self.batch]]
            x = binarize(x, g) if self.train.binarize else x
            eps = torch.randn((len(x), self.models[0].latent_dim), generator=g)
            beta = torch.tensor([beta_at(t, step, self.steps_per_epoch) for t in self.betas])
            values = self.step(x, beta, eps)  # (M, 3)
            lr = lr_at(self.train, step, self.steps_per_epoch)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            self.optimizer.step()
            sums += values[:, :2]
            self.stepped = step + 1
            self._record(values, epoch, step, beta, lr, on_step)
        return sums

    def _record(
        self, values: torch.Tensor, epoch: int, step: int, beta: torch.Tensor, lr: float, on_step: MemberStep | None
    ) -> None:
        finite = torch.isfinite(values).all(1).tolist()
        rows, betas = values.tolist(), beta.tolist()
        for m in self.live():
            if not finite[m]:
                reason = f"the loss became {rows[m][2]} at step {step} (epoch {epoch + 1}); "
                reason += f"the weights are those from the end of epoch {epoch}."
                self.end(m, "diverged", reason)
                continue
            info = StepInfo.of(rows[m], step=step + 1, epoch=epoch, beta=betas[m], total_steps=self.total, lr=lr)
            self.results[m].steps.append(info)
            if on_step is not None:
                on_step(m, info)
