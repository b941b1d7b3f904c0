"""What every chart shares: the label palette, the grey of a collapsed unit, the hover text for
nats, one field of a run's records as an array, q(z|x)'s ellipse, and a figure enlarged for a
projector.

The palette is Okabe & Ito's (2008) seven colours (their black left out: it vanishes on a dark
theme), reordered so that the first four, which the line charts use, are the strongest, plus
three dark ones that stay apart from them: under a simulated deuteranopia, protanopia or
tritanopia (Machado et al., 2009, severity 1) no two of the ten are closer than ΔE 16 in CIELAB
(``colour.min_delta_e``; tests/core/test_colour.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

PALETTE = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#332288",  # indigo (Tol)
    "#661100",  # dark brown (Tol)
    "#5A5A5A",  # dark grey
)
COLLAPSED = "#bbbbbb"
NATS = "%{y:.3f} nats"


def column(rows: Sequence[Any], name: str, dtype: type = float) -> np.ndarray:
    """One field of step or epoch records (dataclasses or their dicts) as an array (N,)."""
    get = (lambda r: r[name]) if rows and isinstance(rows[0], dict) else (lambda r: getattr(r, name))
    return np.fromiter((get(r) for r in rows), dtype=dtype, count=len(rows))


def ellipse(mu: np.ndarray, logvar: np.ndarray, k: float = 1.0, n: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """The k-sigma ellipse of N(mu, diag(exp(logvar))) in the plane: (x (n,), y (n,))."""
    t = np.linspace(0, 2 * np.pi, n)
    sigma = np.exp(0.5 * np.asarray(logvar))
    return mu[0] + k * sigma[0] * np.cos(t), mu[1] + k * sigma[1] * np.sin(t)


def room(l: int = 10, r: int = 10, t: int = 40, b: int = 10) -> dict[str, int]:  # noqa: E741 (plotly's names)
    """A figure's margins with room for what plotly puts in them (tick labels, axis titles, a
    legend), as much as its auto-margin takes at the app's width. Plotly draws a figure, measures
    those, and draws it all a second time where its margins were too small: on the latent page that
    second draw was 0.3 s of 1.8 s in Chromium (bench/README.md, "Session 7"). Auto-expand stays on,
    so a longer label than planned (presenter mode's type, a narrow window) costs that second draw
    and is never clipped."""
    return dict(l=l, r=r, t=t, b=b)


def enlarged(fig: go.Figure, factor: float, *, font_size: int = 18) -> go.Figure:
    """The figure for a projector, in place: type at ``font_size``, and every marker, line and a
    set height or width ``factor`` times larger (what the back row must see is not only text); the
    margins grow with the type (``room``)."""
    grow = font_size / 13  # plotly's type is 12 px
    for side in ("l", "r", "b"):  # (fixed margins, autoexpand off, were sized for this type already)
        if fig.layout.margin[side] is not None and fig.layout.margin.autoexpand is not False:
            fig.layout.margin[side] = round(fig.layout.margin[side] * grow)
    fig.update_layout(font_size=font_size)
    for side in ("height", "width"):
        if fig.layout[side]:
            fig.layout[side] = round(fig.layout[side] * factor)
    for trace in fig.data:
        marker, line = getattr(trace, "marker", None), getattr(trace, "line", None)
        if marker is not None and isinstance(marker.size, int | float):
            marker.size = marker.size * factor
        if marker is not None and marker.line is not None and isinstance(marker.line.width, int | float):
            marker.line.width = marker.line.width * factor
        if line is not None and isinstance(line.width, int | float):
            line.width = line.width * factor
    for note in fig.layout.annotations:  # subplot titles: sized ones grow, the rest take font_size
        if note.font.size:
            note.font.size = note.font.size * factor
    return fig
