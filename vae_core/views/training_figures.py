"""Charts of how a run trains: the loss terms per step and per epoch, KL per latent dimension,
and several runs' test curves overlaid. All numbers are nats per example."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from vae_core.views.style import COLLAPSED, NATS, PALETTE, column, room

CURVE_TITLES = ("Reconstruction  E_q[log p(x|z)]", "KL(q(z|x) ‖ p(z))", "ELBO")
BETA_TITLE = "β, the weight of the KL term in the loss, by step"
BETA_POINTS = 1000  # the β chart's steps are thinned to at most this many
MARKED_EPOCHS = 60  # up to this many epoch points get markers; beyond, styling each marker costs the browser


def training_curves(steps: Sequence[Any], epochs: Sequence[Any], *, max_points: int = 1000) -> go.Figure:
    """Reconstruction term, KL (raw and beta-weighted) and ELBO against the optimizer step:
    per step (training batches, thinned to at most ``max_points``) and per epoch (train and test).

    The subplot titles name the three panels, so the legend names only what differs, once each
    (each training batch, β·KL, the train and the test set per epoch); a legend click toggles that
    kind in all three panels. Each trace's own name (e.g. "KL test (epoch)") is its ``meta``.

    Redrawn every second while a run trains, so it is built cheaply: only the kept steps are
    read, traces are plain dicts over one cached subplot layout, and the thinning keeps every
    ``2**j``-th step, so a live curve's points stay put and only halve now and then.
    """
    curves = curve_series(steps, epochs, max_points)
    traces = [_line(c.row, c.x, c.y, c.name, c.kind, c.color, **c.style) for c in curves]
    seen: set[str] = set()
    for trace in traces:  # one legend entry per kind, on its first trace
        trace["showlegend"] = trace["legendgroup"] not in seen
        seen.add(trace["legendgroup"])
    return go.Figure(data=traces, layout=_curves_layout())


@dataclass(frozen=True)
class Curve:
    """One line of the training curves: on panel ``row`` (1 recon, 2 KL, 3 ELBO), ``name`` its
    own, ``kind`` its legend entry (shared by the three panels), ``style`` plotly's line style
    (``mode``, ``opacity``, ``width``, ``dash``). The plotly figure and the live chart
    (``vae_core.views.live``) draw the same list."""

    row: int
    x: np.ndarray
    y: np.ndarray
    name: str
    kind: str
    color: str
    style: dict[str, Any]


def curve_series(steps: Sequence[Any], epochs: Sequence[Any], max_points: int = 1000) -> list[Curve]:
    """The curves of ``training_curves``: per step (thinned to at most ``max_points``) the three
    terms and β·KL, per epoch the train and test set's."""
    kept = thinned(steps, max_points)
    out = []
    if kept:
        x = column(kept, "step", int)
        kl = column(kept, "kl")
        batch = dict(width=1, opacity=0.6)
        for row, (name, y) in enumerate(
            (("recon", column(kept, "recon")), ("KL", kl), ("ELBO", column(kept, "elbo"))), 1
        ):
            out.append(Curve(row, x, y, f"{name} (batch)", "each training batch", PALETTE[0], batch))
        name = "β·KL (batch, in the loss)"
        beta_kl = column(kept, "beta") * kl
        out.append(Curve(2, x, beta_kl, name, name, PALETTE[1], dict(width=1, dash="dot", opacity=0.8)))
    if epochs:
        x = column(epochs, "step", int)
        mode = "lines+markers" if len(epochs) <= MARKED_EPOCHS else "lines"
        for row, (term, name) in enumerate((("recon", "recon"), ("kl", "KL"), ("elbo", "ELBO")), 1):
            for split, color in (("train", PALETTE[2]), ("test", PALETTE[3])):
                y = column(epochs, f"{split}_{term}")
                kind = f"{split} set, per epoch"
                out.append(Curve(row, x, y, f"{name} {split} (epoch)", kind, color, {"mode": mode}))
    return out


def thinned(rows: Sequence[Any], max_points: int) -> Sequence[Any]:
    """Every ``2**j``-th row (the smallest such stride that leaves at most ``max_points``)."""
    stride = 1
    while len(rows) > stride * max_points:
        stride *= 2
    return rows[::stride]


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


def _line(row: int, x: np.ndarray, y: np.ndarray, name: str, kind: str, color: str, **style: Any) -> dict[str, Any]:
    """A scatter trace on subplot ``row`` of the training curves, as a plain dict: ``name`` its own,
    ``kind`` its legend entry (shared by the three panels)."""
    style = dict(style)
    mode = style.pop("mode", "lines")
    opacity = style.pop("opacity", 1.0)
    axis = "" if row == 1 else str(row)
    return dict(
        type="scatter",
        x=x,
        y=y.astype(np.float32),  # sent as base64 (plotly 6): half the bytes, ample for 3 decimals
        xaxis=f"x{axis}",
        yaxis=f"y{axis}",
        name=kind,
        legendgroup=kind,
        meta=name,
        mode=mode,
        opacity=opacity,
        line=dict(color=color, **style),
        marker=dict(size=5),
        hovertemplate=f"{name}<br>step %{{x}}: {NATS}<extra></extra>",
    )


def with_cursor(fig: go.Figure, step: int) -> go.Figure:
    """A vertical line at ``step`` through every panel of ``training_curves`` (shared x axes)."""
    line = dict(color=COLLAPSED, width=2)
    fig.add_shape(type="line", x0=step, x1=step, xref="x", yref="paper", y0=0, y1=1, line=line, name="cursor")
    return fig


def beta_schedule_figure(steps: Sequence[Any], changes: Sequence[tuple[int, float]] = ()) -> go.Figure:
    """β, the weight of the KL term, against the optimizer step (a KL warm-up's ramp, a live
    change's jump); ``changes`` (0-based step, β) are marked where a person moved β."""
    kept = thinned(steps, BETA_POINTS)
    x, y = column(kept, "step", int), column(kept, "beta")
    fig = go.Figure(go.Scatter(x=x, y=y, mode="lines", line=dict(color=PALETTE[1], shape="hv"), name="β"))
    fig.data[0].hovertemplate = "step %{x}: β = %{y:.3g}<extra></extra>"
    if changes:  # markers, not lines: a slider moved by keyboard makes a change per key press
        cx, cy = [s + 1 for s, _ in changes], [b for _, b in changes]
        marks = dict(symbol="diamond", size=10, color=COLLAPSED, line=dict(width=1, color="white"))
        fig.add_scatter(x=cx, y=cy, mode="markers", marker=marks, name="moved live", meta="changes")
        fig.data[-1].hovertemplate = "moved to β = %{y:g} at step %{x}<extra></extra>"
    fig.update_layout(
        title=BETA_TITLE,
        xaxis_title="optimizer step",
        yaxis=dict(title="β", rangemode="tozero"),
        height=240,
        margin=dict(l=80, r=200, t=40, b=40),
        showlegend=False,
    )
    return fig


def kl_bar_parts(
    kl_per_dim: Sequence[float], active_units: int, *, threshold: float = 0.01
) -> tuple[list[str], list[str], str]:
    """The bars' labels (z1, z2, ...), colours (grey: a collapsed unit, under ``threshold`` nats)
    and title: what ``kl_bars`` and the live chart (``vae_core.views.live``) draw."""
    colors = [PALETTE[0] if v >= threshold else COLLAPSED for v in np.asarray(kl_per_dim, dtype=float)]
    title = f"KL per latent dimension — {active_units} of {len(colors)} units active"
    return [f"z{d + 1}" for d in range(len(colors))], colors, title


def kl_bars(kl_per_dim: Sequence[float], active_units: int, *, threshold: float = 0.01) -> go.Figure:
    """Test-set KL per latent dimension; a bar near 0 is a collapsed unit (q(z_d|x) = p(z_d))."""
    labels, colors, title = kl_bar_parts(kl_per_dim, active_units, threshold=threshold)
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=np.asarray(kl_per_dim, dtype=float),
            marker_color=colors,
            hovertemplate="%{x}: KL %{y:.4f} nats<extra></extra>",
        )
    )
    fig.update_layout(
        title=title,
        yaxis_title="nats",
        height=300,
        margin=room(l=75, t=40, b=40),
    )
    return fig


def compare_curves(runs: dict[str, Sequence[Any]], *, height: int = 520) -> go.Figure:
    """Test-set reconstruction, KL and ELBO per epoch for several runs, overlaid (one colour each).
    ``runs`` maps a name to its epoch records (``EpochInfo`` or their dicts)."""
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.07, subplot_titles=CURVE_TITLES)
    for i, (name, epochs) in enumerate(runs.items()):
        if not epochs:
            continue
        for row, term in enumerate(("test_recon", "test_kl", "test_elbo"), 1):
            x, y = column(epochs, "epoch", int), column(epochs, term)
            fig.add_scatter(x=x, y=y, name=name, legendgroup=name, showlegend=row == 1, row=row, col=1)
            fig.data[-1].update(mode="lines+markers", line=dict(color=PALETTE[i % len(PALETTE)]))
            fig.data[-1].hovertemplate = f"{name}<br>epoch %{{x}}: {NATS}<extra></extra>"
    fig.update_xaxes(title_text="epoch", row=3, col=1)
    fig.update_yaxes(title_text="nats")
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.12))
    return fig
