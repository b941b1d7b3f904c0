"""Charts of the derivation: one sample through the VAE (the encoder's outputs, the draw on the
latent plane, the two SGVB estimators' spread) and Jensen's inequality (the histogram of log
importance weights with the ELBO, L_k and log p(x) marked, and L_k against k). Nats throughout."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from vae_core.vae.derivation import OneSample, log_mean_exp
from vae_core.views.estimate_figures import _log_ticks
from vae_core.views.latent_figures import codes_payload, latent_limit
from vae_core.views.style import NATS, PALETTE, ellipse, room

LAYOUT = dict(margin=room(l=70, b=100), legend=dict(orientation="h", x=0, y=-0.2))
LINES = {  # what a marked value is drawn as, in every chart here
    "ELBO": dict(color=PALETTE[2], dash="dash", width=2),
    "L_k": dict(color=PALETTE[0], width=3),
    "log p(x)": dict(color="#444444", width=2),
    "naive": dict(color=PALETTE[1], width=3),
    "groups": dict(color=PALETTE[3], dash="dot", width=3),
}
Q_COLOR = "crimson"  # q(z|x), on the plane as on the Posterior page


def encoder_bars(sample: OneSample, *, height: int = 300) -> go.Figure:
    """μ, σ, the draw ε and z* = μ + σ·ε per latent dimension, as grouped bars."""
    names = [f"z{d + 1}" for d in range(len(sample.mu))]
    fig = go.Figure()
    for i, (label, values) in enumerate(
        (
            ("μ (encoder)", sample.mu),
            ("σ (encoder)", sample.sigma),
            ("ε ~ N(0, 1)", sample.eps),
            ("z* = μ + σ·ε", sample.z),
        )
    ):
        fig.add_bar(x=names, y=values, name=label, marker_color=PALETTE[i])
        fig.data[-1].hovertemplate = f"{label}<br>%{{x}}: %{{y:.3f}}<extra></extra>"
    fig.update_layout(barmode="group", height=height, yaxis_title="value", **LAYOUT)
    return fig


def sample_plane(
    sample: OneSample, row: int, codes: np.ndarray, labels: np.ndarray, class_names: Sequence[str], *, height: int = 520
) -> dict[str, Any]:
    """The 2-D latent plane as the codes chart draws it (``latent_figures.codes_payload``): the test
    codes, the prior's rings, q(z|x) at 1σ and 2σ, μ(x) (test image ``row``'s own code, ringed) and
    the draw z* (the red ✕)."""
    logvar = 2 * np.log(sample.sigma)
    curves = []
    for k, dash in ((1, "solid"), (2, "dash")):
        ex, ey = ellipse(sample.mu, logvar, k)
        curves.append({"name": f"q(z|x), {k}σ", "x": ex, "y": ey, "color": Q_COLOR, "dash": dash})
    return codes_payload(
        codes[:, 0],
        codes[:, 1],
        labels,
        class_names,
        picked=row,
        picked_name="μ(x), its code",
        marker=(float(sample.z[0]), float(sample.z[1])),
        marker_name="z* = μ + σ·ε",
        curves=curves,
        lim=latent_limit(codes, sample.z[None]),
        prior=True,
        height=height,
    )


def _marked_histogram(
    fig: go.Figure,
    values: np.ndarray,
    name: str,
    color: str,
    marks: Sequence[tuple[str, float, str]],
    top: float = 0.0,
    **panel: int,
) -> None:
    """A density histogram of ``values`` and vertical lines (name, x, style key) as legend entries,
    as tall as the histogram or ``top``, whichever is higher."""
    counts, edges = np.histogram(values, bins=min(60, max(10, len(values) // 40)), density=True)
    centres = 0.5 * (edges[1:] + edges[:-1])
    fig.add_bar(x=centres, y=counts, width=edges[1] - edges[0], name=name, marker_color=color, opacity=0.6, **panel)
    fig.data[-1].hovertemplate = "%{x:.2f} nats: density %{y:.3g}<extra></extra>"
    top = max(top, float(counts.max())) * 1.1
    for label, x, style in marks:
        fig.add_scatter(x=[x, x], y=[0, top], mode="lines", name=f"{label} = {x:.3f}", line=LINES[style], **panel)
        fig.data[-1].hovertemplate = f"{label}: %{{x:.3f}} nats<extra></extra>"


def _outline(fig: go.Figure, values: np.ndarray, bins: int, name: str, color: str, **panel: int) -> float:
    """A density histogram of ``values`` as a step outline, filled; returns its highest density."""
    counts, edges = np.histogram(values, bins=bins, density=True)
    fig.add_scatter(x=np.repeat(edges, 2)[1:-1], y=np.repeat(counts, 2), mode="lines", name=name, **panel)
    fig.data[-1].update(line=dict(color=color, width=2), fill="tozeroy", opacity=0.6, hoverinfo="skip")
    return float(counts.max())


def sgvb_figure(a: np.ndarray, b: np.ndarray, *, height: int = 320) -> go.Figure:
    """The two single-sample ELBO estimates over the same draws: A (all sampled) and B (KL closed form)."""
    fig = go.Figure()
    for values, name, color in (
        (a, "A: log p(x|z) + log p(z) − log q(z|x)", PALETTE[0]),
        (b, "B: log p(x|z) − KL", PALETTE[1]),
    ):
        top = _outline(fig, values, 40, name, color)
        fig.add_scatter(x=[values.mean()] * 2, y=[0, top], mode="lines", name=f"mean of {name[0]}")
        fig.data[-1].update(
            line=dict(color=color, dash="dash", width=2), hovertemplate="mean %{x:.3f} nats<extra></extra>"
        )
    titles = dict(xaxis_title="single-sample ELBO estimate (nats)", yaxis_title="density")
    fig.update_layout(height=height, **titles, **{**LAYOUT, "legend": dict(orientation="h", x=0, y=-0.3)})
    return fig


def log_weight_figure(
    log_w: np.ndarray,
    groups: np.ndarray,
    k: int,
    prior_log_w: np.ndarray,
    *,
    reference: float | None = None,
    height: int = 420,
) -> go.Figure:
    """Left: log w = log p(x, z) − log q(z|x) over z ~ q, its mean (the ELBO), the L_k of disjoint
    groups of k weights and their mean, log mean w over all, and log p(x) (``reference``). Right:
    the same for z ~ p(z), where log w = log p(x|z) and log mean w is the naive estimate."""
    titles = ("z ~ q(z|x)", "z ~ p(z), the prior")
    fig = make_subplots(1, 2, column_widths=[0.6, 0.4], horizontal_spacing=0.08, subplot_titles=titles)
    ref = [("log p(x)", reference, "log p(x)")] if reference is not None else []
    top = 0.0
    if len(groups) > 1:
        name = f"L_{k} of {len(groups)} groups of {k}"
        top = _outline(fig, groups, min(40, max(5, len(groups) // 5)), name, PALETTE[3])
    marks = [
        ("ELBO = mean log w", float(log_w.mean()), "ELBO"),
        (f"mean L_{k}", float(groups.mean()), "groups"),
        (f"L_{len(log_w)} = log mean w", float(log_mean_exp(log_w)), "L_k"),
    ]
    _marked_histogram(fig, log_w, f"log w, {len(log_w)} draws from q", PALETTE[0], marks + ref, top, row=1, col=1)
    naive = [("naive = log mean p(x|z)", float(log_mean_exp(prior_log_w)), "naive")]
    name = f"log w = log p(x|z), {len(prior_log_w)} draws from p(z)"
    _marked_histogram(fig, prior_log_w, name, PALETTE[1], naive + ref, row=1, col=2)
    seen: set[str] = set()
    for trace in fig.data:  # log p(x) is marked in both panels: one legend entry
        trace.showlegend = trace.name not in seen
        seen.add(trace.name)
    fig.update_xaxes(title_text="log w (nats)")
    fig.update_yaxes(title_text="density", row=1, col=1)
    fig.update_layout(
        height=height,
        bargap=0,
        **{**LAYOUT, "legend": dict(orientation="h", x=0, y=-0.25), "margin": room(l=70, b=140)},
    )
    return fig


def bound_climb_figure(
    ks: Sequence[int], curve: np.ndarray, k: int, *, elbo: float, reference: float | None = None, height: int = 320
) -> go.Figure:
    """E[L_k] against k (log axis) from one set of weights, the chosen k marked, the ELBO and log p(x) as lines."""
    fig = go.Figure()
    fig.add_scatter(x=list(ks), y=curve, mode="lines+markers", name="mean L_k", line=dict(color=PALETTE[0]))
    fig.data[-1].hovertemplate = f"k = %{{x}}: {NATS}<extra></extra>"
    chosen = list(ks).index(k)
    fig.add_scatter(x=[k], y=[curve[chosen]], mode="markers", name=f"k = {k}")
    fig.data[-1].marker = dict(size=14, color=PALETTE[3], line=dict(width=2, color="black"))
    ends = [ks[0], ks[-1]]
    for name, value, style in (("ELBO", elbo, "ELBO"), ("log p(x)", reference, "log p(x)")):
        if value is not None:
            fig.add_scatter(x=ends, y=[value] * 2, mode="lines", name=name, line=LINES[style])
            fig.data[-1].hovertemplate = f"{name}: {NATS}<extra></extra>"
    ticks = _log_ticks(ks)
    fig.update_xaxes(type="log", tickvals=ticks, ticktext=[f"{t:d}" for t in ticks], title_text="k, weights averaged")
    fig.update_layout(
        height=height,
        yaxis_title="nats",
        **{**LAYOUT, "legend": dict(orientation="h", x=0, y=-0.35), "margin": room(l=90, b=105)},
    )
    return fig
