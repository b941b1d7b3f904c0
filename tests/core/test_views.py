"""The arrays behind the app's figures, and the figures' structure."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vae_core import build_model, make_config
from vae_core.vae.evaluate import estimate_curve
from vae_core.vae.train import EpochInfo, StepInfo
from vae_core.views.arrays import as_images, decode_at, interpolate, manifold, prior_quantiles, prior_samples, tile
from vae_core.views.estimate_figures import log_k_figure
from vae_core.views.latent_figures import latent_scatter
from vae_core.views.projection import project
from vae_core.views.training_figures import kl_bars, training_curves


@pytest.fixture(scope="module")
def model():
    return build_model(make_config("digits").model, seed=0).eval()


class Identity2D:
    """A 'decoder' whose mean is z itself: easy to read what a grid decodes to."""

    latent_dim = 2

    def mean(self, z):
        return z.clone()


def test_tile_is_sharp_and_laid_out_in_rows():
    images = np.zeros((5, 2, 2))
    images[1] = 1.0  # the second image is all ink
    out = tile(images, ncols=3, pad=1, min_size=4)
    assert out.shape == (2 * 4 + 1, 3 * 4 + 2) and out.dtype == np.uint8
    assert (out[:4, 5:9] == 0).all() and (out[:4, :4] == 255).all()  # ink is black, paper white
    assert as_images(torch.zeros(3, 64), (8, 8)).shape == (3, 8, 8)


def test_prior_quantiles_are_symmetric_and_sorted():
    q = prior_quantiles(7)
    assert torch.allclose(q, -q.flip(0), atol=1e-6) and q[3] == 0 and (q.diff() > 0).all()


def test_manifold_reads_like_a_scatter_plot():
    grid = manifold(Identity2D(), 3, [0, 1], torch.zeros(2))  # (9, 2) = z itself
    q = prior_quantiles(3)
    assert torch.allclose(grid[0], torch.stack([q[0], q[2]]))  # top left: smallest z1, largest z2
    assert torch.allclose(grid[2], torch.stack([q[2], q[2]]))
    assert torch.allclose(grid[6], torch.stack([q[0], q[0]]))
    held = manifold(Identity2D(), 3, [1], torch.tensor([5.0, 0.0]))
    assert (held[:, 0] == 5).all() and torch.allclose(held[:, 1], q)


def test_decode_at_and_interpolate_and_prior_samples(model):
    base = torch.tensor([0.5, -0.5])
    assert torch.allclose(decode_at(Identity2D(), base, [1], [2.0]), torch.tensor([0.5, 2.0]))
    x = torch.rand(2, 64)
    strip = interpolate(model, x[0], x[1], 5)
    with torch.inference_mode():
        assert torch.allclose(strip[0], model(x[:1])[0], atol=1e-6) and torch.allclose(strip[-1], model(x[1:])[0])
    samples = prior_samples(model, 6, seed=3)
    assert samples.shape == (6, 64) and torch.equal(samples, prior_samples(model, 6, seed=3))


def test_estimate_curve_has_one_column_per_repeat(model):
    x = torch.bernoulli(torch.rand(3, 64), generator=torch.Generator().manual_seed(0))
    seen = []
    curve = estimate_curve(model, x, [1, 10, 100], 3, on_progress=seen.append)
    assert curve.shape == (3, 3) and seen[-1] == pytest.approx(1.0)
    assert curve[2].std() < curve[0].std()  # more samples, less spread
    assert len(set(curve[0])) == 3, "each repeat draws fresh samples"
    assert np.array_equal(curve, estimate_curve(model, x, [1, 10, 100], 3)), "and repeats exactly"
    naive = estimate_curve(model, x, [1, 10], 2, sampler="prior")
    assert naive.shape == (2, 2)


def test_one_scattergl_trace_with_row_indices():
    fig = latent_scatter(np.arange(5.0), np.zeros(5), np.array([0, 1, 2, 1, 0]), ["a", "b", "c"], marker=(1, 2))
    assert [t.type for t in fig.data] == ["scattergl", "scatter"]
    assert list(fig.data[0].customdata) == [0, 1, 2, 3, 4] and list(fig.data[1].x) == [1]
    svg = latent_scatter(np.arange(5.0), np.zeros(5), np.array([0, 1, 2, 1, 0]), ["a", "b", "c"], gl=False)
    assert [t.type for t in svg.data] == ["scatter"] and list(svg.data[0].customdata) == [0, 1, 2, 3, 4]


def test_long_runs_are_thinned_to_fixed_steps():
    """At most max_points per batch curve, every 2**j-th step: points already drawn stay put."""
    steps = [StepInfo(s, 0, 1.0, -float(s), 1.0, -float(s) - 1, float(s) + 1, 5000) for s in range(1, 5001)]
    recon = lambda fig: next(t for t in fig.data if t.name == "recon (batch)")  # noqa: E731
    short, long = recon(training_curves(steps[:900], [])), recon(training_curves(steps, []))
    assert list(short.x) == list(range(1, 901))  # nothing dropped below max_points
    assert len(long.x) <= 1000 and list(long.x[:3]) == [1, 9, 17]  # stride 8 for 5000 steps
    assert list(long.y[:3]) == [-1.0, -9.0, -17.0]  # the y values of those very steps
    earlier = set(recon(training_curves(steps[:4000], [])).x)  # stride 4 then
    assert earlier >= {x for x in long.x if x <= 4000}  # a stride that doubles keeps every other point


def test_training_curves_and_kl_bars_and_log_k():
    steps = [StepInfo(s, 0, 2.0, -30.0 + s, 3.0, -33.0 + s, 36.0, 4) for s in range(1, 5)]
    epochs = [EpochInfo(1, 4, 0.1, -27, 3, -30, -28, 3, -31, [2.9, 0.001], 1, 1)]
    fig = training_curves(steps, epochs)
    beta_kl = next(t for t in fig.data if t.name.startswith("β·KL"))
    assert list(beta_kl.y) == [6.0] * 4  # beta-weighted
    assert len(fig.data) == 4 + 6
    bars = kl_bars([2.9, 0.001], 1)
    assert "1 of 2 units active" in bars.layout.title.text
    assert bars.data[0].marker.color[0] != bars.data[0].marker.color[1]
    logk = log_k_figure([1, 10], np.array([[-30.0, -31.0], [-29.0, -29.5]]), elbo=-31, quadrature=-28.9)
    assert logk.layout.xaxis.type == "log"


@pytest.mark.parametrize("method", ["PCA", "t-SNE"])
def test_project_subsamples_and_returns_two_columns(method):
    mu = np.random.default_rng(0).normal(size=(120, 5))
    idx, xy = project(mu, method, max_points=50)
    assert xy.shape == (50, 2) and len(set(idx)) == 50 and (np.diff(idx) > 0).all()
