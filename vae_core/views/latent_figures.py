"""Charts of the latent space and of the data: codes coloured by label, and points in the plane
beside the model's samples."""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from vae_core.views.arrays import png_data_uri, tile
from vae_core.views.colour import rgb
from vae_core.views.style import PALETTE, room

PRIOR_LIMIT = 3.0  # the latent plane shows at least ±3: the prior N(0, I) holds 99.7% of each axis there
PICTURE_SIDE = 640  # pixels a side of ``codes_picture``: about twice the plane's size on screen
DISC_RADIUS = 5.5  # pixels, at PICTURE_SIDE: about a 6 px marker of ``latent_scatter`` on a 350 px plane
MARKER = dict(size=22, symbol="x", color="crimson", line=dict(width=2, color="white"))  # filled, outlined ✕


def latent_limit(*coords: np.ndarray) -> float:
    """Half the side of a square latent window: at least the prior's ±3, and every code inside it
    (rounded up to a whole number), so a collapsed model's codes show as the dot they are."""
    top = max((float(np.abs(c).max()) for c in coords if np.size(c)), default=0.0)
    return float(max(PRIOR_LIMIT, np.ceil(top)))


def latent_scatter(
    x: np.ndarray,
    y: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    *,
    marker: tuple[float, float] | None = None,
    marker_name: str = "your image",
    picked: int | None = None,
    titles: tuple[str, str] = ("z1", "z2"),
    lim: float | None = None,
    prior: bool = False,
    one_d: bool = False,
    height: int = 460,
    gl: bool = True,
) -> go.Figure:
    """Codes (N,) x (N,) as a trace per class (customdata = test-set row, so a click names its
    row; a legend click shows that class alone), a picked point and a marker on top.

    ``lim`` fixes both axes to [-lim, lim] (the prior's scale: see ``latent_limit``), only x for
    ``one_d`` (z1 against the jittered label); ``prior`` draws the prior's 1, 2 and 3σ circles
    underneath. ``gl=False`` draws SVG instead of WebGL:
    for a few hundred points and a chart redrawn while a run trains, that is ~50 ms against
    ~200 ms for a fresh WebGL context per redraw. Marks on top are of the codes' kind: plotly
    draws WebGL traces over SVG ones, so an SVG marker would hide under 10,000 codes."""
    labels = np.asarray(labels)
    kind = go.Scattergl if gl else go.Scatter
    fig = go.Figure()
    if prior:
        _prior_rings(fig)
    # Many codes: each class in several layers, interleaved (0, 1, …, 9, 0, 1, …), so that no class
    # is drawn entirely over another; a layer's legend group is its class.
    layers = min(5, 1 + len(labels) // 2000)
    for layer in range(layers):
        for name, rows, color in _classes(labels, class_names):
            part = np.array_split(rows, layers)[layer]
            fig.add_trace(kind(x=x[part], y=y[part], customdata=part, name=name, mode="markers", marker=color))
            fig.data[-1].update(legendgroup=name, showlegend=layer == 0)
            fig.data[
                -1
            ].hovertemplate = f"test image #%{{customdata}}: {name}<br>(%{{x:.2f}}, %{{y:.2f}})<extra></extra>"
    if picked is not None:
        ring = dict(size=18, color="rgba(0,0,0,0)", line=dict(width=3, color="black"))
        _mark(fig, kind, (x[picked], y[picked]), f"test image #{picked}", ring)
    if marker is not None:
        _mark(fig, kind, marker, marker_name, MARKER)
    _plane_layout(fig, titles, height, lim, one_d, clicks=True)
    fig.update_layout(showlegend=bool(len(class_names)) or marker is not None)
    return fig


def codes_payload(
    x: np.ndarray,
    y: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    *,
    rows: np.ndarray | None = None,
    picked: int | None = None,
    picked_name: str | None = None,
    marker: tuple[float, float] | None = None,
    marker_name: str = "your image",
    curves: Sequence[dict[str, Any]] = (),
    titles: tuple[str, str] = ("z1", "z2"),
    lim: float | None = None,
    prior: bool = False,
    one_d: bool = False,
    height: int = 460,
    view_id: str | None = None,
) -> dict[str, Any]:
    """What the codes chart (``app_pages/codes_chart.js``) draws: ``latent_scatter``'s chart, the
    codes (N,) x (N,) as base64 float32 (x, y) pairs in drawing order (``draw_order``), the
    test-set row (uint32: ``rows``, default 0 .. N-1) and the class (uint8, an index into
    ``classes``) of each; ``picked`` a test-set row to ring (named ``picked_name``, default "test
    image #row"), ``marker`` a point to mark on top (``MARKER``'s red ✕, named ``marker_name``),
    ``curves`` lines over the codes (each ``{"name", "x", "y", "color", "dash"}``, ``dash`` one of
    "solid", "dash", "dot"), each with its legend entry; ``lim`` and
    ``one_d`` fix the ranges as there (None: the data's extent). ``codes_id`` hashes the codes: the
    chart decodes them again only when it changes. ``view_id`` (default ``codes_id``) says when
    the chart is another one: it keeps its zoom and legend choice while that stays the same (the
    Replay page's moments of one run share one)."""
    labels = np.asarray(labels)
    classes = _classes(labels, class_names)
    order = draw_order(len(labels))
    xy = np.column_stack([np.asarray(x), np.asarray(y)])[order]
    square = lim is not None and not one_d
    n = len(labels)
    parts = [
        np.ascontiguousarray(xy, dtype="<f4").tobytes(),
        (order if rows is None else np.asarray(rows)[order]).astype("<u4").tobytes(),
        _class_index(labels, classes)[order].astype(np.uint8).tobytes(),
    ]
    xy_b64, rows_b64, labels_b64 = (base64.b64encode(p).decode("ascii") for p in parts)
    codes_id = hashlib.blake2b(b"".join(parts), digest_size=8).hexdigest()
    return {
        "codes_id": codes_id,
        "view_id": view_id or codes_id,
        "xy": xy_b64,
        "rows": rows_b64,
        "labels": labels_b64,
        "classes": [[name, style["color"]] for name, _, style in classes],
        "titles": list(titles),
        "x_range": [-lim, lim] if lim is not None else None,
        "y_range": [-lim, lim] if square else None,
        "square": square,
        "prior": prior,
        "picked": picked,
        "picked_name": picked_name or f"test image #{picked}",
        "marker": None if marker is None else [float(marker[0]), float(marker[1])],
        "marker_name": marker_name,
        "marker_color": MARKER["color"],
        "curves": [_curve(c) for c in curves],
        "height": height,
        "label": f"{n:,} test codes, {titles[0]} across, {titles[1]} up, coloured by label",
    }


def _curve(c: dict[str, Any]) -> dict[str, Any]:
    xy = np.column_stack([np.asarray(c["x"], dtype=float), np.asarray(c["y"], dtype=float)])
    dash = c.get("dash", "solid")
    return {"name": c["name"], "xy": np.round(xy, 5).ravel().tolist(), "color": c["color"], "dash": dash}


def draw_order(n: int) -> np.ndarray:
    """The order codes are drawn in, one fixed shuffle: no class lies wholly over another."""
    return np.random.default_rng(0).permutation(n)


def codes_picture_parts(
    x: np.ndarray, y: np.ndarray, labels: np.ndarray, class_names: Sequence[str], lim: float
) -> tuple[str, list[tuple[str, str]]]:
    """The codes on [-lim, lim]² as one PNG (a data URI, top row at +lim) and the legend that
    names its colours, (class name, colour) per class present: what the live chart of a training
    run draws (``vae_core.views.live``), with no marker per code for the browser to redraw."""
    classes = _classes(np.asarray(labels), class_names)
    colours = [marker["color"] for _, _, marker in classes]
    picture = codes_picture(x, y, _class_index(labels, classes), colours, lim)
    return png_data_uri(picture, level=1), [(name, marker["color"]) for name, _, marker in classes]


def codes_picture(
    x: np.ndarray, y: np.ndarray, colour_of: np.ndarray, colours: Sequence[str], lim: float, side: int = PICTURE_SIDE
) -> np.ndarray:
    """The codes (x, y) in [-lim, lim]² as discs of their colour (``colours[colour_of]``, 80%
    opaque) on a transparent RGBA picture (side, side, 4), top row at +lim. The discs are drawn
    in one fixed shuffled order, so no class lies wholly over another."""
    rgba = np.column_stack([np.rint(rgb(colours) * 255), np.full(len(colours), 204)]).astype(np.uint8)
    order = draw_order(len(x))
    col = np.floor((np.asarray(x)[order] + lim) / (2 * lim) * side).astype(np.int64)
    row = np.floor((lim - np.asarray(y)[order]) / (2 * lim) * side).astype(np.int64)
    paint = rgba[np.asarray(colour_of)[order]]
    picture = np.zeros((side, side, 4), np.uint8)
    r = DISC_RADIUS * side / PICTURE_SIDE
    for dy in range(-math.ceil(r), math.ceil(r) + 1):
        for dx in range(-math.ceil(r), math.ceil(r) + 1):
            if dx * dx + dy * dy > r * r:
                continue
            rr, cc = row + dy, col + dx
            inside = (rr >= 0) & (rr < side) & (cc >= 0) & (cc < side)
            picture[rr[inside], cc[inside]] = paint[inside]  # a later disc covers an earlier one
    return picture


def _class_index(labels: np.ndarray, classes: list[tuple[str, np.ndarray, dict[str, Any]]]) -> np.ndarray:
    """Each code's position in ``classes`` (the colour it is drawn in)."""
    index = np.zeros(len(labels), np.int64)
    for i, (_, rows, _) in enumerate(classes):
        index[rows] = i
    return index


def _plane_layout(
    fig: go.Figure, titles: tuple[str, str], height: int, lim: float | None, one_d: bool, clicks: bool
) -> None:
    """The latent plane's axes and legend: square on [-lim, lim]² (only x for ``one_d``); a legend
    click shows that class alone where ``clicks``."""
    fig.update_layout(
        xaxis_title=titles[0],
        yaxis_title=titles[1],
        height=height,
        margin=room(l=70, r=175, t=40, b=70),  # the top 40 px: under the chart's toolbar
        legend=dict(
            title_text="label",
            itemclick="toggleothers" if clicks else False,
            itemdoubleclick="toggle" if clicks else False,
            itemsizing="constant",
            tracegroupgap=0,
        ),
        clickmode="event+select",
        dragmode="pan",
    )
    if lim is not None:
        fig.update_xaxes(range=[-lim, lim], constrain="domain")
    if lim is not None and not one_d:
        fig.update_yaxes(range=[-lim, lim], scaleanchor="x", scaleratio=1, constrain="domain")


def _classes(labels: np.ndarray, class_names: Sequence[str]) -> list[tuple[str, np.ndarray, dict[str, Any]]]:
    """(name, test-set rows, marker) per class present; one grey-free group if there are no names."""
    if not len(class_names):
        return [("test codes", np.arange(len(labels)), dict(size=5, color=PALETTE[0]))]
    out = []
    for c, name in enumerate(class_names):
        rows = np.flatnonzero(labels == c)
        out.append((name, rows, dict(size=6, opacity=0.8, color=PALETTE[c % len(PALETTE)])))
    return out


def _prior_rings(fig: go.Figure) -> None:
    """The prior's 1, 2 and 3σ circles (dotted grey), one legend entry for the three."""
    t = np.linspace(0, 2 * np.pi, 121)
    for k in (1, 2, 3):
        fig.add_scatter(x=k * np.cos(t), y=k * np.sin(t), mode="lines", name="prior N(0, I): 1, 2, 3σ")
        fig.data[-1].update(line=dict(color="#999999", width=1, dash="dot"), hoverinfo="skip")
        fig.data[-1].update(legendgroup="prior", showlegend=k == 1)


def _mark(fig: go.Figure, kind: Any, point: tuple[float, float], name: str, marker: dict[str, Any]) -> None:
    """One point drawn over the codes (the last trace: on top), not a class of its own."""
    fig.add_trace(kind(x=[point[0]], y=[point[1]], mode="markers", name=name, marker=marker, hoverinfo="name"))


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


def manifold_figure(images: np.ndarray, codes: np.ndarray, names: Sequence[str], *, min_size: int = 28) -> go.Figure:
    """The decoder's map: images (N, H, W) in rows of sqrt(N) (one row for one dim) as one sharp
    picture, each tile at least ``min_size`` pixels, with the z of each tile on hover.
    ``codes`` (N, len(names)): the moving dims' values per image (``arrays.manifold_codes``)."""
    n, h, w = images.shape
    ncols = n if codes.shape[1] == 1 else round(math.sqrt(n))
    picture = tile(images, ncols, min_size=min_size)  # gutters of 1 px between tiles
    s = max(1, math.ceil(min_size / max(h, w)))
    r, c = np.divmod(np.arange(n), ncols)
    hover = "<br>".join(f"{name} = %{{customdata[{i}]:.2f}}" for i, name in enumerate(names))
    fig = go.Figure(go.Image(source=png_data_uri(picture), x0=0, y0=0, dx=1, dy=1, zsmooth=False, hoverinfo="skip"))
    fig.add_scatter(
        x=c * (w * s + 1) + w * s / 2,
        y=r * (h * s + 1) + h * s / 2,
        customdata=codes,
        mode="markers",
        marker=dict(size=max(4, h * s // 2), opacity=0),  # invisible: it only carries the hover
        hovertemplate=hover + "<extra></extra>",
        name="z at each tile",
    )
    fig.update_xaxes(visible=False, range=[0, picture.shape[1]])
    fig.update_yaxes(visible=False, range=[picture.shape[0], 0], scaleanchor="x")
    fig.update_layout(
        width=picture.shape[1] + 20,
        height=picture.shape[0] + 20,
        margin=dict(l=10, r=10, t=10, b=10),
        showlegend=False,
        dragmode=False,
        hovermode="closest",
    )
    return fig
