"""The arrays behind the app's figures, and the figures' structure."""

from __future__ import annotations

import base64

import numpy as np
import pytest
import torch

from vae_core import build_model, make_config
from vae_core.vae.evaluate import estimate_curve
from vae_core.vae.posterior import PosteriorView
from vae_core.vae.train import EpochInfo, StepInfo
from vae_core.views.arrays import (
    app_icon,
    as_images,
    decode_at,
    interpolate,
    manifold,
    manifold_codes,
    prior_quantiles,
    prior_samples,
    tile,
)
from vae_core.views.estimate_figures import log_k_figure, posterior_figure, posterior_multiples
from vae_core.views.latent_figures import (
    PICTURE_SIDE,
    codes_payload,
    codes_picture,
    latent_limit,
    latent_scatter,
    manifold_figure,
)
from vae_core.views.pad import decode_f32
from vae_core.views.projection import project
from vae_core.views.style import PALETTE, enlarged
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


def test_one_trace_per_class_with_row_indices_and_a_legend_that_isolates():
    labels = np.array([0, 1, 2, 1, 0])
    fig = latent_scatter(np.arange(5.0), np.zeros(5), labels, ["a", "b", "c"], marker=(1, 2))
    codes = [t for t in fig.data if t.customdata is not None]
    assert [t.name for t in codes] == ["a", "b", "c"] and {t.type for t in codes} == {"scattergl"}
    assert sorted(r for t in codes for r in t.customdata) == [0, 1, 2, 3, 4]  # a click names its row
    assert list(codes[1].customdata) == [1, 3] and list(codes[1].x) == [1.0, 3.0]
    assert [t.marker.color for t in codes] == list(PALETTE[:3])
    assert fig.layout.legend.itemclick == "toggleothers", "a legend click shows that class alone"
    svg = latent_scatter(np.arange(5.0), np.zeros(5), labels, ["a", "b", "c"], gl=False)
    assert {t.type for t in svg.data} == {"scatter"}


def test_the_own_image_marker_is_drawn_on_top_large_and_outlined():
    """Among 10,000 WebGL points an SVG marker hides under the WebGL layer: same kind, last, big."""
    labels = np.arange(10_000) % 10
    xy = np.random.default_rng(0).normal(size=(2, 10_000))
    fig = latent_scatter(xy[0], xy[1], labels, [str(c) for c in range(10)], marker=(0.0, 0.0))
    mark, codes = fig.data[-1], fig.data[0]
    assert mark.type == codes.type == "scattergl", "the marker in the codes' layer, drawn after them"
    assert mark.marker.size >= 2.5 * codes.marker.size
    assert mark.marker.line.width >= 1 and mark.marker.line.color != mark.marker.color  # an outline
    assert mark.name == "your image"
    layers = [t.name for t in fig.data[:-1]]  # many codes: the classes in interleaved layers
    assert layers == [str(c) for c in range(10)] * 5, "no class is drawn wholly over another"
    assert [t.name for t in fig.data if t.showlegend is not False] == [*layers[:10], "your image"]


def test_the_latent_plane_is_drawn_on_the_priors_scale():
    """A collapsed model's codes (all within ±0.1) are drawn at the prior's ±3, with its circles."""
    tiny = np.random.default_rng(0).normal(scale=0.03, size=(2, 300))
    assert latent_limit(tiny) == 3.0 and latent_limit(np.array([-4.2, 1.0])) == 5.0
    fig = latent_scatter(tiny[0], tiny[1], np.zeros(300, int), ["a"], lim=latent_limit(tiny), prior=True)
    assert list(fig.layout.xaxis.range) == [-3, 3] and list(fig.layout.yaxis.range) == [-3, 3]
    rings = [t for t in fig.data if t.legendgroup == "prior"]
    assert [round(max(t.x), 3) for t in rings] == [1, 2, 3]
    one_d = latent_scatter(tiny[0], tiny[1], np.zeros(300, int), ["a"], lim=3.0, one_d=True)
    assert list(one_d.layout.xaxis.range) == [-3, 3] and one_d.layout.yaxis.range is None


def test_the_codes_charts_payload_is_the_scatters_codes_in_one_shuffled_order():
    """The canvas chart of the Latent page draws what ``latent_scatter`` draws: each row's code, its
    class's colour, the same ranges; in one fixed shuffle (no class wholly over another)."""
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, 3000)
    xy = rng.normal(size=(2, 3000))
    names = [str(c) for c in range(10)]
    fig = latent_scatter(xy[0], xy[1], labels, names, lim=3.0, prior=True, picked=5)
    payload = codes_payload(xy[0], xy[1], labels, names, lim=3.0, prior=True, picked=5)
    rows = np.frombuffer(base64.b64decode(payload["rows"]), dtype="<u4")
    drawn = decode_f32(payload["xy"], (len(rows), 2))
    colour = np.frombuffer(base64.b64decode(payload["labels"]), dtype=np.uint8)
    assert sorted(rows) == list(range(3000)) and list(rows[:20]) != sorted(rows[:20])  # every row, shuffled
    for trace in (t for t in fig.data if t.customdata is not None):
        order = np.argsort(rows)[trace.customdata]  # where each of the trace's rows is drawn
        np.testing.assert_allclose(drawn[order], np.stack([trace.x, trace.y], 1), atol=1e-6)  # float32
        assert {payload["classes"][c][1] for c in colour[order]} == {trace.marker.color}
        assert {payload["classes"][c][0] for c in colour[order]} == {trace.name}
    assert payload["x_range"] == list(fig.layout.xaxis.range) and payload["y_range"] == list(fig.layout.yaxis.range)
    assert payload["square"] and payload["prior"] and payload["picked"] == 5
    sub = codes_payload(xy[0, :4], xy[1, :4], labels[:4], names, rows=np.array([7, 9, 11, 40]))
    assert sorted(np.frombuffer(base64.b64decode(sub["rows"]), dtype="<u4")) == [7, 9, 11, 40]  # test-set rows
    assert sub["x_range"] is None and not sub["square"]  # no lim: the data's own extent
    mine = codes_payload(xy[0], xy[1], labels, names, lim=3.0, marker=(0.5, -1.0))
    assert mine["marker"] == [0.5, -1.0] and mine["marker_name"] == "your image"
    assert mine["codes_id"] == payload["codes_id"], "the same codes: the chart keeps its zoom"
    moved = codes_payload(xy[0] + 1e-3, xy[1], labels, names, lim=3.0)
    assert moved["codes_id"] != payload["codes_id"], "other codes (a PCA with another image): drawn afresh"
    assert moved["view_id"] == moved["codes_id"] != payload["view_id"], "by default other codes: another chart"
    frame = codes_payload(xy[0] + 1e-3, xy[1], labels, names, lim=3.0, view_id="run-1")
    assert frame["codes_id"] == moved["codes_id"] and frame["view_id"] == "run-1", "one run's moments: one chart"
    one_d = codes_payload(xy[0], xy[1], labels, names, lim=3.0, one_d=True)
    assert one_d["x_range"] == [-3.0, 3.0] and one_d["y_range"] is None and not one_d["square"]


def test_the_manifold_tiles_carry_their_z_on_hover():
    images = np.random.default_rng(0).uniform(size=(9, 8, 8))
    codes = manifold_codes(3, 2).numpy()
    fig = manifold_figure(images, codes, ["z1", "z2"], min_size=16)
    picture, points = fig.data
    assert picture.type == "image" and picture.source.startswith("data:image/png;base64,")
    assert np.allclose(np.asarray(points.customdata), codes) and "z2 = %{customdata[1]" in points.hovertemplate
    assert list(points.x[:3]) == [8, 25, 42] and list(points.y[::3]) == [8, 25, 42]  # tile centres, 16-px tiles
    assert torch.allclose(manifold(Identity2D(), 3, [0, 1], torch.zeros(2)), torch.from_numpy(codes))


def test_enlarged_scales_what_a_class_must_see():
    fig = latent_scatter(np.arange(5.0), np.zeros(5), np.array([0, 1, 2, 1, 0]), ["a", "b", "c"], marker=(1, 2))
    before = [t.marker.size for t in fig.data]
    enlarged(fig, 2.0)
    assert [t.marker.size for t in fig.data] == [2 * s for s in before]
    assert fig.layout.height == 920 and fig.layout.font.size == 18
    assert fig.data[-1].marker.line.width == 4


def test_long_runs_are_thinned_to_fixed_steps():
    """At most max_points per batch curve, every 2**j-th step: points already drawn stay put."""
    steps = [StepInfo(s, 0, 1.0, -float(s), 1.0, -float(s) - 1, float(s) + 1, 5000) for s in range(1, 5001)]
    recon = lambda fig: next(t for t in fig.data if t.meta == "recon (batch)")  # noqa: E731
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
    beta_kl = next(t for t in fig.data if t.meta.startswith("β·KL"))
    assert list(beta_kl.y) == [6.0] * 4  # beta-weighted
    assert len(fig.data) == 4 + 6
    shown = [t.name for t in fig.data if t.showlegend]  # the subplot titles name the panels, not the legend
    assert shown == ["each training batch", "β·KL (batch, in the loss)", "train set, per epoch", "test set, per epoch"]
    test = [t for t in fig.data if t.legendgroup == "test set, per epoch"]
    assert [t.yaxis for t in test] == ["y", "y2", "y3"], "one legend entry toggles all three panels"
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


def test_the_bound_has_its_own_panel_at_the_scale_of_the_gap():
    """MNIST-like numbers: the bound within 4 nats, the naive estimate 80 nats lower at k = 1."""
    ks = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000]
    rise = np.linspace(0, 2.5, len(ks))[:, None]
    importance = -153.0 + rise + np.random.default_rng(0).normal(scale=0.05, size=(len(ks), 3))  # (K, R)
    prior = np.linspace(-230.0, -151.0, len(ks))[:, None] + np.zeros((1, 3))
    fig = log_k_figure(ks, importance, elbo=-153.1, prior=prior, quadrature=-149.3)
    lo, hi = fig.layout.yaxis.range
    assert lo > -160 and hi < -145 and hi - lo < 3 * 3.8, "the gap ELBO → log p(x) fills the panel"
    naive = next(t for t in fig.data if t.name == "naive estimate (z ~ prior)")
    assert naive.xaxis == "x2" and fig.layout.yaxis2.range is None  # beside it, on its own scale
    bound = {t.name for t in fig.data if t.xaxis in (None, "x")}
    assert {"importance-sampled L_k (z ~ q)", "ELBO", "log p(x) by quadrature"} <= bound
    assert list(fig.layout.xaxis.tickvals) == [1, 10, 100, 1000, 5000]
    assert list(fig.layout.xaxis.ticktext) == ["1", "10", "100", "1000", "5000"]
    assert not fig.layout.annotations, "line labels are legend entries, not text under the toolbar"
    alone = log_k_figure(ks[:4], importance[:4], elbo=-153.1)
    assert list(alone.layout.xaxis.tickvals) == [1, 10]


def _view(scale: float, kl: float) -> PosteriorView:
    axis = np.linspace(-3 * scale, 3 * scale, 21)
    log_post = -0.5 * (axis[:, None] ** 2 + axis[None, :] ** 2) / scale**2
    return PosteriorView((axis, axis), log_post, np.zeros(2), np.full(2, 2 * np.log(scale)), kl, -20.0)


def test_the_posterior_legend_sits_on_the_page_background():
    """Inside the plot a light legend box lay on the heatmap's white: white on white in a dark theme."""
    v = _view(1.0, 0.5)
    fig = posterior_figure(list(v.axes), v.density, v.mu, v.logvar)
    legend = fig.layout.legend
    assert legend.y < 0 and legend.yanchor == "top", "under the plot area"
    assert legend.bgcolor in (None, "rgba(0,0,0,0)"), "no fixed light box"
    assert fig.data[0].colorbar.title.side == "right"


def test_the_small_multiples_share_their_axes():
    views = {0: _view(1.0, 5.0), 10: _view(0.3, 1.0), 50: _view(0.1, 0.2)}
    fig = posterior_multiples(views)
    xs = [fig.layout[f"xaxis{i if i > 1 else ''}"] for i in (1, 2, 3)]
    assert all(list(a.range) == [-3.0, 3.0] for a in xs), "the widest window, for every epoch"
    assert {a.matches for a in xs[1:]} == {"x"}
    assert all(note.y == 0 and note.yanchor == "top" for note in fig.layout.annotations), "titles under the panels"


def test_the_app_icon_is_a_picture():
    icon = app_icon()
    assert icon.shape == (64, 64, 4) and icon.dtype == np.uint8 and icon[..., 3].max() == 255


def test_the_codes_picture_puts_each_code_at_its_place_in_its_colour():
    lim, side = 3.0, PICTURE_SIDE  # 640 px: z = 0 at pixel 320, one pixel is 6/640 of a unit
    x, y = np.array([0.0, -2.99, 2.5, 2.5, 9.0]), np.array([0.0, 2.99, -1.0, -1.0, 0.0])
    colour_of = np.array([0, 1, 0, 1, 0])
    picture = codes_picture(x, y, colour_of, ["#0072B2", "#D55E00"], lim, side=side)
    assert picture.shape == (side, side, 4) and picture.dtype == np.uint8
    assert list(picture[320, 320]) == [0x00, 0x72, 0xB2, 204], "z = (0, 0) in the middle, 80% opaque"
    assert list(picture[1, 1]) == [0xD5, 0x5E, 0x00, 204], "z = (-2.99, 2.99): top left (the top row is +lim)"
    spot = picture[int((lim + 1.0) / (2 * lim) * side), int((lim + 2.5) / (2 * lim) * side)]
    assert spot[:3].tolist() in ([0x00, 0x72, 0xB2], [0xD5, 0x5E, 0x00]), "two codes on one spot: one of them"
    assert picture[320, side - 1, 3] == 0 and picture[side - 1, 320, 3] == 0, "transparent elsewhere; off-plane dropped"
    across = np.flatnonzero(picture[320, 300:340, 3]) + 300
    assert (across.min(), across.max()) == (315, 325), "a disc of DISC_RADIUS (5.5 px) around its pixel"
