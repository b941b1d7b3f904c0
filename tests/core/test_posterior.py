"""The one grid posterior (``vae_core.vae.posterior``) against closed forms, tolerances stated."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vae_core import build_model, make_config
from vae_core.vae.objectives import mesh
from vae_core.vae.posterior import grid_kl, log_normal, posterior_over_training, posterior_view
from vae_core.views.estimate_figures import posterior_figure


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
    # log p(x) is summed on its own (coarser) window: the two sums agree to float32 decoding.
    assert abs(view.density.sum() * cell - 1) < 1e-5
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


@pytest.mark.parametrize("latent_dim", [1, 2])
def test_posterior_view_density_is_the_exact_posterior(linear_gaussian, latent_dim):
    model = linear_gaussian(6, latent_dim, s=0.5)
    x = model.sample_x(1)[0]
    view = posterior_view(model, x)
    mu, logvar = model.posterior(x[None])
    z = mesh([torch.from_numpy(a) for a in view.axes]).double()
    exact = Normal(mu[0], (0.5 * logvar[0]).exp()).log_prob(z).sum(-1).exp().reshape(view.density.shape)
    density = torch.from_numpy(view.density)
    assert view.density.shape == (121,) * latent_dim
    assert (density - exact).abs().max() < 1e-3 * exact.max()  # float32 decoding; the grid is far finer
    cell = np.prod([a[1] - a[0] for a in view.axes])
    # The picture's window holds the mass down to exp(-9) of the peak and q to 2.5 sigma.
    assert 0.999 < view.density.sum() * cell <= 1 + 1e-6
    assert abs(view.log_px - model.log_px(x[None]).item()) < 2e-3


def test_posterior_view_of_a_vae_is_a_normalized_density_and_a_figure():
    model = build_model(make_config("digits").model, seed=0).eval()
    x = torch.bernoulli(torch.rand(64), generator=torch.Generator().manual_seed(1))
    view = posterior_view(model, x, n=81)
    cell = (view.axes[0][1] - view.axes[0][0]) * (view.axes[1][1] - view.axes[1][0])
    assert view.density.shape == (81, 81) and view.density.sum() * cell == pytest.approx(1.0, abs=1e-3)
    fig = posterior_figure(list(view.axes), view.density, view.mu, view.logvar)
    assert [t.type for t in fig.data] == ["heatmap", "scatter", "scatter"]
