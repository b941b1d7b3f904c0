"""Charts of the estimates: L_k against k, the true posterior under q(z|x) (now and over
training), and the variance and means of the two gradient estimators. Nats throughout."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from vae_core.views.style import NATS, PALETTE, ellipse, room


def log_k_figure(
    ks: Sequence[int],
    importance: np.ndarray,
    *,
    elbo: float,
    prior: np.ndarray | None = None,
    quadrature: float | None = None,
) -> go.Figure:
    """The k-sample estimates (K, R) against k on a log axis: mean and min-max over repeats.

    The bound gets its own panel, at the scale of the gap between the ELBO and log p(x) (the
    quadrature, else the best L_k), where ELBO ≤ L_k ≤ log p(x) can be read; the naive
    estimate, often hundreds of nats lower at small k, goes in a panel of its own beside it."""
    two = prior is not None
    fig = make_subplots(1, 2, column_widths=[0.58, 0.42], horizontal_spacing=0.09) if two else go.Figure()
    panels = [dict(row=1, col=1), dict(row=1, col=2)] if two else [{}]
    _band(fig, ks, importance, "importance-sampled L_k (z ~ q)", PALETTE[0], **panels[0])
    if two:
        _band(fig, ks, prior, "naive estimate (z ~ prior)", PALETTE[1], **panels[1])
    ends = [ks[0], ks[-1]]
    lines = [("ELBO", elbo, dict(color=PALETTE[2], dash="dash", width=2))]
    if quadrature is not None:
        lines.append(("log p(x) by quadrature", quadrature, dict(color="#444444", width=2)))
    for name, value, line in lines:  # legend entries, not labels in the chart's corner
        for i, panel in enumerate(panels):
            fig.add_scatter(x=ends, y=[value, value], mode="lines", name=name, line=line, **panel)
            fig.data[-1].update(legendgroup=name, showlegend=i == 0, hovertemplate=f"{name}: {NATS}<extra></extra>")
    top = quadrature if quadrature is not None else float(np.nanmean(importance[-1]))
    means = np.nanmean(importance, 1)
    lo, hi = min(elbo, float(means.min())), max(top, float(means.max()))
    pad = max(0.3 * (hi - lo), 1e-3)
    ticks = _log_ticks(ks)
    fig.update_xaxes(type="log", tickvals=ticks, ticktext=[f"{t:d}" for t in ticks])
    fig.update_xaxes(title_text="k — the bound: ELBO ≤ L_k ≤ log p(x)", **panels[0])
    fig.update_yaxes(title_text="nats", range=[lo - pad, hi + pad], **panels[0])
    if two:
        fig.update_xaxes(title_text="k — naive estimate (own scale)", **panels[1])
    fig.update_layout(height=440, margin=room(l=90, b=135), legend=dict(orientation="h", x=0, y=-0.22))
    return fig


def _log_ticks(ks: Sequence[int]) -> list[int]:
    """Ticks a log-k axis reads aloud: the powers of ten within ks, and the largest k."""
    powers = [10**p for p in range(0, 10) if ks[0] <= 10**p <= ks[-1]]
    return sorted({*powers, int(ks[-1])})


def _band(fig: go.Figure, ks: Sequence[int], values: np.ndarray, name: str, color: str, **panel: int) -> None:
    lo, hi, mean = np.nanmin(values, 1), np.nanmax(values, 1), np.nanmean(values, 1)  # NaN: not in yet
    ks = list(ks)
    fig.add_scatter(x=ks + ks[::-1], y=np.r_[hi, lo[::-1]], fill="toself", line=dict(width=0), opacity=0.25, **panel)
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
        **panel,
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
            colorbar=dict(title=dict(text="p(z|x)", side="right")),  # beside the bar, not under the toolbar
            hovertemplate="z1 %{x:.2f}, z2 %{y:.2f}: %{z:.3g}<extra></extra>",
        )
        for k, dash in ((1, "solid"), (2, "dash")):
            ex, ey = ellipse(mu, logvar, k)
            fig.add_scatter(
                x=ex,
                y=ey,
                mode="lines",
                name=f"q(z|x), {k}σ",
                line=dict(color="crimson", dash=dash, width=2),
                hoverinfo="skip",
            )
        # The legend under the plot, on the page's own background: inside, on the heatmap's white, a
        # dark theme's light text could not be read (and above it, the chart's toolbar covers it).
        fig.update_layout(xaxis_title="z1", yaxis_title="z2")
        fig.update_yaxes(scaleanchor="x", scaleratio=1)
    legend = dict(orientation="h", x=0, xanchor="left", y=-0.2, yanchor="top", bgcolor="rgba(0,0,0,0)")
    fig.update_layout(height=height, margin=room(l=85, r=110, b=115), legend=legend)
    return fig


def posterior_multiples(views: dict[int, Any], *, height: int = 270) -> go.Figure:
    """The true posterior (heatmap) under q(z|x) at 1 sigma, one small panel per checkpoint epoch,
    all on the same axes (the union of their windows), so that q's shrinking can be judged.
    ``views`` maps epoch -> a ``posterior.PosteriorView``; titles go under the panels."""
    epochs = sorted(views)
    titles = [f"epoch {e} · KL {views[e].kl:.2f}" for e in epochs]
    fig = make_subplots(
        1, len(epochs), subplot_titles=titles, horizontal_spacing=0.015, shared_xaxes="all", shared_yaxes="all"
    )
    for col, e in enumerate(epochs, 1):
        v = views[e]
        fig.add_heatmap(x=v.axes[0], y=v.axes[1], z=v.density.T, colorscale="Blues", showscale=False, row=1, col=col)
        fig.data[-1].hovertemplate = "z1 %{x:.2f}, z2 %{y:.2f}: %{z:.3g}<extra></extra>"
        ex, ey = ellipse(v.mu, v.logvar)
        fig.add_scatter(x=ex, y=ey, mode="lines", line=dict(color="crimson", width=2), hoverinfo="skip", row=1, col=col)
    window = [np.concatenate([v.axes[k] for v in views.values()]) for k in (0, 1)]
    fig.update_xaxes(showticklabels=False, range=[float(window[0].min()), float(window[0].max())])
    fig.update_yaxes(showticklabels=False, range=[float(window[1].min()), float(window[1].max())])
    fig.update_annotations(font_size=11, y=0, yanchor="top", yshift=-4)  # under each panel
    fig.update_layout(height=height, showlegend=False, margin=room(l=20, b=30))
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
        margin=room(l=70, t=15, b=70),
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
    ns = list(next(iter(studies.values())).ns)
    ticks = _log_ticks(ns)  # 1, 10, 100, 500: what a lecturer reads aloud
    fig.update_xaxes(type="log", tickvals=ticks, ticktext=[f"{t:d}" for t in ticks])
    fig.update_xaxes(title_text="n, samples averaged per gradient estimate")
    fig.update_yaxes(type="log", title_text="variance" + (" (sum over coords)" * (coord is None)))
    fig.update_layout(height=height, margin=room(l=80, t=20, b=145), legend=dict(orientation="h", y=-0.2))
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
        margin=room(l=75, t=10, b=95),
        legend=dict(orientation="h", y=-0.15),
    )
    return fig
