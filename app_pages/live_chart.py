"""The live chart: a ``st.components.v2`` component that draws a training run's charts on a
canvas while it trains (``live_chart.js`` beside this file): the curves, β, KL per dimension and
the codes picture, from ``vae_core.views.live``'s payloads. Not a page; the Train page mounts it.

Each poll sends the whole payload (a few tens of kB) and the chart redraws its canvas, where a
plotly chart would be mounted anew; a finished run's charts are plotly's (hover, zoom, export).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from app_pages.url import presenter_scale

HERE = Path(__file__).resolve().parent
HTML = '<div class="live-root"><canvas class="live-canvas" role="img"></canvas></div>'
_chart = st.components.v2.component(
    "vae_lab.live_chart",
    html=HTML,
    css=(HERE / "live_chart.css").read_text(),
    js=(HERE / "chart_canvas.js").read_text() + (HERE / "live_chart.js").read_text(),
)


def live_chart_ui(payload: dict[str, Any], key: str, height: int, label: str) -> None:
    """Mount (or redraw) the live chart ``key``: ``payload`` from vae_core.views.live, ``height``
    CSS pixels (times the presenter scale), ``label`` what a screen reader says of it."""
    scale = presenter_scale()
    _chart(key=key, data=payload | {"height": round(height * scale), "scale": scale, "label": label})
