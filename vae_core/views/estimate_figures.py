"""Charts of the estimates: L_k against k, the true posterior under q(z|x) (now and over
training), and the variance and means of the two gradient estimators. Nats throughout."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from vae_core.views.style import NATS, PALETTE, ellipse


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
        fig.update_layout(xaxis_title="z1", yaxis_title="z2", legend=dict(x=0, y=1, bgcolor="rgba(255,255,255,0.6)"))
        fig.update_yaxes(scaleanchor="x", scaleratio=1)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10))
    return fig


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
        ex, ey = ellipse(v.mu, v.logvar)
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
