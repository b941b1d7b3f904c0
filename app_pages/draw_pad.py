"""The drawing pad: a ``st.components.v2`` component on the Your own image page where a digit drawn
with the mouse, a finger or a pen is encoded in the browser while the stroke is drawn
(``draw_prepare.js`` and ``draw_pad.js`` beside this file, one module; the payload from
``vae_core.views.canvas``). Not a page.

Both networks go to the browser once per model and session, the test codes once per model (the
latent pad's scheme: a reloaded browser asks again with the "missing" trigger). At each stroke's
end the prepared image comes back ("drawn"), and the page scores it again with torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st
import torch

from app_pages.url import presenter_scale
from vae_core.config import RunConfig
from vae_core.vae.model import VAE
from vae_core.vae.objectives import elbo_terms, log_px_importance
from vae_core.views.canvas import SCORE_DRAWS, canvas_scores, canvas_weights, score_draws
from vae_core.views.latent_figures import latent_limit
from vae_core.views.pad import pad_codes
from vae_core.views.style import PALETTE

HERE = Path(__file__).resolve().parent
HTML = """<div class="draw-root">
  <div class="draw-row">
    <div><canvas class="draw-canvas" aria-label="drawing pad: draw a digit"></canvas>
      <div class="draw-buttons"><button type="button" class="draw-undo">Undo</button>
        <button type="button" class="draw-clear">Clear</button></div></div>
    <div><canvas class="draw-plane" aria-label="latent plane with your digit's q(z|x)"></canvas>
      <div class="draw-caption">q(z|x) of your digit (red, 1σ and 2σ) over the test codes</div></div>
    <div><canvas class="draw-seen" aria-label="your digit, prepared for the encoder"></canvas>
      <div class="draw-caption">what the encoder gets</div>
      <canvas class="draw-recon" aria-label="its reconstruction"></canvas>
      <div class="draw-caption">its reconstruction E[x | z = μ]</div></div>
  </div>
  <div class="draw-readout"></div>
</div>"""
_draw = st.components.v2.component(
    "vae_lab.draw_pad",
    html=HTML,
    css=(HERE / "draw_pad.css").read_text(),
    js=(HERE / "draw_prepare.js").read_text() + (HERE / "draw_pad.js").read_text(),  # one module
)
KEY = "draw_pad"


@st.cache_data(show_spinner=False, max_entries=8)
def _weights(mid: str, _model: VAE, shape: tuple[int, int]) -> dict:
    return canvas_weights(_model, shape)


@st.cache_data(show_spinner=False, max_entries=8)
def _codes(mid: str, _mu: np.ndarray, _y: np.ndarray) -> dict:
    return pad_codes(_mu, _y, (0, 1))


def _sent() -> set[str]:
    return st.session_state.setdefault("draw_sent", set())


def _missing() -> None:
    _sent().difference_update(st.session_state[KEY].get("missing") or [])


def _drawn() -> None:
    st.session_state.draw_pixels = st.session_state[KEY].get("drawn") or None


def draw_pad_ui(model: VAE, mid: str, config: RunConfig, mu: np.ndarray, y: np.ndarray, test_elbo: float) -> None:
    """Mount the pad for an image model with at least 2 latent dimensions (it shows z1, z2)."""
    weights_id, codes_id = f"draw:{mid}", f"draw-codes:{mid}"
    data = {
        "weights_id": weights_id,
        "codes_id": codes_id,
        "dims": [0, 1],
        "bound": latent_limit(mu[:, :2]),
        "palette": list(PALETTE),
        "scale": presenter_scale(),
        "test_elbo": float(test_elbo),
    }
    sent = _sent()
    if weights_id not in sent:
        data["weights"] = _weights(mid, model, tuple(config.info.image_shape))
        sent.add(weights_id)
    if codes_id not in sent:
        data["codes"] = _codes(mid, mu, y)
        sent.add(codes_id)
    _draw(key=KEY, data=data, on_drawn_change=_drawn, on_missing_change=_missing)


def drawn_scores_ui(model: VAE, config: RunConfig) -> None:
    """The last stroke's image scored again on the server with torch: the browser's numbers with
    its own draws, and the page's usual estimates (1,000 draws for the ELBO, fresh ones for L_k)."""
    pixels = st.session_state.get("draw_pixels")
    if not pixels or len(pixels) != config.model.x_dim:
        return
    x = np.asarray(pixels, dtype=np.float32)
    mine = canvas_scores(model, x, score_draws(config.model.latent_dim))
    xt = torch.from_numpy(x)[None]
    g = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        elbo = elbo_terms(model, xt, n_samples=1000, generator=g).elbo.item()
    l_k = log_px_importance(model, xt, SCORE_DRAWS, generator=g).item()
    with st.container(key="draw_numbers", horizontal=True):
        st.metric(f"Drawn: ELBO, the pad's {SCORE_DRAWS} draws", f"{mine['elbo']:.2f}")
        st.metric(f"Drawn: L_{SCORE_DRAWS}, the pad's draws", f"{mine['l_k']:.2f}")
        st.metric("Drawn: ELBO, 1,000 fresh draws", f"{elbo:.2f}")
        st.metric(f"Drawn: L_{SCORE_DRAWS}, fresh draws", f"{l_k:.2f}")
    st.caption("Your last stroke's image scored again by the server with torch, in nats.")
