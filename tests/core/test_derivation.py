"""The derivation's numbers against closed forms (a linear-Gaussian VAE) and the existing estimators.

With p(x|z) = N(Wz + b, s^2 I), W's columns orthogonal (c_d = |W_d|), q = N(mu, diag(sigma^2)) and
z = mu + sigma * eps, both SGVB estimators are quadratics in eps, sum_d a_d eps_d^2 + l_d eps_d + const:
    log p(x|z):            a_d = -sigma_d^2 c_d^2 / (2 s^2),   l_d = sigma_d (W^T r0)_d / s^2,  r0 = x - b - W mu
    log p(z) - log q(z|x): a_d = (1 - sigma_d^2) / 2,           l_d = -mu_d sigma_d
so Var = sum_d 2 a_d^2 + l_d^2 (B: the first row alone; A: both rows added), and both means are the ELBO.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vae_core import build_model, make_config
from vae_core.vae.derivation import (
    bound_curve,
    expected_log_lik_quadrature,
    grouped_bounds,
    identity,
    log_mean_exp,
    log_weights,
    one_sample,
    sgvb_estimates,
)
from vae_core.vae.objectives import elbo_terms, gaussian_kl, log_px_importance, log_px_prior


def shifted(linear_gaussian, latent_dim: int, mu_shift: float, logvar_shift: float, x_dim: int = 6):
    model = linear_gaussian(x_dim, latent_dim)
    model.mu_shift += mu_shift
    model.logvar_shift += logvar_shift
    return model, model.sample_x(1)[0]


def closed_form(model, x: torch.Tensor) -> dict[str, float]:
    """Mean (the ELBO) and variance of estimators A and B for the linear-Gaussian model."""
    mu, logvar = (t.double() for t in model.encode(x[None]))
    mu, sigma = mu[0], (0.5 * logvar[0]).exp()
    c2 = (model.W**2).sum(0)
    r0 = x.double() - model.b - model.W @ mu
    a_rec, l_rec = -(sigma**2) * c2 / (2 * model.s**2), sigma * (model.W.T @ r0) / model.s**2
    a_kl, l_kl = 0.5 * (1 - sigma**2), -mu * sigma
    expected_rec = -0.5 * (r0 @ r0) / model.s**2 + a_rec.sum() - 0.5 * len(x) * math.log(2 * math.pi * model.s**2)
    kl = gaussian_kl(mu, 2 * sigma.log()).sum()
    return {
        "elbo": float(expected_rec - kl),
        "var_b": float((2 * a_rec**2 + l_rec**2).sum()),
        "var_a": float((2 * (a_rec + a_kl) ** 2 + (l_rec + l_kl) ** 2).sum()),
    }


def test_one_sample_is_the_recipe_line_by_line(linear_gaussian):
    model, x = shifted(linear_gaussian, 2, 0.3, -0.2)
    s = one_sample(model, x, torch.Generator().manual_seed(4))
    mu, logvar = (t[0] for t in model.encode(x[None]))
    q = Normal(mu, (0.5 * logvar).exp())
    np.testing.assert_allclose(s.z, s.mu + s.sigma * s.eps, rtol=1e-6)
    z = torch.from_numpy(s.z)
    assert s.log_q == pytest.approx(float(q.log_prob(z).sum()), abs=1e-4)
    assert s.log_pz == pytest.approx(float(Normal(0.0, 1.0).log_prob(z).sum()), abs=1e-5)
    assert s.log_px_z == pytest.approx(float(model.decode(z[None]).log_prob(x[None])[0]), abs=1e-4)
    assert s.kl == pytest.approx(float(kl_divergence(q, Normal(0.0, 1.0)).sum()), abs=1e-5)
    assert s.estimate_a == pytest.approx(s.log_px_z + s.log_pz - s.log_q)
    assert s.estimate_b == pytest.approx(s.log_px_z - s.kl)
    np.testing.assert_allclose(s.x_mean, model.decode(z[None]).mean[0].numpy(), rtol=1e-6)
    again = one_sample(model, x, torch.Generator().manual_seed(5))
    assert not np.allclose(again.eps, s.eps), "another draw, another eps"


def test_sgvb_a_and_b_agree_in_expectation_and_b_has_the_closed_form_lower_spread(linear_gaussian):
    model, x = shifted(linear_gaussian, 2, 1.5, 0.6)  # q far from the true posterior: A's KL noise dominates
    exact = closed_form(model, x)
    assert exact["var_b"] < exact["var_a"]
    a, b = sgvb_estimates(model, x, 40_000, torch.Generator().manual_seed(0))
    for name, values in (("a", a), ("b", b)):
        sem = values.std() / math.sqrt(len(values))
        assert abs(values.mean() - exact["elbo"]) < 4 * sem, name
        assert values.var() == pytest.approx(exact[f"var_{name}"], rel=0.05), name
    assert b.std() < a.std()


def test_with_q_the_exact_posterior_a_is_constant_and_equals_log_px(linear_gaussian):
    """Every log weight is log p(x) there: A has no spread at all, while B still has some."""
    model, x = shifted(linear_gaussian, 2, 0.0, 0.0)
    a, b = sgvb_estimates(model, x, 2000, torch.Generator().manual_seed(1))
    assert a.std() < 1e-4 and b.std() > 0.1
    assert a.mean() == pytest.approx(float(model.log_px(x[None])[0]), abs=1e-4)
    assert closed_form(model, x)["var_a"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("kind", ["linear-gaussian", "bernoulli-vae"])
def test_the_histograms_mean_and_log_mean_exp_are_the_estimators_on_the_same_draws(linear_gaussian, kind):
    if kind == "linear-gaussian":
        model, x = shifted(linear_gaussian, 3, 0.4, 0.3)
    else:
        config = make_config("digits", latent_dim=3)
        model, x = (
            build_model(config.model, 0),
            (torch.rand(64, generator=torch.Generator().manual_seed(2)) > 0.5).float(),
        )
    n, seed = 3000, 7
    log_w = log_weights(model, x, n, generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode():
        mc = elbo_terms(model, x[None], kl_estimator="mc", n_samples=n, generator=torch.Generator().manual_seed(seed))
    assert log_w.mean() == pytest.approx(float(mc.elbo[0]), abs=1e-4)
    importance = log_px_importance(model, x[None], n, generator=torch.Generator().manual_seed(seed))
    assert log_mean_exp(log_w) == pytest.approx(float(importance[0]), abs=1e-4)
    prior = log_weights(model, x, n, prior=True, generator=torch.Generator().manual_seed(seed))
    naive = log_px_prior(model, x[None], n, generator=torch.Generator().manual_seed(seed))
    assert log_mean_exp(prior) == pytest.approx(float(naive[0]), abs=1e-4)
    assert log_w.mean() <= log_mean_exp(log_w)  # Jensen, on any set of numbers


def test_grouped_bounds_climb_with_nested_groups():
    """Groups of 10 are unions of groups of 1 (and so on): by Jensen within each, the mean L_k can only rise."""
    log_w = np.random.default_rng(0).normal(-20, 2, 5000)
    np.testing.assert_allclose(grouped_bounds(log_w, 1), log_w)
    assert grouped_bounds(log_w, 5000) == pytest.approx([log_mean_exp(log_w)])
    assert len(grouped_bounds(log_w, 300)) == 16
    curve = bound_curve(log_w, [1, 10, 100, 1000, 5000])
    assert np.all(np.diff(curve) > 0)
    assert curve[0] == pytest.approx(log_w.mean())
    # For log-normal weights E[w] = exp(m + v / 2): the last point approaches it (2 nats above the mean).
    assert curve[-1] == pytest.approx(-20 + 2.0, abs=0.3)
    with pytest.raises(ValueError):
        grouped_bounds(log_w[:5], 10)


@pytest.mark.parametrize("latent_dim", [1, 2])
def test_the_identity_on_a_grid_against_the_closed_forms(linear_gaussian, latent_dim):
    model, x = shifted(linear_gaussian, latent_dim, 0.4, 0.5)
    ident = identity(model, x)
    exact = closed_form(model, x)
    assert ident.exact and ident.source == "quadrature"
    assert ident.log_px == pytest.approx(float(model.log_px(x[None])[0]), abs=2e-3)
    assert ident.elbo == pytest.approx(exact["elbo"], abs=1e-4)
    mu, logvar = (t[0].double() for t in model.encode(x[None]))
    post_mu, post_logvar = (t[0] for t in model.posterior(x[None]))
    q, p = Normal(mu, (0.5 * logvar).exp()), Normal(post_mu, (0.5 * post_logvar).exp())
    assert ident.kl == pytest.approx(float(kl_divergence(q, p).sum()), abs=2e-3)
    assert abs(ident.residual) < 5e-3  # what the page checks, to its two decimals


def test_gauss_hermite_is_exact_for_a_quadratic_log_likelihood(linear_gaussian):
    model, x = shifted(linear_gaussian, 2, -0.7, 0.2)
    kl = float(gaussian_kl(*model.encode(x[None])).sum())
    assert expected_log_lik_quadrature(model, x) - kl == pytest.approx(closed_form(model, x)["elbo"], abs=1e-4)


def test_above_two_dimensions_the_identity_reads_log_px_as_l_n(linear_gaussian):
    model, x = shifted(linear_gaussian, 3, 0.0, 0.0)  # q exact: L_n is log p(x) and the KL is 0
    ident = identity(model, x, samples=2000)
    assert not ident.exact and ident.source == "L_2000"
    assert ident.log_px == pytest.approx(float(model.log_px(x[None])[0]), abs=1e-3)
    assert ident.kl == pytest.approx(0.0, abs=0.05) and ident.residual == pytest.approx(0.0, abs=1e-9)
    worse, x = shifted(linear_gaussian, 3, 0.8, 0.4)
    assert identity(worse, x, samples=2000).kl > 0.1  # L_n - ELBO > 0 when q is off
