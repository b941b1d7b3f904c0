"""How good is q(z|x), and how noisy are the gradients that train it.

The posterior, for a 2-D latent, by quadrature on a window that holds its mass:

    log p(z|x) = log p(x|z) + log p(z) - log p(x),   log p(x) = log sum_g p(x|z_g) p(z_g) * cell
    KL(q || p(z|x)) = sum_g q(z_g) (log q(z_g) - log p(z_g|x)) * cell    (on a window around q)

and the same at the checkpoints a run kept (``TrainedModel.model_at``). The KL is the gap
log p(x) - ELBO: the price of a Gaussian q.

The variance of the n-sample mean of the two single-sample gradient estimators of
d ELBO / d(mu, logvar) (score function, Williams 1992; reparameterization, Kingma & Welling
2014), measured from repeats; it falls like 1/n, from a per-sample variance that differs by
orders of magnitude. A 1-D Gaussian toy, p(z) = N(0, 1), p(x|z) = N(x; z, s^2), has the exact
gradient of its ELBO for q = N(mu, sigma^2):

    d ELBO / d mu       = (x - mu) / s^2 - mu
    d ELBO / d log s^2  = -sigma^2 / (2 s^2) - (sigma^2 - 1) / 2

Pure torch and numpy; nats throughout.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch.distributions import Distribution, Independent, Normal

from vae_core.objectives import (
    LOG_2PI,
    LatentModel,
    default_grid,
    elbo_gradient_samples,
    log_standard_normal,
    pairwise_log_lik,
)

Estimator = Literal["score", "reparam"]
ESTIMATORS: tuple[Estimator, ...] = ("score", "reparam")
MASS_NATS = 20.0  # the window keeps every coarse cell whose joint is within this of the peak
Q_SIGMAS = 6.0  # the KL window spans q(z|x) to this many standard deviations
SHOWN_NATS = 9.0  # the picture spans the posterior down to exp(-SHOWN_NATS) of its peak
CHUNK = 4096  # gradient samples drawn at once (bounds the decoder's activations)

# -- the posterior on a grid ----------------------------------------------------------------


def grid_kl(log_q: torch.Tensor, log_p: torch.Tensor, log_cell: float) -> float:
    """KL(q || p) = sum_g q_g (log q_g - log p_g) * cell, for log densities on one grid (any shape)."""
    q = (log_q.double() + log_cell).exp()
    return float((q * (log_q.double() - log_p.double())).sum())


def log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))) for z (G, D) -> (G,)."""
    return -0.5 * (((z - mu).square() / logvar.exp()) + logvar + LOG_2PI).sum(-1)


def log_joint(model: LatentModel, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """log p(x|z) + log p(z) for one x (x_dim,) at each z (G, D) -> (G,), in float64."""
    return pairwise_log_lik(model, x[None], z)[0].double() + log_standard_normal(z.double()).sum(-1)


def _mesh(axes: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.stack([a.reshape(-1) for a in torch.meshgrid(*axes, indexing="ij")], -1).float()


def _log_cell(axes: Sequence[torch.Tensor]) -> float:
    return sum(math.log((a[1] - a[0]).item()) for a in axes)


@dataclass(frozen=True)
class PosteriorView:
    """The true posterior of one x on a window (a density, indexed [z1, z2]) and the encoder's q."""

    axes: tuple[np.ndarray, ...]  # each (n,)
    log_post: np.ndarray  # (n, n): log p(z|x)
    mu: np.ndarray  # (2,)
    logvar: np.ndarray  # (2,)
    kl: float  # KL(q(z|x) || p(z|x)), nats
    log_px: float  # nats

    @property
    def density(self) -> np.ndarray:
        return np.exp(self.log_post)


@torch.inference_mode()
def posterior_view(model: LatentModel, x: torch.Tensor, *, n: int = 121, coarse: int = 200) -> PosteriorView:
    """p(z|x) and KL(q(z|x) || p(z|x)) for one x (x_dim,) under a model with a 2-D latent.

    A coarse grid over the prior and q finds the mass; an n x n window around it gives log p(x)
    (the mass left outside is below exp(-MASS_NATS) per coarse cell); the KL is summed on a second
    n x n window over q to Q_SIGMAS; a third, tighter one is the picture (``log_post``).
    """
    mu, logvar = (t[0] for t in model.encode(x[None]))
    if mu.shape[-1] != 2:
        raise ValueError(f"the posterior view needs a 2-D latent, not {mu.shape[-1]}-D")
    mu, logvar = mu.double(), logvar.double()
    grid = default_grid(model, x[None], n=coarse)
    points = grid.points
    log_coarse = log_joint(model, x, points)
    heavy = points[log_coarse > log_coarse.max() - MASS_NATS].double()
    step = 2 * grid.bound / grid.n
    lo, hi = heavy.min(0).values - step, heavy.max(0).values + step
    axes = [torch.linspace(lo[d].item(), hi[d].item(), n, dtype=torch.float64) for d in range(2)]
    log_j = log_joint(model, x, _mesh(axes))
    log_px = (torch.logsumexp(log_j, 0) + _log_cell(axes)).item()
    sigma = (0.5 * logvar).exp()
    q_axes = [torch.linspace(-Q_SIGMAS, Q_SIGMAS, n, dtype=torch.float64) * sigma[d] + mu[d] for d in range(2)]
    z_q = _mesh(q_axes)  # float32 for the decoder; q's log density in float64
    kl = grid_kl(log_normal(z_q.double(), mu, logvar), log_joint(model, x, z_q) - log_px, _log_cell(q_axes))
    # The picture: where the posterior is within SHOWN_NATS of its peak, and q to 2.5 sigma.
    shown = _mesh(axes)[log_j > log_j.max() - SHOWN_NATS].double()
    lo = torch.minimum(shown.min(0).values, mu - 2.5 * sigma)
    hi = torch.maximum(shown.max(0).values, mu + 2.5 * sigma)
    margin = 0.1 * (hi - lo)
    axes = [torch.linspace((lo - margin)[d].item(), (hi + margin)[d].item(), n, dtype=torch.float64) for d in range(2)]
    return PosteriorView(
        axes=tuple(a.numpy() for a in axes),
        log_post=(log_joint(model, x, _mesh(axes)) - log_px).reshape(n, n).numpy(),
        mu=mu.numpy(),
        logvar=logvar.numpy(),
        kl=kl,
        log_px=log_px,
    )


def posterior_over_training(
    model_at: Callable[[int], LatentModel], epochs: Sequence[int], x: torch.Tensor, *, n: int = 121
) -> dict[int, PosteriorView]:
    """``posterior_view`` of one x at each of ``epochs`` (e.g. ``TrainedModel.model_at``)."""
    return {e: posterior_view(model_at(e), x, n=n) for e in epochs}


# -- gradient estimators ----------------------------------------------------------------------


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
