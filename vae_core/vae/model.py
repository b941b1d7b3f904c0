"""The VAE: an MLP encoder q(z|x) = N(mu, diag(exp(logvar))) and an MLP decoder p(x|z).

The decoder returns a ``torch.distributions`` object over x — a Bernoulli with logits for
images, a Normal with a learned or fixed std for points in the plane — so log p(x|z) is the
library's ``log_prob``, summed over the x dimensions (``Independent``) to one number per
example. The prior is p(z) = N(0, I) (Kingma & Welling, 2014).
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Bernoulli, Distribution, Independent, Normal

from vae_core.config import ModelConfig

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh}


def mlp(sizes: list[int], activation: str = "relu") -> nn.Sequential:
    """Linear layers of these widths with ``activation`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class VAE(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        hidden = list(config.hidden)
        self.encoder = mlp([config.x_dim, *hidden, 2 * config.latent_dim], config.activation)
        self.decoder = mlp([config.latent_dim, *hidden[::-1], config.x_dim], config.activation)
        if config.likelihood == "gaussian" and config.decoder_std is None:
            self.log_std = nn.Parameter(torch.zeros(config.x_dim))

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (..., x_dim) -> mu, logvar, each (..., latent_dim)."""
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> Distribution:
        """z (..., latent_dim) -> p(x|z) with batch shape (...) and event shape (x_dim,)."""
        out = self.decoder(z)
        if self.config.likelihood == "bernoulli":
            # validate_args=False: log_prob of grey pixels is the usual cross-entropy.
            return Independent(Bernoulli(logits=out, validate_args=False), 1)
        std = self.decoder_std().expand_as(out)
        return Independent(Normal(out, std, validate_args=False), 1)

    def decoder_std(self) -> torch.Tensor:
        """The Gaussian decoder's std per x dimension, (x_dim,)."""
        if self.config.decoder_std is not None:
            return torch.full((self.config.x_dim,), self.config.decoder_std)
        # A floor keeps the likelihood bounded when the decoder fits a point exactly.
        return self.log_std.exp().clamp_min(1e-3)

    def mean(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's mean E[x|z] (pixel probabilities, or point coordinates), (..., x_dim)."""
        out = self.decoder(z)
        return torch.sigmoid(out) if self.config.likelihood == "bernoulli" else out

    def log_lik(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) for x (B, x_dim) and z (n, B, latent_dim): (n, B). Same as
        ``decode(z).log_prob(x)``; without autograd, a Bernoulli decoder takes a fast path:

            log p(x|z) = x . l - sum_j softplus(l_j),   l = W h + b,   x . l = h . (W^T x) + x . b

        so the (n, B, x_dim) logits serve only the log-normaliser, computed in place.
        """
        if self.config.likelihood != "bernoulli" or torch.is_grad_enabled():
            return self.decode(z).log_prob(x)
        *body, last = self.decoder
        h = nn.Sequential(*body)(z)  # (n, B, H)
        x_dot_l = torch.einsum("nbh,bh->nb", h, x @ last.weight) + x @ last.bias
        # exp(W h + b) = exp(W h) * exp(b): a GEMM with a bias would first copy the bias into
        # its whole output (a fifth of the time, measured); softplus then runs in place.
        exp_logits = F.linear(h, last.weight).exp_().mul_(last.bias.exp())  # (n, B, x_dim)
        log_norm = exp_logits.log1p_().sum(-1)  # inf (or nan) where a logit overflowed
        overflow = ~torch.isfinite(log_norm)
        if overflow.any():  # rare: redo those rows with the stable softplus
            log_norm[overflow] = F.softplus(F.linear(h[overflow], last.weight, last.bias)).sum(-1)
        return x_dot_l - log_norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction from the posterior mean: E[x | z = mu(x)]."""
        return self.mean(self.encode(x)[0])


def build_model(config: ModelConfig, seed: int) -> VAE:
    """A freshly initialised VAE; the same seed gives the same weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return VAE(config)
