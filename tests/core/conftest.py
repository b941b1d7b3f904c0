"""Oracles for the estimator tests.

A linear-Gaussian VAE, p(z) = N(0, I), p(x|z) = N(Wz + b, s^2 I), has everything in closed form:
    p(x)   = N(x; b, W W^T + s^2 I)
    p(z|x) = N(S W^T (x - b) / s^2, S),  S = (I + W^T W / s^2)^-1
W has orthogonal columns here, so S is diagonal and q(z|x) can equal p(z|x) exactly.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Independent, MultivariateNormal, Normal


class LinearGaussian:
    def __init__(self, x_dim: int, latent_dim: int, s: float = 0.5, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        q, _ = torch.linalg.qr(torch.randn(x_dim, latent_dim, generator=g, dtype=torch.float64))
        scales = torch.linspace(1.0, 2.0, latent_dim, dtype=torch.float64)
        self.W = q * scales  # (x_dim, D), orthogonal columns
        self.b = torch.randn(x_dim, generator=g, dtype=torch.float64) * 0.3
        self.s = s
        self.latent_dim = latent_dim
        # q(z|x) = exact posterior shifted by mu_shift and scaled by exp(logvar_shift / 2)
        self.mu_shift = torch.zeros(latent_dim, dtype=torch.float64)
        self.logvar_shift = torch.zeros(latent_dim, dtype=torch.float64)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.double()
        wtw = self.W.T @ self.W / self.s**2
        cov = torch.diag(1.0 / (1.0 + torch.diagonal(wtw)))  # diagonal because W^T W is
        mu = (x - self.b) @ self.W @ cov / self.s**2
        return mu, torch.diagonal(cov).log().expand_as(mu)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.posterior(x)
        return (mu + self.mu_shift).to(x.dtype), (logvar + self.logvar_shift).to(x.dtype)

    def decode(self, z: torch.Tensor) -> Independent:
        mean = (z.double() @ self.W.T + self.b).to(z.dtype)
        return Independent(Normal(mean, torch.full_like(mean, self.s)), 1)

    def log_px(self, x: torch.Tensor) -> torch.Tensor:
        cov = self.W @ self.W.T + self.s**2 * torch.eye(len(self.b), dtype=torch.float64)
        return MultivariateNormal(self.b, cov).log_prob(x.double())

    def sample_x(self, n: int, seed: int = 1) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.latent_dim, generator=g, dtype=torch.float64)
        return (z @ self.W.T + self.b + self.s * torch.randn(n, len(self.b), generator=g, dtype=torch.float64)).float()

    def expected_recon_grad(self, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """d/d(mu, logvar) of E_q[log p(x|z)] - KL(q || p(z)), exactly; x (x_dim,), mu (D,)."""
        x, mu, logvar = x.double(), mu.double(), logvar.double()
        residual = x - self.W @ mu - self.b
        d_mu = self.W.T @ residual / self.s**2 - mu
        d_logvar = -0.5 * (self.W**2).sum(0) * logvar.exp() / self.s**2 - 0.5 * (logvar.exp() - 1)
        return torch.cat([d_mu, d_logvar])


@pytest.fixture
def linear_gaussian():
    return LinearGaussian


LOG_2PI = math.log(2 * math.pi)
