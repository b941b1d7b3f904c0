"""The two gradient estimators and the variance study against closed forms, tolerances stated."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vae_core import make_config
from vae_core.vae.gradients import GaussianToy, elbo_gradient_samples, gradient_studies, study
from vae_core.vae.model import build_model


def test_gradient_estimators_agree_with_the_exact_gradient(linear_gaussian):
    model = linear_gaussian(6, 2, s=0.7)
    x = model.sample_x(1)[0]
    mu = torch.tensor([0.3, -0.5])
    logvar = torch.tensor([-1.0, 0.2])
    exact = model.expected_recon_grad(x, mu, logvar).float()
    g = torch.Generator().manual_seed(0)
    n = 200_000
    for estimator in ("reparam", "score"):
        samples = elbo_gradient_samples(model, x, mu, logvar, n, estimator, generator=g)
        assert samples.shape == (n, 4)
        stderr = samples.std(0) / n**0.5
        # 5 standard errors (plus float slack): fails with probability ~ 1e-6 per component.
        assert ((samples.mean(0) - exact).abs() <= 5 * stderr + 1e-4).all(), (estimator, samples.mean(0), exact)
    reparam = elbo_gradient_samples(model, x, mu, logvar, 20_000, "reparam", generator=g).var(0)
    score = elbo_gradient_samples(model, x, mu, logvar, 20_000, "score", generator=g).var(0)
    assert (reparam < score).all(), (reparam, score)


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
