"""The derivation of the ELBO as numbers for one x: one sample through the VAE, the SGVB
estimators, the log importance weights behind Jensen's inequality, and the identity
log p(x) = ELBO + KL(q(z|x) || p(z|x)).

One sample (Kingma & Welling, 2014, section 2.3):

    mu, log sigma^2 = encoder(x);   eps ~ N(0, I);   z* = mu + sigma * eps
    estimator A:  log p(x|z*) + log p(z*) - log q(z*|x)          (their eq. 6, L^A)
    estimator B:  log p(x|z*) - KL(q(z|x) || p(z))  in closed form  (their eq. 7, L^B)

Both are unbiased for the ELBO; B has lower variance wherever the closed-form KL removes the
noise of log p(z*) - log q(z*|x). The log importance weight of z ~ q is
log w = log p(x, z) - log q(z|x): its mean over z ~ q is the ELBO, and log mean_k w is L_k
(Burda et al., 2016); log E[w] = log p(x) >= E[log w] is Jensen's inequality. Drawn from the
prior instead, w = p(x|z) and log mean w is the naive estimate. Nats throughout.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from vae_core.vae.objectives import (
    LOG_2PI,
    LatentModel,
    elbo_terms,
    gaussian_kl,
    log_lik,
    log_px_quadrature,
    log_standard_normal,
    sample_q,
)
from vae_core.vae.posterior import posterior_view

GAUSS_HERMITE = 48  # nodes per axis of E_q[log p(x|z)] by quadrature (1-2-D latents)


@dataclass(frozen=True)
class OneSample:
    """One pass of x through the VAE with one draw; arrays are (D,) except ``x_mean`` (x_dim,)."""

    mu: np.ndarray
    sigma: np.ndarray
    eps: np.ndarray
    z: np.ndarray  # mu + sigma * eps
    log_q: float  # log q(z*|x)
    log_pz: float  # log p(z*)
    x_mean: np.ndarray  # the decoder's mean E[x | z*] (Bernoulli: pixel probabilities)
    log_px_z: float  # log p(x|z*)
    kl: float  # KL(q(z|x) || p(z)) in closed form

    @property
    def estimate_a(self) -> float:
        """SGVB A: log p(x|z*) + log p(z*) - log q(z*|x)."""
        return self.log_px_z + self.log_pz - self.log_q

    @property
    def estimate_b(self) -> float:
        """SGVB B: log p(x|z*) - KL(q || p(z)), the KL in closed form."""
        return self.log_px_z - self.kl


def log_q_of(eps: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log q(z|x) at z = mu + sigma * eps, summed over the last dimension: (..., D) -> (...)."""
    return (-0.5 * (eps.square() + logvar + LOG_2PI)).sum(-1)


@torch.inference_mode()
def one_sample(model: LatentModel, x: torch.Tensor, generator: torch.Generator | None = None) -> OneSample:
    """Every line of the recipe for one x (x_dim,) and one eps ~ N(0, I), in nats."""
    mu, logvar = (t[0] for t in model.encode(x[None]))  # (D,)
    z, eps = sample_q(mu, logvar, 1, generator)  # (1, D)
    dist = model.decode(z)
    return OneSample(
        mu=mu.numpy(),
        sigma=(0.5 * logvar).exp().numpy(),
        eps=eps[0].numpy(),
        z=z[0].numpy(),
        log_q=float(log_q_of(eps[0], logvar)),
        log_pz=float(log_standard_normal(z[0]).sum()),
        x_mean=dist.mean[0].numpy(),
        log_px_z=float(dist.log_prob(x[None])[0]),
        kl=float(gaussian_kl(mu, logvar).sum()),
    )


@torch.inference_mode()
def sgvb_estimates(
    model: LatentModel, x: torch.Tensor, n: int, generator: torch.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """SGVB A and B for one x (x_dim,) over the same n draws of eps: two arrays (n,), nats."""
    mu, logvar = model.encode(x[None])  # (1, D)
    z, eps = sample_q(mu, logvar, n, generator)  # (n, 1, D)
    rec = log_lik(model, x[None], z)[:, 0]  # (n,)
    a = rec + log_standard_normal(z).sum(-1)[:, 0] - log_q_of(eps, logvar)[:, 0]
    b = rec - gaussian_kl(mu, logvar).sum()
    return a.double().numpy(), b.double().numpy()


@torch.inference_mode()
def log_weights(
    model: LatentModel, x: torch.Tensor, n: int, *, prior: bool = False, generator: torch.Generator | None = None
) -> np.ndarray:
    """n log importance weights of one x (x_dim,), float64 (n,).

    ``prior=False``: z ~ q(z|x) and log w = log p(x|z) + log p(z) - log q(z|x), drawn exactly as
    ``log_px_importance`` draws them (same generator, same numbers for n up to its chunk).
    ``prior=True``: z ~ p(z) and log w = log p(x|z), drawn as ``log_px_prior`` draws them.
    """
    mu, logvar = model.encode(x[None])  # (1, D)
    if prior:
        z = torch.randn((n, mu.shape[-1]), generator=generator)[:, None]  # (n, 1, D)
        return log_lik(model, x[None], z)[:, 0].double().numpy()
    z, eps = sample_q(mu, logvar, n, generator)  # (n, 1, D)
    log_w = log_lik(model, x[None], z) + log_standard_normal(z).sum(-1) - log_q_of(eps, logvar)
    return log_w[:, 0].double().numpy()


def log_mean_exp(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """log mean exp along an axis, without overflow."""
    top = np.max(values, axis=axis, keepdims=True)
    return np.squeeze(top, axis) + np.log(np.mean(np.exp(values - top), axis=axis))


def grouped_bounds(log_w: np.ndarray, k: int) -> np.ndarray:
    """L_k of each of the len(log_w) // k disjoint groups of k consecutive weights: (n // k,).

    Their mean estimates E[L_k]; their spread narrows as k grows (the weights averaged in)."""
    groups = len(log_w) // k
    if groups < 1:
        raise ValueError(f"need at least k = {k} weights, got {len(log_w)}")
    return log_mean_exp(log_w[: groups * k].reshape(groups, k))


def bound_curve(log_w: np.ndarray, ks: Sequence[int]) -> np.ndarray:
    """The mean of ``grouped_bounds`` for each k: E[L_k] estimated from one set of weights, (len(ks),)."""
    return np.array([grouped_bounds(log_w, k).mean() for k in ks])


@dataclass(frozen=True)
class Identity:
    """log p(x) = ELBO + KL(q(z|x) || p(z|x)) for one x, each term computed on its own (nats)."""

    log_px: float
    elbo: float
    kl: float  # KL(q(z|x) || p(z|x))
    exact: bool  # True: three independent computations (quadrature); False: kl = log_px - elbo
    source: str  # how log p(x) was obtained

    @property
    def residual(self) -> float:
        return self.log_px - (self.elbo + self.kl)


def expected_log_lik_quadrature(model: LatentModel, x: torch.Tensor, n: int = GAUSS_HERMITE) -> float:
    """E_q[log p(x|z)] for one x (x_dim,) by Gauss-Hermite quadrature on q's own axes (D = 1 or 2)."""
    mu, logvar = (t[0].double() for t in model.encode(x[None]))
    d = mu.shape[-1]
    if d not in (1, 2):
        raise ValueError(f"Gauss-Hermite quadrature here needs a 1-D or 2-D latent, not {d}-D")
    nodes, weights = np.polynomial.hermite_e.hermegauss(n)  # for exp(-t^2 / 2)
    weights = weights / math.sqrt(2 * math.pi)
    t = torch.from_numpy(np.stack(np.meshgrid(*[nodes] * d, indexing="ij"), -1).reshape(-1, d))
    w = torch.from_numpy(np.prod(np.stack(np.meshgrid(*[weights] * d, indexing="ij"), -1).reshape(-1, d), -1))
    z = (mu + (0.5 * logvar).exp() * t).float()[:, None]  # (n^d, 1, D)
    return float((log_lik(model, x[None], z)[:, 0].double() * w).sum())


@torch.inference_mode()
def identity(
    model: LatentModel, x: torch.Tensor, log_w: np.ndarray | None = None, *, samples: int = 5000, seed: int = 0
) -> Identity:
    """The three numbers of the identity for one x (x_dim,).

    1-2-D latents: log p(x) by the objectives' grid quadrature, the ELBO as Gauss-Hermite
    E_q[log p(x|z)] minus the closed-form KL, and KL(q || p(z|x)) summed on the posterior view's
    own grid: three computations, so their residual is a check. Otherwise log p(x) is L_n from the
    log weights ``log_w`` (or ``samples`` fresh ones), the ELBO their mean's analytic-KL twin
    (``elbo_terms`` with as many draws), and the KL the difference (a lower bound on the true one).
    """
    d = model.encode(x[None])[0].shape[-1]
    if d <= 2:
        kl_prior = float(gaussian_kl(*model.encode(x[None])).sum())
        elbo = expected_log_lik_quadrature(model, x) - kl_prior
        log_px = float(log_px_quadrature(model, x[None])[0])
        return Identity(log_px, elbo, posterior_view(model, x).kl, True, "quadrature")
    if log_w is None:
        log_w = log_weights(model, x, samples, generator=torch.Generator().manual_seed(seed))
    n = len(log_w)
    g = torch.Generator().manual_seed(seed)
    elbo = float(elbo_terms(model, x[None], n_samples=n, generator=g).elbo[0])
    log_px = float(log_mean_exp(log_w))
    return Identity(log_px, elbo, log_px - elbo, False, f"L_{n}")


JENSEN_DRAWS = 5000  # the Jensen page's log weights of each kind, for one test image


@dataclass(frozen=True)
class JensenView:
    """What the Jensen page shows of one test image: log w of ``JENSEN_DRAWS`` z ~ q(z|x) and as
    many z ~ p(z), and the identity (for a 2-D model, seconds of grid quadrature)."""

    log_w: np.ndarray  # (n,) float64, z ~ q(z|x)
    prior_w: np.ndarray  # (n,) float64, z ~ p(z): log p(x|z)
    identity: Identity


def jensen_view(model: LatentModel, x: torch.Tensor, i: int, draws: int = JENSEN_DRAWS) -> JensenView:
    """The Jensen page's numbers for test image ``i`` (x: that image, (x_dim,)), seeded by ``i``:
    the same numbers wherever they are computed (the page, the view worker, its stored views)."""
    log_w = log_weights(model, x, draws, generator=torch.Generator().manual_seed(i))
    prior = log_weights(model, x, draws, prior=True, generator=torch.Generator().manual_seed(10_000 + i))
    return JensenView(log_w, prior, identity(model, x, log_w, seed=i))
