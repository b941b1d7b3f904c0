"""The posterior view and the gradient-variance study against closed forms, tolerances stated."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vae_core import make_config
from vae_core.estimators import (
    GaussianToy,
    gradient_studies,
    grid_kl,
    log_normal,
    posterior_over_training,
    posterior_view,
    study,
)
from vae_core.model import build_model


def _gaussian_kl(mu_q, var_q, mu_p, var_p) -> float:
    q, p = (
        Normal(torch.tensor(mu_q), torch.tensor(var_q).sqrt()),
        Normal(torch.tensor(mu_p), torch.tensor(var_p).sqrt()),
    )
    return kl_divergence(q, p).sum().item()


def test_grid_kl_of_two_gaussians_matches_the_closed_form():
    mu_q, var_q = [0.3, -0.2], [0.25, 0.64]
    mu_p, var_p = [-0.1, 0.4], [0.5, 0.36]
    axis = torch.linspace(-6, 6, 601, dtype=torch.float64)
    z = torch.stack([a.reshape(-1) for a in torch.meshgrid(axis, axis, indexing="ij")], -1)
    log_q = log_normal(z, torch.tensor(mu_q, dtype=torch.float64), torch.tensor(var_q, dtype=torch.float64).log())
    log_p = log_normal(z, torch.tensor(mu_p, dtype=torch.float64), torch.tensor(var_p, dtype=torch.float64).log())
    log_cell = 2 * math.log((axis[1] - axis[0]).item())
    exact = _gaussian_kl(mu_q, var_q, mu_p, var_p)
    assert exact > 0.5  # a real difference, not a trivially small one
    assert abs(grid_kl(log_q, log_p, log_cell) - exact) < 1e-6  # step 0.02: the midpoint error is far below
    assert abs(grid_kl(log_q, log_q, log_cell)) < 1e-12


@pytest.mark.parametrize(("shift", "scale"), [((0.0, 0.0), (0.0, 0.0)), ((0.4, -0.3), (0.8, -0.6))])
def test_posterior_view_gives_the_exact_kl_and_log_px(linear_gaussian, shift, scale):
    model = linear_gaussian(8, 2)
    model.mu_shift += torch.tensor(shift, dtype=torch.float64)
    model.logvar_shift += torch.tensor(scale, dtype=torch.float64)
    x = model.sample_x(3)[1]
    view = posterior_view(model, x)
    true_mu, true_logvar = (t[0] for t in model.posterior(x[None]))
    exact = _gaussian_kl(view.mu.tolist(), np.exp(view.logvar).tolist(), true_mu.tolist(), true_logvar.exp().tolist())
    # Float32 decoding limits both to ~1e-4 nats; the grid itself is far finer.
    assert abs(view.kl - exact) < 2e-3, (view.kl, exact)
    assert abs(view.log_px - model.log_px(x[None]).item()) < 2e-3
    assert view.log_post.shape == (121, 121)
    cell = np.prod([a[1] - a[0] for a in view.axes])
    assert abs(view.density.sum() * cell - 1) < 1e-6
    peak = np.unravel_index(view.log_post.argmax(), view.log_post.shape)
    peak_z = np.array([view.axes[0][peak[0]], view.axes[1][peak[1]]])
    assert np.abs(peak_z - true_mu.numpy()).max() < 0.1  # the window's peak is the true posterior mean
    if shift == (0.0, 0.0):
        assert abs(view.kl) < 2e-3  # q is the exact posterior


def test_posterior_view_refuses_other_dimensions(linear_gaussian):
    model = linear_gaussian(6, 3)
    with pytest.raises(ValueError, match="2-D latent"):
        posterior_view(model, model.sample_x(1)[0])


def test_posterior_over_training_runs_on_real_checkpoint_weights():
    config = make_config("digits", epochs=2)
    model = build_model(config.model, 0)
    x = torch.rand(64)
    views = posterior_over_training(lambda e: model, [0, 2], x, n=41)
    assert sorted(views) == [0, 2]
    assert all(v.kl >= -1e-3 and math.isfinite(v.log_px) for v in views.values())


def test_study_variance_of_the_mean_falls_like_one_over_n():
    g = torch.Generator().manual_seed(0)
    samples = torch.randn(200 * 100, 3, generator=g, dtype=torch.float64) * torch.tensor([1.0, 2.0, 0.5])
    s = study(samples, [1, 10, 100], repeats=200)
    expected = np.array([1.0, 4.0, 0.25])
    for n, measured in zip(s.ns, s.var_of_mean, strict=True):
        # 200 repeats: the sample variance has a relative std of sqrt(2/199) = 0.1; allow 4 of them.
        np.testing.assert_allclose(measured, expected / n, rtol=0.4)
    np.testing.assert_allclose(s.per_sample_var, expected, rtol=0.05)
    np.testing.assert_allclose(s.sem, np.sqrt(expected / len(samples)), rtol=0.05)
    with pytest.raises(ValueError):
        study(samples[:10], [1, 10], repeats=5)


@pytest.mark.parametrize(("mu", "logvar"), [(0.0, 0.0), (1.5, -1.0), (-0.5, 0.7)])
def test_toy_estimators_agree_with_the_exact_gradient(mu, logvar):
    toy = GaussianToy(x=2.0, s=0.7)
    exact = toy.exact_gradient(mu, logvar)
    studies = toy.studies(mu, logvar, [1, 10, 100], repeats=400)
    for name, s in studies.items():
        # 40,000 draws each: 5 standard errors fail with probability ~ 1e-6 per coordinate.
        assert (np.abs(s.mean - exact) <= 5 * s.sem + 1e-6).all(), (name, s.mean, exact)
    np.testing.assert_allclose(studies["reparam"].per_sample_var, toy.reparam_variance(mu, logvar), rtol=0.05)
    assert (studies["score"].per_sample_var > studies["reparam"].per_sample_var).all()


def test_toy_exact_gradient_is_the_derivative_of_the_closed_form_elbo():
    toy = GaussianToy(x=-1.0, s=1.3)

    def elbo(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        var = logvar.exp()
        recon = -0.5 * math.log(2 * math.pi * toy.s**2) - ((toy.x - mu) ** 2 + var) / (2 * toy.s**2)
        return recon - 0.5 * (mu**2 + var - 1 - logvar)

    mu, logvar = torch.tensor(0.4, requires_grad=True), torch.tensor(-0.3, requires_grad=True)
    grads = torch.autograd.grad(elbo(mu, logvar), (mu, logvar))
    np.testing.assert_allclose(toy.exact_gradient(0.4, -0.3), [g.item() for g in grads], rtol=1e-6)
    # At the exact posterior (what toy.encode returns) the ELBO is at its maximum: zero gradient.
    post_mu, post_logvar = (t.item() for t in toy.encode(toy.x_tensor))
    np.testing.assert_allclose(toy.exact_gradient(post_mu, post_logvar), [0.0, 0.0], atol=1e-6)  # float32 encode


def test_gradient_studies_on_a_vae_have_agreeing_means():
    config = make_config("digits", epochs=1)
    model = build_model(config.model, 0)
    x = (torch.rand(64, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    studies = gradient_studies(model, x, [1, 10, 100], repeats=100)
    score, reparam = studies["score"], studies["reparam"]
    assert score.mean.shape == (4,)
    both = np.sqrt(score.sem**2 + reparam.sem**2)
    assert (np.abs(score.mean - reparam.mean) <= 5 * both).all(), (score.mean, reparam.mean, both)
    assert score.total(score.var_of_mean)[0] > 10 * reparam.total(reparam.var_of_mean)[0]
