"""Every estimator against a closed form or an exact oracle, with the tolerance stated."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vae_core.config import ModelConfig
from vae_core.vae.evaluate import active_units
from vae_core.vae.model import build_model
from vae_core.vae.objectives import (
    elbo_terms,
    gaussian_kl,
    log_px_importance,
    log_px_prior,
    log_px_quadrature,
    log_px_quadrature_with_error,
    pairwise_log_lik,
)


@pytest.mark.parametrize("shape", [(3,), (5, 2), (4, 3, 7), (1, 32)])
def test_analytic_kl_matches_torch_distributions(shape):
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(shape, generator=g) * 2, torch.randn(shape, generator=g)
    ours = gaussian_kl(mu, logvar)
    reference = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0))
    assert ours.shape == shape
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-6)


def test_monte_carlo_kl_is_unbiased_for_the_closed_form(linear_gaussian):
    model = linear_gaussian(6, 3)
    model.mu_shift += 0.7
    model.logvar_shift += 0.5
    x = model.sample_x(4)
    g = torch.Generator().manual_seed(1)
    mc = elbo_terms(model, x, kl_estimator="mc", n_samples=200_000, generator=g)
    exact = elbo_terms(model, x, kl_estimator="analytic")
    # Std of the MC KL per dimension is below 1.5 here, so 200k draws give a std error < 0.004.
    torch.testing.assert_close(mc.kl_per_dim, exact.kl_per_dim, atol=0.02, rtol=0)


def test_with_the_exact_posterior_elbo_and_importance_equal_log_px(linear_gaussian):
    model = linear_gaussian(8, 2)
    x = model.sample_x(16)
    exact = model.log_px(x).float()
    g = torch.Generator().manual_seed(0)
    # With q = p(z|x), log p(x|z) + log p(z) - log q(z|x) = log p(x) for every z.
    elbo_mc = elbo_terms(model, x, kl_estimator="mc", n_samples=3, generator=g).elbo
    torch.testing.assert_close(elbo_mc, exact, atol=1e-4, rtol=0)
    for k in (1, 10, 1000):
        torch.testing.assert_close(log_px_importance(model, x, k, generator=g), exact, atol=1e-4, rtol=0)
    # Analytic KL: the reconstruction term is still a sample mean; 100k draws, std error < 0.01.
    elbo = elbo_terms(model, x, n_samples=100_000, generator=g).elbo
    torch.testing.assert_close(elbo, exact, atol=0.03, rtol=0)


def test_importance_estimate_rises_with_k_towards_log_px(linear_gaussian):
    model = linear_gaussian(8, 2)
    model.mu_shift += torch.tensor([0.4, -0.3], dtype=torch.float64)
    model.logvar_shift += torch.tensor([0.8, -0.6], dtype=torch.float64)  # too wide, too narrow
    x = model.sample_x(200)
    exact = model.log_px(x).mean().item()
    g = torch.Generator().manual_seed(0)
    means = [log_px_importance(model, x, k, generator=g).mean().item() for k in (1, 10, 100, 1000, 5000)]
    assert all(a < b for a, b in itertools.pairwise(means)), means
    assert means[0] < exact - 0.2  # the gap is real for this q
    assert means[-1] <= exact + 0.01
    assert exact - means[-1] < 0.02, (means, exact)


def test_importance_estimate_combines_chunks_correctly(linear_gaussian):
    model = linear_gaussian(5, 2)
    x = model.sample_x(7)
    # max_elements=30 forces blocks of 2 samples over batches of 3 examples; k=9 leaves a ragged block.
    chunked = log_px_importance(model, x, 9, batch_size=3, max_elements=30)
    torch.testing.assert_close(chunked, model.log_px(x).float(), atol=1e-4, rtol=0)
    model.mu_shift += 0.5
    x = model.sample_x(400)
    small_blocks = log_px_importance(model, x, 50, max_elements=100).mean().item()  # one draw a block
    exact = model.log_px(x).mean().item()
    assert exact - 0.6 < small_blocks < exact  # a lower bound, and not a wild one (seed spread ~0.07)


@pytest.mark.parametrize("latent_dim", [1, 2])
def test_quadrature_matches_the_exact_log_px(linear_gaussian, latent_dim):
    model = linear_gaussian(6, latent_dim, s=0.3)
    x = model.sample_x(20)
    value, error = log_px_quadrature_with_error(model, x)
    torch.testing.assert_close(value, model.log_px(x).float(), atol=1e-3, rtol=0)
    assert error.max() < 1e-3


def test_quadrature_refuses_more_than_two_latent_dims(linear_gaussian):
    model = linear_gaussian(6, 3)
    with pytest.raises(ValueError, match="1 or 2"):
        log_px_quadrature(model, model.sample_x(2))


def test_naive_prior_estimate_works_only_when_the_prior_covers_the_posterior(linear_gaussian):
    g = torch.Generator().manual_seed(0)
    broad = linear_gaussian(2, 1, s=2.0)  # the posterior is almost the prior
    x = broad.sample_x(50)
    assert abs(log_px_prior(broad, x, 20_000, generator=g).mean().item() - broad.log_px(x).mean().item()) < 0.01
    sharp = linear_gaussian(40, 2, s=0.05)  # posterior std ~ 0.05: almost no prior draw hits it
    x = sharp.sample_x(50)
    naive = log_px_prior(sharp, x, 1000, generator=g).mean().item()
    iwae = log_px_importance(sharp, x, 1000, generator=g).mean().item()
    assert naive < sharp.log_px(x).mean().item() - 5
    assert abs(iwae - sharp.log_px(x).mean().item()) < 1e-3


def test_pairwise_log_lik_matmul_matches_log_prob():
    model = build_model(ModelConfig(x_dim=30, latent_dim=2, hidden=(16,)), seed=0)
    g = torch.Generator().manual_seed(0)
    x, z = torch.bernoulli(torch.full((5, 30), 0.3), generator=g), torch.randn(7, 2, generator=g)
    reference = model.decode(z[None, :, :].expand(5, 7, 2)).log_prob(x[:, None, :])
    torch.testing.assert_close(pairwise_log_lik(model, x, z), reference, atol=1e-4, rtol=1e-5)


def test_fast_bernoulli_log_lik_matches_the_distribution():
    model = build_model(ModelConfig(x_dim=30, latent_dim=3, hidden=(16, 8)), seed=0)
    with torch.no_grad():
        model.decoder[-1].bias[:2] = torch.tensor([95.0, -95.0])  # exp(95) overflows float32
    g = torch.Generator().manual_seed(0)
    x = torch.bernoulli(torch.full((5, 30), 0.4), generator=g)
    x[:, 0] = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.3])  # a grey pixel too: the cross-entropy form
    z = torch.randn(7, 5, 3, generator=g)
    reference = model.decode(z).log_prob(x)
    with torch.inference_mode():
        fast = model.log_lik(x, z)
    assert torch.isfinite(fast).all()
    torch.testing.assert_close(fast, reference, atol=2e-3, rtol=1e-5)
    assert model.log_lik(x, z).requires_grad  # with autograd on, the differentiable path


def test_active_units_counts_dimensions_whose_means_vary():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(5000, 4, generator=g) * torch.tensor([1.0, 0.2, 0.05, 0.0])
    count, variance = active_units(mu)
    assert count == 2  # variances 1, 0.04 > 0.01; 0.0025 and 0 are not
    torch.testing.assert_close(variance, torch.tensor([1.0, 0.04, 0.0025, 0.0]), rtol=0.1, atol=1e-4)
