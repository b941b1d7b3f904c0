"""The training step of the MLP VAE (analytic KL, one z per example), forward and backward by hand.

Autograd runs ~40 small operators per step for this model, and on two CPU cores their
dispatch and elementwise passes cost about as much as the GEMMs (bench/README.md). The
gradient of the beta-weighted negative ELBO has a short closed form, so one forward pass
and one backward pass of GEMMs plus a few fused elementwise passes do the whole step:

    loss = 1/B sum_b [ -log p(x_b|z_b) + beta * KL_b ],   z = mu + sigma * eps
    d loss / d l        = (sigmoid(l) - x) / B              (Bernoulli with logits l)
                        = -(x - l) / std^2 / B              (Normal with mean l)
    d loss / d mu       = (d loss / d z) + beta * mu / B
    d loss / d logvar   = (d loss / d z) * eps * sigma / 2 + beta * (sigma^2 - 1) / (2B)

and back through each Linear + ReLU as usual (dW = g^T a, db = sum g, g <- (g W) * [a > 0]),
or + tanh (g <- (g W) * (1 - a^2)).

The GEMMs can run in bfloat16 (``precision="bf16"``) with fp32 master weights, fp32 loss
terms and fp32 Adam: on CPUs with AMX tiles a bf16 GEMM was ~5x faster than fp32 (1717 vs 298
GFLOP/s for 256x784 @ 784x400), on an AMD EPYC with AVX-512 BF16 ~2x. ``"auto"`` takes bf16
where timing the step's GEMMs on this machine says it is faster (``precision.py``).
Evaluation (test ELBO, log p(x) estimates) always runs in fp32. ``tests/core/test_fast_step.py``
checks the gradients against autograd's.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from vae_core.config import ModelConfig, Precision, TrainConfig
from vae_core.vae.model import VAE
from vae_core.vae.objectives import LOG_2PI
from vae_core.vae.precision import PrecisionChooser

Chooser = Callable[[ModelConfig, int], Literal["fp32", "bf16"]]


REPEATS = 7  # timed steps per arithmetic when choosing one; the best counts


def time_step(model: ModelConfig, batch: int, precision: Literal["fp32", "bf16"], repeats: int = REPEATS) -> float:
    """Milliseconds for one hand-written step (forward and backward, without Adam) of a fresh
    model on random data: the best of ``repeats`` after a warm-up. Leaves torch's RNG as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        vae = VAE(model)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, model.x_dim, generator=g)
    x = torch.bernoulli(x, generator=g) if model.likelihood == "bernoulli" else x
    eps = torch.randn(batch, model.latent_dim, generator=g)
    step = FastStep(vae, precision)
    step(x, 1.0, eps)
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        step(x, 1.0, eps)
        best = min(best, time.perf_counter() - t0)
    return 1000 * best


@functools.cache
def _in_memory_chooser() -> PrecisionChooser:
    return PrecisionChooser(time_step)  # per process; the store layer's machine_chooser() keeps a file


def resolve_precision(
    precision: Precision, model: ModelConfig, batch: int = 128, chooser: Chooser | None = None
) -> Literal["fp32", "bf16"]:
    """ "fp32" and "bf16" as given; "auto": whichever ``chooser`` measured faster for this model and
    batch on this machine (``precision.py``)."""
    if precision != "auto":
        return precision
    return (chooser or _in_memory_chooser())(model, batch)


def step_kind(model: ModelConfig, train: TrainConfig, chooser: Chooser | None = None) -> str:
    """How the trainer runs a config's steps: "bf16" or "fp32" (hand-written), or "autograd"
    for the objectives the closed form does not cover (Monte-Carlo KL, several z per example)."""
    if train.kl_estimator == "analytic" and train.kl_samples == 1:
        return resolve_precision(train.precision, model, train.batch_size, chooser)
    return "autograd"


class FastStep:
    """Computes the loss terms and writes every parameter's ``.grad``; the optimizer steps."""

    def __init__(self, model: VAE, precision: Literal["fp32", "bf16"]) -> None:
        self.precision = precision
        self.dtype = torch.bfloat16 if self.precision == "bf16" else torch.float32
        self.encoder = [m for m in model.encoder if isinstance(m, nn.Linear)]
        self.decoder = [m for m in model.decoder if isinstance(m, nn.Linear)]
        self.model = model

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, beta: float, eps: torch.Tensor) -> torch.Tensor:
        """One step's forward and backward for x (B, x_dim) and eps (B, D) ~ N(0, I).

        Returns the batch means (recon, kl, loss) as a (3,) tensor; recon is E_q[log p(x|z)]
        from the single draw z = mu + sigma * eps, as in ``elbo_terms``.
        """
        dt, batch = self.dtype, len(x)
        enc_w = [layer.weight.to(dt) for layer in self.encoder]  # one cast per step, not per use
        dec_w = [layer.weight.to(dt) for layer in self.decoder]
        tanh = self.model.config.activation == "tanh"
        out, enc_inputs = _forward(self.encoder, enc_w, x.to(dt), tanh=tanh)
        mu, logvar = out.float().chunk(2, dim=1)
        std = logvar.mul(0.5).exp_()
        z = torch.addcmul(mu, std, eps)
        logits, dec_inputs = _forward(self.decoder, dec_w, z.to(dt), bias_last=False, tanh=tanh)
        logits = torch.add(logits, self.decoder[-1].bias)  # the bias and the cast to fp32 in one pass
        if self.model.config.likelihood == "bernoulli":
            nll, grad = _bernoulli(logits, x, dt)
        else:
            nll, grad = _gaussian(self.model, logits, x, dt)
        var = std.square()
        kl = 0.5 * (mu.square() + var - 1.0 - logvar).sum() / batch
        terms = torch.stack([-nll, kl, nll + beta * kl])

        grad_z = _backward(self.decoder, dec_w, dec_inputs, grad, tanh=tanh)
        scale = beta / batch
        grad_mu = grad_z + scale * mu
        grad_logvar = grad_z * eps * (0.5 * std) + (0.5 * scale) * (var - 1.0)
        grad_out = torch.cat([grad_mu, grad_logvar], dim=1)
        _backward(self.encoder, enc_w, enc_inputs, grad_out, need_input_grad=False, tanh=tanh)
        return terms


def _bernoulli(logits: torch.Tensor, x: torch.Tensor, dt: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """-log p(x|z) as a batch mean, and its gradient w.r.t. the logits in the GEMMs' dtype.

    -log p(x|z) = sum_j softplus(l_j) - x . l = (1 - x) . l - sum_j log sigmoid(l_j), as
    Bernoulli.log_prob; the log of a sigmoid below ~1e-38 (a logit below ~-87) is -inf, and then
    the stable softplus is used instead.
    """
    batch = len(x)
    probs = torch.sigmoid(logits)
    log_norm = logits.sum() - probs.log().sum()
    if not torch.isfinite(log_norm):
        log_norm = F.softplus(logits).sum()
    nll = (log_norm - torch.dot(x.reshape(-1), logits.view(-1))) / batch
    # d/dl = (sigmoid(l) - x) / B, written straight into the GEMMs' dtype
    return nll, torch.sub(probs, x, out=torch.empty_like(probs, dtype=dt)).mul_(1.0 / batch)


def _gaussian(model: VAE, mean: torch.Tensor, x: torch.Tensor, dt: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """The same for a Normal(mean, std) decoder; a learned log_std gets its .grad here.

    -log p(x|z) = sum_j [ r_j^2 / 2 + log std_j + log(2 pi) / 2 ],  r = (x - mean) / std
    d/d mean = -r / std;   d/d log_std_j = 1 - r_j^2 (zero where the 1e-3 floor holds std)
    """
    batch, width = x.shape
    std = model.decoder_std()
    r = (x - mean) / std
    nll = 0.5 * r.square().sum() / batch + std.log().sum() + 0.5 * width * LOG_2PI
    if model.config.decoder_std is None:
        free = (model.log_std.exp() >= 1e-3).float()
        model.log_std.grad = (1.0 - r.square().mean(0)) * free
    return nll, r.div_(std).mul_(-1.0 / batch).to(dt)


def _forward(
    layers: list[nn.Linear], weights: list[torch.Tensor], h: torch.Tensor, bias_last: bool = True, tanh: bool = False
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Linear, ReLU (or tanh), ..., Linear; returns the output and each layer's input (after the
    activation). ``bias_last=False`` leaves the last layer's bias for the caller to add."""
    inputs = []
    for i, (layer, weight) in enumerate(zip(layers, weights, strict=True)):
        inputs.append(h)
        if i < len(layers) - 1:
            h = torch.addmm(layer.bias.to(weight.dtype), h, weight.t())
            h = h.tanh_() if tanh else h.relu_()
        elif bias_last:
            h = torch.addmm(layer.bias.to(weight.dtype), h, weight.t())
        else:
            h = torch.mm(h, weight.t())
    return h, inputs


def _backward(
    layers: list[nn.Linear],
    weights: list[torch.Tensor],
    inputs: list[torch.Tensor],
    grad: torch.Tensor,
    need_input_grad: bool = True,
    tanh: bool = False,
) -> torch.Tensor | None:
    """Back through ``_forward``: sets each layer's weight and bias .grad; returns d/d input."""
    for i in range(len(layers) - 1, -1, -1):
        layer, weight, a = layers[i], weights[i], inputs[i]
        layer.bias.grad = grad.sum(0, dtype=torch.float32)
        g = grad.to(weight.dtype)  # a no-op where the caller already made it so
        layer.weight.grad = torch.mm(g.t(), a).float()
        if i > 0 and tanh:  # through the tanh whose output a is: times 1 - a^2
            grad = torch.ops.aten.tanh_backward(torch.mm(g, weight), a)
        elif i > 0:  # through the ReLU whose output a is: zero where a == 0
            grad = torch.ops.aten.threshold_backward(torch.mm(g, weight), a, 0)
        elif need_input_grad:
            return torch.mm(g, weight).float()
    return None
