"""How noisy are the gradients that train q(z|x): the score-function and reparameterization estimators.

The variance of the n-sample mean of the two single-sample estimators of d ELBO / d(mu, logvar)
(score function, Williams 1992; reparameterization, Kingma & Welling 2014), measured from
repeats; it falls like 1/n, from a per-sample variance that differs by orders of magnitude. A
1-D Gaussian toy, p(z) = N(0, 1), p(x|z) = N(x; z, s^2), has the exact gradient of its ELBO for
q = N(mu, sigma^2):

    d ELBO / d mu       = (x - mu) / s^2 - mu
    d ELBO / d log s^2  = -sigma^2 / (2 s^2) - (sigma^2 - 1) / 2

Pure torch and numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch.distributions import Distribution, Independent, Normal

from vae_core.vae.objectives import LatentModel, log_lik

Estimator = Literal["score", "reparam"]
ESTIMATORS: tuple[Estimator, ...] = ("score", "reparam")
CHUNK = 4096  # gradient samples drawn at once (bounds the decoder's activations)


def elbo_gradient_samples(
    model: LatentModel,
    x: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    n: int,
    estimator: Literal["reparam", "score"],
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """n single-sample estimates of d ELBO / d(mu, logvar) for one x: returns (n, 2D).

    ELBO(mu, logvar) = E_q[log p(x|z)] - KL, with the KL's gradient in closed form; the two
    estimators differ in the first term (Williams, 1992; Kingma & Welling, 2014):
      reparam: d/d mu = f'(z),  d/d logvar = f'(z) * eps * sigma / 2
      score:   f(z) * d log q(z) / d(mu, logvar) = f(z) * (eps / sigma, (eps^2 - 1) / 2)
    Their row means agree in expectation; the row variance is the per-sample variance.
    """
    mu, logvar = mu.detach(), logvar.detach()
    sigma = (0.5 * logvar).exp()
    eps = torch.randn((n, *mu.shape), generator=generator)
    if estimator == "reparam":
        z = (mu + sigma * eps).requires_grad_(True)
        (df_dz,) = torch.autograd.grad(model.decode(z).log_prob(x).sum(), z)
        grad = torch.cat([df_dz, df_dz * eps * sigma / 2], -1)
    elif estimator == "score":
        with torch.no_grad():
            f = log_lik(model, x[None], (mu + sigma * eps)[:, None])  # (n, 1)
        grad = torch.cat([f * eps / sigma, f * (eps.square() - 1) / 2], -1)
    else:
        raise ValueError(f"estimator must be 'reparam' or 'score', got {estimator!r}")
    kl_grad = torch.cat([mu, 0.5 * (logvar.exp() - 1)])
    return grad.detach() - kl_grad


@dataclass(frozen=True)
class GradientStudy:
    """Repeated n-sample means of one estimator of d ELBO / d(mu, logvar), P = 2D coordinates."""

    ns: tuple[int, ...]
    mean: np.ndarray  # (P,) mean of every sample drawn
    sem: np.ndarray  # (P,) its standard error
    per_sample_var: np.ndarray  # (P,)
    var_of_mean: np.ndarray  # (len(ns), P): variance over repeats of the n-sample mean

    def total(self, values: np.ndarray) -> np.ndarray:
        """The sum over coordinates (the trace of the covariance), last axis."""
        return values.sum(-1)


def study(samples: torch.Tensor, ns: Sequence[int], repeats: int) -> GradientStudy:
    """Measured variance of the n-sample mean from ``repeats`` disjoint blocks of each size n.

    samples (M, P) with M >= repeats * max(ns); block means reuse the first repeats * n rows.
    """
    s = samples.double()
    if len(s) < repeats * max(ns) or repeats < 2:
        raise ValueError(f"need at least {repeats * max(ns)} samples and 2 repeats, got {len(s)} and {repeats}")
    var_of_mean = np.stack([s[: repeats * n].reshape(repeats, n, -1).mean(1).var(0).numpy() for n in ns])
    per_sample = s.var(0)
    return GradientStudy(
        ns=tuple(ns),
        mean=s.mean(0).numpy(),
        sem=(per_sample / len(s)).sqrt().numpy(),
        per_sample_var=per_sample.numpy(),
        var_of_mean=var_of_mean,
    )


def gradient_samples(
    model: LatentModel,
    x: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    n: int,
    estimator: Estimator,
    seed: int = 0,
) -> torch.Tensor:
    """n single-sample estimates (n, 2D) from ``objectives.elbo_gradient_samples``, in chunks."""
    g = torch.Generator().manual_seed(seed)
    parts = [
        elbo_gradient_samples(model, x, mu, logvar, min(CHUNK, n - s), estimator, generator=g)
        for s in range(0, n, CHUNK)
    ]
    return torch.cat(parts)


STUDY_NS = (1, 2, 5, 10, 20, 50, 100, 200, 500)  # the Gradient estimators page's sample counts n
STUDY_REPEATS = 50  # ... and its default repeats of each


def gradient_studies(
    model: LatentModel,
    x: torch.Tensor,
    ns: Sequence[int],
    repeats: int,
    *,
    mu: torch.Tensor | None = None,
    logvar: torch.Tensor | None = None,
    seed: int = 0,
) -> dict[Estimator, GradientStudy]:
    """Both estimators at q = N(mu, exp(logvar)) (the encoder's q(z|x) when not given), one x."""
    if mu is None or logvar is None:
        with torch.no_grad():
            mu, logvar = (t[0] for t in model.encode(x[None]))
    m = repeats * max(ns)
    return {e: study(gradient_samples(model, x, mu, logvar, m, e, seed), ns, repeats) for e in ESTIMATORS}


@dataclass(frozen=True)
class GaussianToy:
    """p(z) = N(0, 1), p(x|z) = N(x; z, s^2) in one dimension: a LatentModel with exact answers."""

    x: float
    s: float

    @property
    def x_tensor(self) -> torch.Tensor:
        return torch.tensor([self.x])

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The exact posterior N(x / (1 + s^2), s^2 / (1 + s^2)), (B, 1) each."""
        var = self.s**2 / (1 + self.s**2)
        return x / (1 + self.s**2), torch.full_like(x, math.log(var))

    def decode(self, z: torch.Tensor) -> Distribution:
        return Independent(Normal(z, torch.full_like(z, self.s)), 1)

    def exact_gradient(self, mu: float, logvar: float) -> np.ndarray:
        """d ELBO / d(mu, logvar) in closed form: (2,)."""
        var = math.exp(logvar)
        return np.array([(self.x - mu) / self.s**2 - mu, -var / (2 * self.s**2) - (var - 1) / 2])

    def reparam_variance(self, mu: float, logvar: float) -> np.ndarray:
        """Per-sample variance of the reparameterization estimator, closed form: (2,).

        f'(z) = (x - z) / s^2 with z = mu + sigma eps; Var(a eps - b eps^2) = a^2 + 2 b^2.
        """
        var = math.exp(logvar)
        return np.array([var / self.s**4, var / (4 * self.s**4) * ((self.x - mu) ** 2 + 2 * var)])

    def studies(
        self, mu: float, logvar: float, ns: Sequence[int], repeats: int, seed: int = 0
    ) -> dict[Estimator, GradientStudy]:
        m, lv = torch.tensor([float(mu)]), torch.tensor([float(logvar)])
        return gradient_studies(self, self.x_tensor, ns, repeats, mu=m, logvar=lv, seed=seed)
