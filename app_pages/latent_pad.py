"""The latent pad: a ``st.components.v2`` component that decodes in the browser while the
pointer moves over the latent plane (``latent_pad.js`` beside this file). Not a page; the Latent space
page mounts it.

The decoder's weights go to the browser once per model and session, the test codes once per
(model, dims); every other rerun sends only their ids and the sliders' position. A reloaded
browser that lacks a payload asks for it again (the "missing" trigger). A click on the pad
moves the server-side sliders z1/z2 there ("picked"), and so does Enter after the arrow keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from app_pages.url import presenter_scale
from vae_core.config import RunConfig
from vae_core.vae.model import VAE
from vae_core.views.pad import encode_f32, pad_codes, pad_weights
from vae_core.views.style import PALETTE

HERE = Path(__file__).resolve().parent  # the component's own latent_pad.css and latent_pad.js
HTML = """<div class="pad-root">
  <div class="pad-row">
    <div><canvas class="pad-plane" tabindex="0"
        aria-label="latent plane: arrow keys move the point, Enter moves the sliders there"></canvas>
      <div class="pad-caption">latent plane: test codes by label; ✕ the sliders</div></div>
    <div><canvas class="pad-image" aria-label="decoded image"></canvas>
      <div class="pad-caption">E[x | z] at the pointer, else at the sliders</div></div>
  </div>
  <div class="pad-readout"></div>
  <div class="pad-legend"></div>
</div>"""
_pad = st.components.v2.component(
    "vae_lab.latent_pad",
    html=HTML,
    css=(HERE / "latent_pad.css").read_text(),
    js=(HERE / "latent_pad.js").read_text(),
)
KEY = "latent_pad"
STEP = 0.05  # the latent sliders' step
Z_KEYS = ("z1", "z2")


def place_sliders(values: Sequence[float], bound: float) -> None:
    """The one writer of the latent sliders z1/z2 (clipping, a picked point, a click on the pad,
    a value from the link): on the sliders' step grid, within ±bound."""
    for key, value in zip(Z_KEYS, values, strict=False):
        st.session_state[key] = float(np.clip(round(round(float(value) / STEP) * STEP, 2), -bound, bound))


@st.cache_data(show_spinner=False, max_entries=8)
def _weights(mid: str, _model: VAE) -> dict:
    return pad_weights(_model)


@st.cache_data(show_spinner=False, max_entries=16)
def _codes(mid: str, dims: tuple[int, ...], _mu: np.ndarray, _y: np.ndarray, _points: np.ndarray | None) -> dict:
    codes = pad_codes(_mu, _y, dims)
    if _points is not None:  # 2-D point sets: the pad draws the decoded mean over the test data
        codes.update(data_xy=encode_f32(_points), data_bound=float(np.abs(_points).max() * 1.1))
    return codes


def _sent() -> set[str]:
    return st.session_state.setdefault("pad_sent", set())


def _missing() -> None:
    _sent().difference_update(st.session_state[KEY].get("missing") or [])


def _picked(bound: float) -> None:
    z = st.session_state[KEY].get("picked")
    if z:
        place_sliders(z, bound)


def latent_pad_ui(
    model: VAE,
    mid: str,
    config: RunConfig,
    codes: tuple[np.ndarray, np.ndarray, np.ndarray | None],
    dims: list[int],
    base: torch.Tensor,
    bound: float,
    values: list[float],
) -> None:
    """Mount the pad for a model with at least 2 latent dimensions, over ``dims`` (two of them)."""
    mu, y, points = codes
    weights_id, codes_id = mid, f"{mid}:{dims[0]},{dims[1]}"
    data = {
        "weights_id": weights_id,
        "codes_id": codes_id,
        "dims": dims,
        "base": base.tolist(),
        "bound": bound,
        "z": [float(v) for v in values],
        "image_shape": list(config.info.image_shape) if config.info.image_shape else None,
        "palette": list(PALETTE),
        "class_names": list(config.info.class_names),
        "scale": presenter_scale(),
        "timings": bool(st.session_state.get("pad_timings")),
    }
    sent = _sent()
    if weights_id not in sent:
        data["weights"] = _weights(mid, model)
        sent.add(weights_id)
    if codes_id not in sent:
        data["codes"] = _codes(mid, tuple(dims), mu, y, points)
        sent.add(codes_id)
    _pad(key=KEY, data=data, on_picked_change=lambda: _picked(bound), on_missing_change=_missing)
