"""The codes chart: a ``st.components.v2`` component that draws the test set's codes on a canvas
(``codes_chart.js`` beside this file), with hover, a click that picks a test image, a legend
that shows one class alone, zoom, pan and a PNG button. Not a page; the Latent space page mounts
it for its z-plane and its PCA / t-SNE view. A plotly chart of the same 10,000 WebGL markers was
most of that page's time to open (session 9, ``bench/README.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from app_pages.url import presenter_scale

HERE = Path(__file__).resolve().parent
HTML = """<div class="codes-root">
  <canvas class="codes-canvas" role="img"></canvas>
  <div class="codes-tip" hidden></div>
  <button class="codes-save" type="button" title="Save this chart as a PNG picture">PNG</button>
</div>"""
_chart = st.components.v2.component(
    "vae_lab.codes_chart",
    html=HTML,
    css=(HERE / "codes_chart.css").read_text(),
    js=(HERE / "chart_canvas.js").read_text() + (HERE / "codes_chart.js").read_text(),
)


def codes_chart_ui(payload: dict[str, Any], key: str, on_pick: Callable[[int], None] | None = None) -> None:
    """Mount (or redraw) the codes chart ``key`` for ``payload`` (``latent_figures.codes_payload``);
    ``on_pick(row)`` runs when a code is clicked (the test-set row it belongs to)."""
    scale = presenter_scale()
    presenting = bool(st.session_state.get("presenter"))  # presenter mode hides the charts' toolbars
    data = payload | {
        "height": round(payload["height"] * scale),
        "scale": scale,
        "filename": key,
        "toolbar": not presenting,
    }

    def picked() -> None:
        row = (st.session_state.get(key) or {}).get("picked")
        if on_pick is not None and row is not None:
            on_pick(int(row))

    _chart(key=key, data=data, on_picked_change=picked)
