"""Dataset-level summaries built on ``objectives``: test-set ELBO terms, active units, the
table of log p(x) estimates that the command line shows, and the repeated L_k-against-k curve
that the ELBO page draws.

Active units (Burda et al., 2016): dimension d is active when Cov_x(E_q[z_d]) > 0.01.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from vae_core.vae.objectives import (
    LatentModel,
    elbo_terms,
    log_px_importance,
    log_px_prior,
    log_px_quadrature_with_error,
)

ACTIVE_THRESHOLD = 0.01
EVAL_SEED = 0  # the noise of every reported estimate; fixed so that numbers repeat


@dataclass(frozen=True)
class DatasetTerms:
    """Means over a dataset, nats per example."""

    recon: float
    kl: float
    elbo: float
    kl_per_dim: list[float]
    unit_variance: list[float]  # Cov_x(E_q[z_d]) per dimension
    active_units: int


@torch.inference_mode()
def encode_dataset(model: LatentModel, x: torch.Tensor, batch_size: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
    """mu, logvar for every row of x: (N, D) each."""
    parts = [model.encode(xb) for xb in x.split(batch_size)]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def active_units(mu: torch.Tensor, threshold: float = ACTIVE_THRESHOLD) -> tuple[int, torch.Tensor]:
    """(count, per-dimension variance of the posterior means over the data), mu (N, D)."""
    variance = mu.var(0) if len(mu) > 1 else torch.zeros(mu.shape[-1])
    return int((variance > threshold).sum()), variance


@torch.inference_mode()
def dataset_terms(
    model: LatentModel,
    x: torch.Tensor,
    *,
    kl_estimator: Literal["analytic", "mc"] = "analytic",
    n_samples: int = 1,
    batch_size: int = 2000,
) -> DatasetTerms:
    """ELBO terms averaged over x, with seeded noise (one z draw per example by default)."""
    g = torch.Generator().manual_seed(EVAL_SEED)
    sums = torch.zeros(3)
    kl_dims, mus = [], []
    for xb in x.split(batch_size):
        t = elbo_terms(model, xb, kl_estimator=kl_estimator, n_samples=n_samples, generator=g)
        sums += torch.stack([t.recon.sum(), t.kl.sum(), t.elbo.sum()])
        kl_dims.append(t.kl_per_dim.sum(0))
        mus.append(t.mu)
    n = len(x)
    count, variance = active_units(torch.cat(mus))
    recon, kl_mean, elbo = (sums / n).tolist()
    return DatasetTerms(recon, kl_mean, elbo, (torch.stack(kl_dims).sum(0) / n).tolist(), variance.tolist(), count)


@dataclass
class Evaluation:
    """Test-set means of every estimate, nats per example, with wall times in seconds."""

    n: int
    elbo: DatasetTerms
    elbo_mc: DatasetTerms
    importance: dict[int, float] = field(default_factory=dict)
    importance_seconds: dict[int, float] = field(default_factory=dict)
    prior_sampling: dict[int, float] = field(default_factory=dict)
    quadrature: float | None = None
    quadrature_error: float | None = None  # mean |grid - half grid|, a convergence check
    quadrature_seconds: float | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "recon": self.elbo.recon,
            "kl": self.elbo.kl,
            "elbo": self.elbo.elbo,
            "elbo_mc_kl": self.elbo_mc.elbo,
            "active_units": self.elbo.active_units,
            "log_px_importance": {str(k): v for k, v in self.importance.items()},
            "importance_seconds": {str(k): v for k, v in self.importance_seconds.items()},
            "log_px_prior_sampling": {str(k): v for k, v in self.prior_sampling.items()},
            "log_px_quadrature": self.quadrature,
            "quadrature_error": self.quadrature_error,
            "quadrature_seconds": self.quadrature_seconds,
        }


def evaluate(
    model: LatentModel,
    x: torch.Tensor,
    ks: list[int],
    *,
    prior_k: int | None = None,
    quadrature: bool = True,
    on_progress: Callable[[str], None] | None = None,
) -> Evaluation:
    """ELBO (analytic and Monte-Carlo KL), L_k for each k, the naive prior estimate with
    ``prior_k`` draws, and the grid value when the latent dimension is 1 or 2."""
    ev = Evaluation(len(x), dataset_terms(model, x), dataset_terms(model, x, kl_estimator="mc"))
    g = torch.Generator().manual_seed(EVAL_SEED)
    for k in ks:
        if on_progress:
            on_progress(f"importance sampling, k = {k}")
        t0 = time.perf_counter()
        ev.importance[k] = log_px_importance(model, x, k, generator=g).mean().item()
        ev.importance_seconds[k] = time.perf_counter() - t0
    if prior_k:
        if on_progress:
            on_progress(f"prior sampling, k = {prior_k}")
        ev.prior_sampling[prior_k] = log_px_prior(model, x, prior_k, generator=g).mean().item()
    if quadrature and ev.elbo.kl_per_dim and len(ev.elbo.kl_per_dim) <= 2:
        if on_progress:
            on_progress("quadrature on a grid")
        t0 = time.perf_counter()
        value, error = log_px_quadrature_with_error(model, x)
        ev.quadrature, ev.quadrature_error = value.mean().item(), error.mean().item()
        ev.quadrature_seconds = time.perf_counter() - t0
    return ev


KS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)  # the k of the L_k curves the app draws
SEEDS = {"importance": 0, "prior": 1000}  # repeat r of a sampler draws from seeds SEEDS[sampler] + r


def draw_seed(seed: int, repeat: int, k: int) -> int:
    """The seed of one (repeat, k) estimate: each is its own draw, so that any group of them can be
    computed apart (first the small k, later the large ones) and still repeat exactly."""
    return (seed + repeat) * 1_000_003 + k


def curve_piece(
    model: LatentModel,
    x: torch.Tensor,
    ks: Sequence[int],
    repeat: int,
    *,
    sampler: Literal["importance", "prior"] = "importance",
    seed: int | None = None,
) -> np.ndarray:
    """Repeat ``repeat`` of the mean over x (N, x_dim) of the k-sample estimate of log p(x), for
    each k: (len(ks),). ``importance`` draws z ~ q(z|x) (L_k); ``prior`` draws z ~ p(z)."""
    estimator = log_px_importance if sampler == "importance" else log_px_prior
    base = SEEDS[sampler] if seed is None else seed
    out = np.zeros(len(ks))
    for i, k in enumerate(ks):
        g = torch.Generator().manual_seed(draw_seed(base, repeat, k))
        out[i] = estimator(model, x, k, generator=g).mean().item()
    return out


def estimate_curve(
    model: LatentModel,
    x: torch.Tensor,
    ks: Sequence[int],
    repeats: int,
    *,
    sampler: Literal["importance", "prior"] = "importance",
    seed: int | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> np.ndarray:
    """``curve_piece`` for repeats 0 .. repeats - 1, k by k: (len(ks), repeats)."""
    out = np.zeros((len(ks), repeats))
    cost, done = sum(ks) * repeats, 0
    for r in range(repeats):
        for i, k in enumerate(ks):
            out[i, r] = curve_piece(model, x, [k], r, sampler=sampler, seed=seed)[0]
            done += k
            if on_progress:
                on_progress(done / cost)
    return out


@torch.inference_mode()
def elbo_numbers(model: LatentModel, x: torch.Tensor) -> dict[str, float]:
    """The ELBO's terms, analytic and Monte-Carlo KL (1000 draws per example for one x, else 100):
    means over x, nats per example."""
    g = torch.Generator().manual_seed(EVAL_SEED)
    samples = 1000 if len(x) == 1 else 100
    analytic = elbo_terms(model, x, kl_estimator="analytic", n_samples=samples, generator=g)
    mc = elbo_terms(model, x, kl_estimator="mc", n_samples=samples, generator=g)
    return {
        "recon": analytic.recon.mean().item(),
        "kl": analytic.kl.mean().item(),
        "kl_mc": mc.kl.mean().item(),
        "elbo": analytic.elbo.mean().item(),
        "elbo_mc": mc.elbo.mean().item(),
    }
