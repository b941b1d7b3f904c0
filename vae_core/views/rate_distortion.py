"""The rate-distortion plane of a β sweep (Alemi et al., 2018, "Fixing a broken ELBO").

Each model is a point: distortion D = -E_q[log p(x|z)] across, rate R = KL(q(z|x) ‖ p(z)) up,
both test-set means in nats. The ELBO is -(D + R), so the lines of equal ELBO are the lines
D + R = c, of slope -1; training with weight β on the KL moves a model along the trade-off, and
the β = 1 objective is the one that ranks models by these lines.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from vae_core.views.style import PALETTE


def rate_distortion(epochs: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """A run's path on the plane, one point per epoch: (D, R) arrays from its test-set terms."""
    get = (lambda e, k: e[k]) if epochs and isinstance(epochs[0], dict) else getattr
    d = np.array([-float(get(e, "test_recon")) for e in epochs])
    r = np.array([float(get(e, "test_kl")) for e in epochs])
    return d, r


def _nice_step(span: float, lines: int) -> float:
    raw = max(span, 1e-9) / lines
    power = 10 ** math.floor(math.log10(raw))
    return max(m * power for m in (1, 2, 5) if m * power <= raw)  # at least ``lines`` lines


def iso_elbo_lines(d_range: tuple[float, float], r_range: tuple[float, float], lines: int = 6) -> list[float]:
    """Round values c of D + R (ELBO = -c) whose lines cross the window, about ``lines`` of them."""
    lo, hi = d_range[0] + r_range[0], d_range[1] + r_range[1]
    step = _nice_step(hi - lo, lines)
    first = math.floor(lo / step) * step
    levels = (round(first + i * step, 10) for i in range(int((hi - first) / step) + 2))
    return [c for c in levels if lo < c < hi]  # a line through a corner alone is no line


def _window(values: np.ndarray) -> tuple[float, float]:
    lo, hi = float(values.min()), float(values.max())
    pad = max(0.08 * (hi - lo), 0.5)
    return lo - pad, hi + pad


def rate_distortion_figure(
    members: Sequence[tuple[float, Sequence[Any], str]], *, height: int = 520, picked: float | None = None
) -> go.Figure:
    """The plane with each member's path over training and its latest point on top.

    ``members`` are (β, epoch records, status). The latest points form the one clickable trace:
    its ``customdata`` is (member index, β), so a click names the run. Dotted: iso-ELBO lines."""
    paths = [(beta, *rate_distortion(epochs), status) for beta, epochs, status in members if len(epochs)]
    fig = go.Figure()
    if not paths:
        return fig.update_layout(height=height, title="No model of this sweep is trained yet")
    all_d = np.concatenate([p[1] for p in paths])
    all_r = np.concatenate([p[2] for p in paths])
    dx, ry = _window(all_d), _window(np.concatenate([all_r, [0.0]]))
    _iso_elbo(fig, dx, ry)
    _members(fig, paths, {beta: i for i, (beta, _, _) in enumerate(members)}, picked)
    fig.update_xaxes(title_text="distortion D = −E_q[log p(x|z)] (nats)", range=list(dx))
    fig.update_yaxes(title_text="rate R = KL(q(z|x) ‖ p(z)) (nats)", range=list(ry))
    title = "The β sweep on the rate–distortion plane (dotted: equal ELBO = −(D + R))"
    fig.update_layout(height=height, title=title, margin=dict(l=10, r=10, t=50, b=10), clickmode="event+select")
    return fig


def _iso_elbo(fig: go.Figure, dx: tuple[float, float], ry: tuple[float, float]) -> None:
    """Dotted lines D + R = c across the window, each labelled with its ELBO = -c."""
    for c in iso_elbo_lines(dx, ry):
        d = np.array([dx[0], dx[1]])
        fig.add_scatter(
            x=d, y=c - d, mode="lines", line=dict(color="#999", dash="dot", width=1), showlegend=False,
            hovertemplate=f"ELBO = {-c:g} nats (D + R = {c:g})<extra></extra>", meta=f"iso-ELBO {c:g}",
        )  # fmt: skip
        fig.add_annotation(
            x=dx[1], y=c - dx[1], text=f"ELBO {-c:g}", showarrow=False, xanchor="right", yanchor="bottom"
        )


def _members(fig: go.Figure, paths: list[tuple[Any, ...]], index: dict[float, int], picked: float | None) -> None:
    """Each member's path (thin) and its latest point (the one clickable trace, on top)."""
    for j, (beta, d, r, _status) in enumerate(paths):
        color = PALETTE[j % len(PALETTE)]
        fig.add_scatter(
            x=d, y=r, mode="lines", line=dict(color=color, width=1.5), opacity=0.5, showlegend=False,
            hoverinfo="skip", meta=f"path β={beta:g}",
        )  # fmt: skip
    last_d = [p[1][-1] for p in paths]
    last_r = [p[2][-1] for p in paths]
    sizes = [22 if picked is not None and p[0] == picked else 14 for p in paths]
    fig.add_scatter(
        x=last_d,
        y=last_r,
        mode="markers+text",
        text=point_labels([p[0] for p in paths], last_d, last_r),
        textposition="top right",
        marker=dict(
            size=sizes,
            color=[PALETTE[j % len(PALETTE)] for j in range(len(paths))],
            line=dict(width=1.5, color="white"),
        ),
        customdata=[[index[p[0]], p[0]] for p in paths],
        hovertemplate="β = %{customdata[1]:g}<br>D = %{x:.2f} nats, R = %{y:.2f} nats<br>"
        "click to open this run<extra></extra>",
        showlegend=False,
        meta="members",
    )


def point_labels(betas: list[float], d: list[float], r: list[float], close: float = 0.1) -> list[str]:
    """The label beside each point, "β=…"; members that sit on one spot (within ``close`` nats on
    both axes, e.g. every collapsed β at R = 0) share one label ("β=4, 8") on the first of them."""
    labels = [f"β={b:g}" for b in betas]
    for j in range(len(betas)):
        for i in range(j):
            if labels[i] and abs(d[i] - d[j]) < close and abs(r[i] - r[j]) < close:
                labels[i], labels[j] = f"{labels[i]}, {betas[j]:g}", ""
                break
    return labels
