"""Plotly figures for the app's pages, and the arrays behind them.

The arrays (decoded grids over the prior's quantiles, interpolations, prior samples, repeated
log p(x) estimates, the true posterior on a window around q(z|x), 2-D projections of codes)
are computed here so that they can be tested without a browser; the pages only draw them.
All numbers are nats per example. Images are the decoder's mean E[x|z] (pixel probabilities).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any, Literal

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from vae_core.objectives import default_grid, log_px_importance, log_px_prior, log_standard_normal, pairwise_log_lik

PALETTE = qualitative.T10
COLLAPSED = "#bbbbbb"
GUTTER = 0.2  # light grey lines between tiled images

# -- arrays ---------------------------------------------------------------------------------


def as_images(x: torch.Tensor | np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(N, H*W) or (H*W,) pixel vectors -> (N, H, W) float array."""
    x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    return x.reshape(-1, *shape)


def tile(images: np.ndarray, ncols: int, *, pad: int = 1, min_size: int = 56) -> np.ndarray:
    """Images (N, H, W) in [0, 1] -> one uint8 picture, ``ncols`` a row, each image scaled up
    by a whole factor (nearest neighbour, so pixels stay sharp) to at least ``min_size``."""
    n, h, w = images.shape
    s = max(1, math.ceil(min_size / max(h, w)))
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    big = np.kron(np.clip(images, 0, 1), np.ones((1, s, s)))  # (N, hs, ws)
    out = np.full((nrows * (h * s + pad) - pad, ncols * (w * s + pad) - pad), GUTTER)
    for i, img in enumerate(big):
        r, c = divmod(i, ncols)
        out[r * (h * s + pad) : r * (h * s + pad) + h * s, c * (w * s + pad) : c * (w * s + pad) + w * s] = img
    return (255 * (1 - out)).round().astype(np.uint8)  # ink is dark on white paper


def prior_quantiles(n: int) -> torch.Tensor:
    """n points of N(0, 1) at the quantiles (i + 1/2) / n, ascending: (n,)."""
    return torch.distributions.Normal(0.0, 1.0).icdf((torch.arange(n) + 0.5) / n)


@torch.inference_mode()
def decode_at(model: Any, base: torch.Tensor, dims: Sequence[int], values: Sequence[float]) -> torch.Tensor:
    """E[x|z] at z = base with z[dims] = values: base (D,) -> (x_dim,)."""
    z = base.clone().float()
    z[list(dims)] = torch.tensor(values, dtype=torch.float32)
    return model.mean(z)


@torch.inference_mode()
def manifold(model: Any, n: int, dims: Sequence[int], base: torch.Tensor) -> torch.Tensor:
    """Decoded means over an n (x n) grid of prior quantiles in ``dims``, others at ``base``.

    Two dims: (n*n, x_dim) in reading order, z1 rising to the right and z2 rising upwards
    (row 0 is the largest z2), so the picture matches a scatter of the codes. One dim: (n, x_dim).
    """
    q = prior_quantiles(n)
    if len(dims) == 1:
        z = base.repeat(n, 1)
        z[:, dims[0]] = q
    else:
        z2, z1 = torch.meshgrid(q.flip(0), q, indexing="ij")
        z = base.repeat(n * n, 1)
        z[:, dims[0]], z[:, dims[1]] = z1.reshape(-1), z2.reshape(-1)
    return model.mean(z)


@torch.inference_mode()
def interpolate(model: Any, x_a: torch.Tensor, x_b: torch.Tensor, n: int) -> torch.Tensor:
    """Decoded means along the straight line between the codes mu(x_a) and mu(x_b): (n, x_dim)."""
    mu = model.encode(torch.stack([x_a, x_b]))[0]  # (2, D)
    t = torch.linspace(0, 1, n)[:, None]
    return model.mean((1 - t) * mu[0] + t * mu[1])


@torch.inference_mode()
def prior_samples(model: Any, n: int, seed: int) -> torch.Tensor:
    """z ~ p(z), then E[x|z] for images (Bernoulli) or x ~ p(x|z) for points: (n, x_dim)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn((n, model.latent_dim), generator=g)
    if model.config.likelihood == "bernoulli":
        return model.mean(z)
    mean, std = model.mean(z), model.decoder_std()
    return mean + std * torch.randn(mean.shape, generator=g)


def estimate_curve(
    model: Any,
    x: torch.Tensor,
    ks: Sequence[int],
    repeats: int,
    *,
    sampler: Literal["importance", "prior"] = "importance",
    seed: int = 0,
    on_progress: Callable[[float], None] | None = None,
) -> np.ndarray:
    """The mean over x (N, x_dim) of the k-sample estimate of log p(x), for each k and repeat:
    (len(ks), repeats). ``importance`` draws z ~ q(z|x) (L_k); ``prior`` draws z ~ p(z)."""
    estimator = log_px_importance if sampler == "importance" else log_px_prior
    out = np.zeros((len(ks), repeats))
    cost, done = sum(ks) * repeats, 0
    for r in range(repeats):
        g = torch.Generator().manual_seed(seed + r)
        for i, k in enumerate(ks):
            out[i, r] = estimator(model, x, k, generator=g).mean().item()
            done += k
            if on_progress:
                on_progress(done / cost)
    return out


@torch.inference_mode()
def posterior_window(model: Any, x: torch.Tensor, n: int = 121) -> tuple[list[np.ndarray], np.ndarray]:
    """The true posterior p(z|x) of one x (x_dim,), for latent dimension 1 or 2, on an n-point
    (per axis) window that holds both its mass and q(z|x) to 3.5 sigma.

    Returns the axes and the density: (n,) for D = 1, (n, n) indexed [z1, z2] for D = 2.
    A coarse pass over the whole prior finds where the mass is; the fine pass resolves it.
    """
    mu, logvar = (t[0] for t in model.encode(x[None]))
    grid = default_grid(model, x[None], n=2000 if len(mu) == 1 else 200)
    density = _log_posterior(model, x, [grid.axis.float()] * grid.dim).exp()
    heavy = torch.nonzero(density > density.max() * 1e-3)  # (M, D) indices
    sigma = (0.5 * logvar).exp()
    axes = []
    for d in range(len(mu)):
        lo = min(grid.axis[heavy[:, d].min()].item(), (mu[d] - 3.5 * sigma[d]).item())
        hi = max(grid.axis[heavy[:, d].max()].item(), (mu[d] + 3.5 * sigma[d]).item())
        margin = 0.1 * (hi - lo)
        axes.append(torch.linspace(lo - margin, hi + margin, n))
    log_post = _log_posterior(model, x, axes)
    return [a.numpy() for a in axes], log_post.exp().numpy()


def _log_posterior(model: Any, x: torch.Tensor, axes: list[torch.Tensor]) -> torch.Tensor:
    """log p(z|x) as a density on the product of ``axes`` (each evenly spaced), normalized there."""
    z = torch.stack([a.reshape(-1) for a in torch.meshgrid(*axes, indexing="ij")], -1)  # (G, D)
    log_joint = pairwise_log_lik(model, x[None], z)[0] + log_standard_normal(z).sum(-1)
    log_cell = sum(math.log((a[1] - a[0]).item()) for a in axes)
    return (log_joint - torch.logsumexp(log_joint, 0) - log_cell).reshape([len(a) for a in axes])


def project(
    mu: np.ndarray, method: Literal["PCA", "t-SNE"], *, max_points: int = 2000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A 2-D view of codes mu (N, D): (row indices used (M,), coordinates (M, 2)).

    t-SNE is quadratic in the points, so at most ``max_points`` rows (a seeded subset) go in.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    rng = np.random.default_rng(seed)
    idx = np.arange(len(mu)) if len(mu) <= max_points else np.sort(rng.choice(len(mu), max_points, replace=False))
    if method == "PCA":
        return idx, PCA(2, random_state=seed).fit_transform(mu[idx])
    perplexity = min(30.0, (len(idx) - 1) / 3)
    return idx, TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(mu[idx])


def pca_with(mu: np.ndarray, extra: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PCA fitted on codes mu (N, D), applied to them and to more codes extra (M, D):
    ((N, 2), (M, 2)), so that a new point lands in the same picture as the test set."""
    from sklearn.decomposition import PCA

    pca = PCA(2, random_state=0).fit(mu)
    return pca.transform(mu), pca.transform(extra)


def as_columns(items: Sequence[Any]) -> dict[str, list[Any]]:
    """Column lists from step or epoch records (dataclasses or their dicts)."""
    rows = [i if isinstance(i, dict) else asdict(i) for i in items]
    return {k: [r[k] for r in rows] for k in rows[0]} if rows else {}


# -- figures --------------------------------------------------------------------------------

NATS = "%{y:.3f} nats"


CURVE_TITLES = ("Reconstruction  E_q[log p(x|z)]", "KL(q(z|x) ‖ p(z))", "ELBO")
MARKED_EPOCHS = 60  # up to this many epoch points get markers; beyond, styling each marker costs the browser


def training_curves(steps: Sequence[Any], epochs: Sequence[Any], *, max_points: int = 1000) -> go.Figure:
    """Reconstruction term, KL (raw and beta-weighted) and ELBO against the optimizer step:
    per step (training batches, thinned to at most ``max_points``) and per epoch (train and test).

    Redrawn every second while a run trains, so it is built cheaply: only the kept steps are
    read, traces are plain dicts over one cached subplot layout, and the thinning keeps every
    ``2**j``-th step, so a live curve's points stay put and only halve now and then.
    """
    kept = _thinned(steps, max_points)
    traces = []
    if kept:
        x = _column(kept, "step", int)
        kl = _column(kept, "kl")
        for row, (name, y) in enumerate(
            (("recon", _column(kept, "recon")), ("KL", kl), ("ELBO", _column(kept, "elbo"))), 1
        ):
            traces.append(_line(row, x, y, f"{name} (batch)", PALETTE[0], width=1, opacity=0.6))
        beta_kl = _column(kept, "beta") * kl
        traces.append(_line(2, x, beta_kl, "β·KL (batch, in the loss)", PALETTE[1], width=1, dash="dot", opacity=0.8))
    if epochs:
        x = _column(epochs, "step", int)
        mode = "lines+markers" if len(epochs) <= MARKED_EPOCHS else "lines"
        for row, (term, name) in enumerate((("recon", "recon"), ("kl", "KL"), ("elbo", "ELBO")), 1):
            for split, color in (("train", PALETTE[2]), ("test", PALETTE[3])):
                y = _column(epochs, f"{split}_{term}")
                traces.append(_line(row, x, y, f"{name} {split} (epoch)", color, mode=mode))
    return go.Figure(data=traces, layout=_curves_layout())


def _thinned(rows: Sequence[Any], max_points: int) -> Sequence[Any]:
    """Every ``2**j``-th row (the smallest such stride that leaves at most ``max_points``)."""
    stride = 1
    while len(rows) > stride * max_points:
        stride *= 2
    return rows[::stride]


def _column(rows: Sequence[Any], name: str, dtype: type = float) -> np.ndarray:
    """One field of step or epoch records (dataclasses or their dicts) as an array (N,)."""
    get = (lambda r: r[name]) if rows and isinstance(rows[0], dict) else (lambda r: getattr(r, name))
    return np.fromiter((get(r) for r in rows), dtype=dtype, count=len(rows))


@functools.cache
def _curves_layout() -> dict[str, Any]:
    """The three stacked subplots (axes, titles, sizes), made once; each figure copies it."""
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.07, subplot_titles=CURVE_TITLES)
    fig.update_xaxes(title_text="optimizer step", row=3, col=1)
    fig.update_yaxes(title_text="nats")
    # "allow": plotly otherwise measures every tick label to hide those past the chart's edge.
    fig.update_xaxes(ticklabeloverflow="allow").update_yaxes(ticklabeloverflow="allow")
    # Fixed margins, wide enough for the legend and the tick labels (presenter mode's large type
    # too): with autoexpand on, plotly measures them and draws the whole figure a second time.
    margin = dict(l=80, r=200, t=40, b=60, autoexpand=False)
    fig.update_layout(height=620, margin=margin, hovermode="x", legend=dict(font_size=11))
    return fig.layout.to_plotly_json()


def _line(row: int, x: np.ndarray, y: np.ndarray, name: str, color: str, **style: Any) -> dict[str, Any]:
    """A scatter trace on subplot ``row`` of the training curves, as a plain dict."""
    mode = style.pop("mode", "lines")
    opacity = style.pop("opacity", 1.0)
    axis = "" if row == 1 else str(row)
    return dict(
        type="scatter",
        x=x,
        y=y.astype(np.float32),  # sent as base64 (plotly 6): half the bytes, ample for 3 decimals
        xaxis=f"x{axis}",
        yaxis=f"y{axis}",
        name=name,
        mode=mode,
        opacity=opacity,
        line=dict(color=color, **style),
        marker=dict(size=5),
        hovertemplate=f"{name}<br>step %{{x}}: {NATS}<extra></extra>",
    )


def kl_bars(kl_per_dim: Sequence[float], active_units: int, *, threshold: float = 0.01) -> go.Figure:
    """Test-set KL per latent dimension; a bar near 0 is a collapsed unit (q(z_d|x) = p(z_d))."""
    kl = np.asarray(kl_per_dim, dtype=float)
    colors = [PALETTE[0] if v >= threshold else COLLAPSED for v in kl]
    fig = go.Figure(
        go.Bar(
            x=[f"z{d + 1}" for d in range(len(kl))],
            y=kl,
            marker_color=colors,
            hovertemplate="%{x}: KL %{y:.4f} nats<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"KL per latent dimension — {active_units} of {len(kl)} units active",
        yaxis_title="nats",
        height=300,
        margin=dict(l=10, r=10, t=40, b=10),
    )
    return fig


def _colorscale(n: int) -> list[list[Any]]:
    """A stepped colour scale: class c of n gets one flat colour over [c/n, (c+1)/n]."""
    scale = []
    for c in range(max(n, 1)):
        color = PALETTE[c % len(PALETTE)]
        scale += [[c / max(n, 1), color], [(c + 1) / max(n, 1), color]]
    return scale


def latent_scatter(
    x: np.ndarray,
    y: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    *,
    marker: tuple[float, float] | None = None,
    picked: int | None = None,
    titles: tuple[str, str] = ("z1", "z2"),
    height: int = 460,
    gl: bool = True,
) -> go.Figure:
    """Codes as ONE scatter trace coloured by label (customdata = row index, so a click's
    point index is the test-set row), plus the slider position and a picked point on top.
    ``gl=False`` draws SVG instead of WebGL: for a few hundred points and a chart redrawn while
    a run trains, that is ~50 ms against ~200 ms for a fresh WebGL context per redraw."""
    labels = np.asarray(labels)
    n_classes = len(class_names)
    names = np.array([class_names[c] if 0 <= c < n_classes else "?" for c in labels])
    colour = dict(color=labels, colorscale=_colorscale(n_classes), cmin=-0.5, cmax=n_classes - 0.5)
    if n_classes:
        colour["colorbar"] = dict(tickvals=list(range(n_classes)), ticktext=list(class_names), title="label")
    fig = go.Figure(
        (go.Scattergl if gl else go.Scatter)(
            x=x,
            y=y,
            mode="markers",
            marker=dict(size=6, opacity=0.75, **colour) if n_classes else dict(size=5, color=PALETTE[0]),
            customdata=np.arange(len(x)),
            text=names,
            hovertemplate="test image #%{customdata}: %{text}<br>(%{x:.2f}, %{y:.2f})<extra></extra>",
            name="test codes",
        )
    )
    if picked is not None:
        fig.add_scatter(x=[x[picked]], y=[y[picked]], mode="markers", name="picked", hoverinfo="skip")
        fig.data[-1].marker = dict(size=16, color="rgba(0,0,0,0)", line=dict(width=3, color="black"))
    if marker is not None:
        fig.add_scatter(x=[marker[0]], y=[marker[1]], mode="markers", name="sliders", hoverinfo="skip")
        fig.data[-1].marker = dict(size=18, symbol="x-thin", line=dict(width=4, color="crimson"))
    fig.update_layout(
        xaxis_title=titles[0],
        yaxis_title=titles[1],
        height=height,
        margin=dict(l=10, r=10, t=10, b=10),
        showlegend=False,
        clickmode="event+select",
        dragmode="pan",
    )
    return fig


def log_k_figure(
    ks: Sequence[int],
    importance: np.ndarray,
    *,
    elbo: float,
    prior: np.ndarray | None = None,
    quadrature: float | None = None,
) -> go.Figure:
    """The k-sample estimates (K, R) against k on a log axis: mean and min-max over repeats."""
    fig = go.Figure()
    _band(fig, ks, importance, "importance-sampled L_k (z ~ q)", PALETTE[0])
    if prior is not None:
        _band(fig, ks, prior, "naive estimate (z ~ prior)", PALETTE[1])
    fig.add_hline(y=elbo, line=dict(color=PALETTE[2], dash="dash"), annotation_text="ELBO")
    if quadrature is not None:
        fig.add_hline(y=quadrature, line=dict(color="black"), annotation_text="log p(x) by quadrature")
    fig.update_xaxes(type="log", title_text="k, samples per estimate")
    fig.update_yaxes(title_text="nats")
    fig.update_layout(height=420, margin=dict(l=10, r=10, t=10, b=10), legend=dict(x=0.45, y=0.05))
    return fig


def _band(fig: go.Figure, ks: Sequence[int], values: np.ndarray, name: str, color: str) -> None:
    lo, hi, mean = values.min(1), values.max(1), values.mean(1)
    ks = list(ks)
    fig.add_scatter(x=ks + ks[::-1], y=np.r_[hi, lo[::-1]], fill="toself", line=dict(width=0), opacity=0.25)
    fig.data[-1].update(fillcolor=color, hoverinfo="skip", showlegend=False)
    fig.add_scatter(
        x=ks,
        y=mean,
        customdata=np.stack([lo, hi], 1),
        name=name,
        mode="lines+markers",
        line=dict(color=color),
        hovertemplate=f"{name}<br>k = %{{x}}: %{{y:.3f}} nats (repeats %{{customdata[0]:.3f}} … "
        "%{customdata[1]:.3f})<extra></extra>",
    )


def posterior_figure(
    axes: list[np.ndarray], density: np.ndarray, mu: np.ndarray, logvar: np.ndarray, *, height: int = 420
) -> go.Figure:
    """The true posterior p(z|x) (heatmap for D = 2, curve for D = 1) under q(z|x) (ellipses at
    1 and 2 sigma, or its density curve)."""
    sigma = np.exp(0.5 * np.asarray(logvar))
    fig = go.Figure()
    if len(axes) == 1:
        z = axes[0]
        q = np.exp(-0.5 * ((z - mu[0]) / sigma[0]) ** 2) / (sigma[0] * math.sqrt(2 * math.pi))
        fig.add_scatter(x=z, y=density, name="true posterior p(z|x)", line=dict(color="black"))
        fig.add_scatter(x=z, y=q, name="encoder q(z|x)", line=dict(color="crimson", dash="dash"))
        fig.update_layout(xaxis_title="z1", yaxis_title="density")
    else:
        fig.add_heatmap(
            x=axes[0],
            y=axes[1],
            z=density.T,  # plotly rows are y
            colorscale="Blues",
            colorbar=dict(title="p(z|x)"),
            hovertemplate="z1 %{x:.2f}, z2 %{y:.2f}: %{z:.3g}<extra></extra>",
        )
        t = np.linspace(0, 2 * np.pi, 100)
        for k, dash in ((1, "solid"), (2, "dash")):
            fig.add_scatter(
                x=mu[0] + k * sigma[0] * np.cos(t),
                y=mu[1] + k * sigma[1] * np.sin(t),
                mode="lines",
                name=f"q(z|x), {k}σ",
                line=dict(color="crimson", dash=dash, width=2),
                hoverinfo="skip",
            )
        fig.update_layout(xaxis_title="z1", yaxis_title="z2", legend=dict(x=0, y=1, bgcolor="rgba(255,255,255,0.6)"))
        fig.update_yaxes(scaleanchor="x", scaleratio=1)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10))
    return fig


def data_space_figure(
    x_data: np.ndarray,
    labels: np.ndarray,
    x_model: np.ndarray,
    *,
    point: tuple[float, float] | None = None,
    height: int = 420,
) -> go.Figure:
    """Points in the plane: the test data (left) beside samples x ~ p(x|z), z ~ p(z) (right),
    with the decoded slider position marked on both."""
    fig = make_subplots(1, 2, shared_xaxes=True, shared_yaxes=True, subplot_titles=("data", "model samples"))
    fig.add_scattergl(
        x=x_data[:, 0], y=x_data[:, 1], mode="markers", row=1, col=1, name="data", marker=dict(size=4, color=labels)
    )
    fig.add_scattergl(
        x=x_model[:, 0], y=x_model[:, 1], mode="markers", row=1, col=2, name="samples", marker=dict(size=4)
    )
    fig.data[-1].marker.color = PALETTE[1]
    if point is not None:
        for col in (1, 2):
            fig.add_scatter(x=[point[0]], y=[point[1]], mode="markers", row=1, col=col, name="E[x|z] at sliders")
            fig.data[-1].marker = dict(size=16, symbol="x-thin", line=dict(width=4, color="crimson"))
    fig.update_layout(height=height, showlegend=False, margin=dict(l=10, r=10, t=30, b=10))
    return fig


# -- the posterior over training, gradient estimators, two runs side by side ---------------------


def _ellipse(mu: np.ndarray, logvar: np.ndarray, k: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0, 2 * np.pi, 80)
    sigma = np.exp(0.5 * np.asarray(logvar))
    return mu[0] + k * sigma[0] * np.cos(t), mu[1] + k * sigma[1] * np.sin(t)


def posterior_multiples(views: dict[int, Any], *, height: int = 250) -> go.Figure:
    """The true posterior (heatmap) under q(z|x) at 1 sigma, one small panel per checkpoint epoch.
    ``views`` maps epoch -> an ``estimators.PosteriorView``."""
    epochs = sorted(views)
    titles = [f"epoch {e} · KL {views[e].kl:.2f}" for e in epochs]
    fig = make_subplots(1, len(epochs), subplot_titles=titles, horizontal_spacing=0.015)
    for col, e in enumerate(epochs, 1):
        v = views[e]
        fig.add_heatmap(x=v.axes[0], y=v.axes[1], z=v.density.T, colorscale="Blues", showscale=False, row=1, col=col)
        fig.data[-1].hovertemplate = "z1 %{x:.2f}, z2 %{y:.2f}: %{z:.3g}<extra></extra>"
        ex, ey = _ellipse(v.mu, v.logvar)
        fig.add_scatter(x=ex, y=ey, mode="lines", line=dict(color="crimson", width=2), hoverinfo="skip", row=1, col=col)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_annotations(font_size=11)
    fig.update_layout(height=height, showlegend=False, margin=dict(l=10, r=10, t=30, b=10))
    return fig


def kl_over_training(epochs: Sequence[int], kl_posterior: Sequence[float], kl_prior: Sequence[float]) -> go.Figure:
    """KL(q ‖ p(z|x)) (the ELBO's gap) and KL(q ‖ p(z)) (its penalty) for one x, per checkpoint."""
    fig = go.Figure()
    for name, y, color in (
        ("KL(q(z|x) ‖ p(z|x)) = log p(x) − ELBO", kl_posterior, PALETTE[0]),
        ("KL(q(z|x) ‖ p(z)), the ELBO's penalty", kl_prior, PALETTE[1]),
    ):
        fig.add_scatter(x=list(epochs), y=list(y), name=name, mode="lines+markers", line=dict(color=color))
        fig.data[-1].hovertemplate = f"{name}<br>epoch %{{x}}: {NATS}<extra></extra>"
    fig.update_layout(
        xaxis_title="epoch",
        yaxis_title="nats",
        height=300,
        margin=dict(l=10, r=10, t=10, b=10),
        legend=dict(x=0.3, y=0.98),
    )
    return fig


ESTIMATOR_NAMES = {"score": "score function (REINFORCE)", "reparam": "reparameterization"}


def variance_figure(studies: dict[str, Any], coord: int | None = None, *, height: int = 380) -> go.Figure:
    """Measured variance of the n-sample gradient mean against n (log-log), with the per-sample
    variance / n as a dashed line; one coordinate, or the sum over all (``coord=None``).
    ``studies`` maps an estimator name to an ``estimators.GradientStudy``."""
    fig = go.Figure()
    for i, (name, s) in enumerate(studies.items()):
        pick = (lambda a: a.sum(-1)) if coord is None else (lambda a: a[..., coord])
        label, color = ESTIMATOR_NAMES.get(name, name), PALETTE[i]
        fig.add_scatter(x=list(s.ns), y=pick(s.var_of_mean), name=f"{label}, measured", mode="markers+lines")
        fig.data[-1].update(line=dict(color=color), hovertemplate="n = %{x}: variance %{y:.3g}<extra></extra>")
        fig.add_scatter(x=list(s.ns), y=pick(s.per_sample_var) / np.array(s.ns), name=f"{label}: per-sample / n")
        fig.data[-1].update(line=dict(color=color, dash="dash", width=1), mode="lines", hoverinfo="skip")
    fig.update_xaxes(type="log", title_text="n, samples averaged per gradient estimate")
    fig.update_yaxes(type="log", title_text="variance" + (" (sum over coords)" * (coord is None)))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), legend=dict(orientation="h", y=-0.2))
    return fig


def gradient_means_figure(
    studies: dict[str, Any], labels: Sequence[str], exact: np.ndarray | None = None, *, height: int = 340
) -> go.Figure:
    """Each estimator's mean gradient per coordinate with ±2 standard errors, and the exact one."""
    fig = go.Figure()
    for i, (name, s) in enumerate(studies.items()):
        fig.add_scatter(x=list(labels), y=s.mean, name=ESTIMATOR_NAMES.get(name, name), mode="markers")
        fig.data[-1].update(
            marker=dict(size=10, color=PALETTE[i]),
            error_y=dict(type="data", array=2 * s.sem, thickness=1.5),
            hovertemplate="%{x}: %{y:.4g} ± %{error_y.array:.2g}<extra></extra>",
        )
    if exact is not None:
        fig.add_scatter(x=list(labels), y=exact, name="exact", mode="markers")
        fig.data[-1].marker = dict(size=14, symbol="x-thin", line=dict(width=3, color="black"))
    fig.update_layout(
        scattermode="group",
        yaxis_title="∂ELBO / ∂θ (mean over all samples)",
        height=height,
        margin=dict(l=10, r=10, t=10, b=10),
        legend=dict(orientation="h", y=-0.15),
    )
    return fig


def compare_curves(runs: dict[str, Sequence[Any]], *, height: int = 520) -> go.Figure:
    """Test-set reconstruction, KL and ELBO per epoch for several runs, overlaid (one colour each).
    ``runs`` maps a name to its epoch records (``EpochInfo`` or their dicts)."""
    titles = ("Reconstruction  E_q[log p(x|z)]", "KL(q(z|x) ‖ p(z))", "ELBO")
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.07, subplot_titles=titles)
    for i, (name, epochs) in enumerate(runs.items()):
        e = as_columns(epochs)
        if not e:
            continue
        for row, term in enumerate(("test_recon", "test_kl", "test_elbo"), 1):
            fig.add_scatter(x=e["epoch"], y=e[term], name=name, legendgroup=name, showlegend=row == 1, row=row, col=1)
            fig.data[-1].update(mode="lines+markers", line=dict(color=PALETTE[i % len(PALETTE)]))
            fig.data[-1].hovertemplate = f"{name}<br>epoch %{{x}}: {NATS}<extra></extra>"
    fig.update_xaxes(title_text="epoch", row=3, col=1)
    fig.update_yaxes(title_text="nats")
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.12))
    return fig


@torch.inference_mode()
def traversals(model: Any, dims: Sequence[int], n: int) -> torch.Tensor:
    """Decoded means as each of ``dims`` moves over n prior quantiles, the others at 0:
    (len(dims) * n, x_dim), one row per dimension."""
    base = torch.zeros(model.latent_dim)
    return torch.cat([manifold(model, n, [d], base) for d in dims])
