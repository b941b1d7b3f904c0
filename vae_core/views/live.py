"""What a run's live charts draw while it trains: plain, JSON-ready data for the canvas of
``app_pages/live_chart.js``, the same numbers as the plotly figures a finished run gets.

A poll redraws the Train page's charts every second or three. As plotly figures that was a
remount of each chart in the browser, 10 s of a 45 s MNIST run on a 2-core machine that also
trains it (bench/README.md, "Session 8"); a canvas redraw of the same lines is a millisecond or
two. The finished run's charts are plotly's again, with hover, zoom and the camera button.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from vae_core.vae.evaluate import encode_dataset
from vae_core.vae.model import VAE
from vae_core.views.latent_figures import codes_picture_parts, latent_limit
from vae_core.views.style import COLLAPSED, PALETTE, column
from vae_core.views.training_figures import (
    BETA_POINTS,
    BETA_TITLE,
    CURVE_TITLES,
    curve_series,
    kl_bar_parts,
    thinned,
)

PLOTLY_LINE_WIDTH = 2  # plotly's default, for a curve that names none


def finite(values: np.ndarray, digits: int = 4) -> list[float | None]:
    """``values`` as a JSON list: rounded, with None (a gap in the line) for NaN and ±inf, which
    JSON has no word for (a diverged run's last steps)."""
    return [round(v, digits) if math.isfinite(v) else None for v in np.asarray(values, dtype=float).tolist()]


def curves_payload(steps: Sequence[Any], epochs: Sequence[Any], *, max_points: int = 1000) -> dict[str, Any]:
    """``training_curves`` as the live chart's three panels (reconstruction, KL, ELBO)."""
    series = []
    for c in curve_series(steps, epochs, max_points):
        series.append(
            {
                "panel": c.row - 1,
                "name": c.kind,
                "color": c.color,
                "width": c.style.get("width", PLOTLY_LINE_WIDTH),
                "dash": c.style.get("dash"),
                "opacity": c.style.get("opacity", 1.0),
                "markers": "markers" in c.style.get("mode", "lines"),
                "x": np.asarray(c.x).tolist(),
                "y": finite(c.y),
            }
        )
    panels = [{"title": title, "y_title": "nats"} for title in CURVE_TITLES]
    return {"kind": "lines", "panels": panels, "x_title": "optimizer step", "series": series, "legend": True}


def beta_payload(steps: Sequence[Any], changes: Sequence[tuple[int, float]] = ()) -> dict[str, Any]:
    """``beta_schedule_figure`` for the live chart: β by step (a step line) and the live changes."""
    kept = thinned(steps, BETA_POINTS)
    line = {"panel": 0, "name": "β", "color": PALETTE[1], "width": PLOTLY_LINE_WIDTH, "shape": "hv"}
    series = [line | {"x": column(kept, "step", int).tolist(), "y": finite(column(kept, "beta"))}]
    if changes:
        marks = {"panel": 0, "name": "moved live", "color": COLLAPSED, "markers": True, "lines": False}
        series.append(marks | {"x": [s + 1 for s, _ in changes], "y": finite([b for _, b in changes])})
    panel = {"title": BETA_TITLE, "y_title": "β", "from_zero": True}
    return {"kind": "lines", "panels": [panel], "x_title": "optimizer step", "series": series, "legend": False}


def kl_payload(kl_per_dim: Sequence[float], active_units: int) -> dict[str, Any]:
    """``kl_bars`` for the live chart: test-set KL per latent dimension, a collapsed unit grey."""
    labels, colors, title = kl_bar_parts(kl_per_dim, active_units)
    return {
        "kind": "bars",
        "title": title,
        "y_title": "nats",
        "labels": labels,
        "colors": colors,
        "y": finite(kl_per_dim),
    }


def codes_payload(
    x: np.ndarray, y: np.ndarray, labels: np.ndarray, class_names: Sequence[str], *, lim: float
) -> dict[str, Any]:
    """The latent scatter for the live chart: every code in one picture on [-lim, lim]² (however
    many codes, the browser draws one picture), the prior's 1, 2 and 3σ circles, and a legend of
    the colours."""
    picture, legend = codes_picture_parts(x, y, labels, class_names, lim)
    entries = [list(entry) for entry in legend]
    return {"kind": "codes", "picture": picture, "lim": float(lim), "legend": entries, "titles": ["z1", "z2"]}


@dataclass(frozen=True)
class LiveModelViews:
    """What the Train page shows of a running run's model: the first test images' reconstructions
    E[x | z = μ(x)] and, for a 2-D latent, the codes' payload (None otherwise)."""

    reconstructions: torch.Tensor
    codes: dict[str, Any] | None


_views: weakref.WeakKeyDictionary[VAE, LiveModelViews] = weakref.WeakKeyDictionary()
_views_lock = threading.Lock()


def live_model_views(
    model: VAE, x: torch.Tensor, labels: np.ndarray, class_names: Sequence[str], *, n_shown: int, images: bool
) -> LiveModelViews:
    """``LiveModelViews`` of ``model``, the job's model as of one publish of its weights (one
    object per publish, shared by every viewer of the run: ``Job.live_model``), for the test set
    ``x`` (rows of pixels where ``images``) and its ``labels``: made once for all of them. A
    class of 30 watching one MNIST run would otherwise encode the 10,000 test images 30 times
    every 3 s, on the cores that train it."""
    with _views_lock:  # viewers of the same publish wait for the first one's result
        found = _views.get(model)
        if found is None:
            with torch.inference_mode():
                recon = model(x[:n_shown]) if images else x[:0]
                codes = None
                if model.config.latent_dim == 2:
                    mu = encode_dataset(model, x)[0].numpy()
                    codes = codes_payload(mu[:, 0], mu[:, 1], labels, class_names, lim=latent_limit(mu))
            found = _views[model] = LiveModelViews(recon, codes)
        return found
