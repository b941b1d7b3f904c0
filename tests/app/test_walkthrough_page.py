"""The "One sample, step by step" page (AppTest): every line is the core's value for that image and
draw, "Draw again" draws a new ε, and estimators A and B agree with an independent ELBO."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from app_helpers import array, codes_chart, plotly_specs, pretrained

from app_pages.common import test_set as app_test_set  # (not a test)
from vae_core import get_or_train
from vae_core.vae.objectives import elbo_terms


def steps(at) -> str:
    """The recipe's lines as a reader sees them (the Markdown escapes the * of z*)."""
    return next(m.value for m in at.markdown if "Reparameterize" in m.value).replace("\\*", "*")


def numbers(at) -> dict[str, float]:
    return {m.label: float(m.value) for m in at.metric}


def test_each_line_has_its_value_and_draw_again_draws_a_new_eps(open_app):
    config = pretrained(epochs=8)
    at = open_app("walkthrough", epochs=8)
    text = steps(at)
    z = [float(v) for v in re.search(r"z\* = μ \+ σ·ε = \(([^)]*)\)", text).group(1).split(",")]
    parts = {
        k: float(v) for k, v in re.findall(r"\*\*(log q\(z\*\|x\)|log p\(z\*\)|log p\(x\|z\*\))\*\* = (-?[\d.]+)", text)
    }
    estimate_a = float(re.search(r"\(A\):.*= \*\*(-?[\d.]+)\*\*", text).group(1))
    assert estimate_a == pytest.approx(parts["log p(x|z*)"] + parts["log p(z*)"] - parts["log q(z*|x)"], abs=2e-3)
    # The latent plane (the codes chart, not 10,000 plotly markers): the draw is line 3's z*, the
    # ringed code is this image's μ, and q's ellipses are N(μ, σ²)'s 1σ and 2σ (the model's own μ, σ).
    assert "walk_plane" not in plotly_specs(at)
    plane = codes_chart(at, "walk_plane")
    assert plane["marker"] == pytest.approx(z, abs=0.006) and plane["marker_name"] == "z* = μ + σ·ε"
    model = get_or_train(config).model
    x = app_test_set("digits", True)[0][:1]
    with torch.inference_mode():
        mu, logvar = (t[0].numpy() for t in model.encode(x))
    sigma = np.exp(0.5 * logvar)
    assert plane["picked"] == 0 and plane["xy"][0] == pytest.approx(mu, abs=1e-5)
    assert [c["name"] for c in plane["curves"]] == ["q(z|x), 1σ", "q(z|x), 2σ"]
    for k, curve in enumerate(plane["curves"], start=1):
        ex, ey = np.asarray(curve["xy"])[0::2], np.asarray(curve["xy"])[1::2]
        r = ((ex - mu[0]) / sigma[0]) ** 2 + ((ey - mu[1]) / sigma[1]) ** 2
        assert r == pytest.approx([k * k] * len(r), rel=1e-3), k
    assert plane["prior"] and len(plane["drawn"]) == len(app_test_set("digits", True)[0])
    bars = plotly_specs(at)["walk_bars"]["data"]
    assert [t["name"] for t in bars] == ["μ (encoder)", "σ (encoder)", "ε ~ N(0, 1)", "z* = μ + σ·ε"]
    assert array(bars[3]["y"]) == pytest.approx(z, abs=0.006)
    # A draw again: another ε, another z*, the same image's μ.
    at.button(key="walk_again").click().run()
    assert not at.exception
    again = steps(at)
    assert again.split("\n")[0] == text.split("\n")[0], "the encoder's μ, σ stay"
    assert again.split("\n")[1] != text.split("\n")[1], "a new ε"
    assert "draw 2" in at.subheader[0].value

    # A and B over 1,000 draws: both near an independent 20,000-draw ELBO, within their standard errors.
    with torch.inference_mode():
        elbo = elbo_terms(model, x, n_samples=20_000, generator=torch.Generator().manual_seed(3)).elbo.item()
    n = numbers(at)
    for name in ("A", "B"):
        sem = n[f"{name}: spread (std)"] / math.sqrt(1000)
        assert abs(n[f"{name}: mean"] - elbo) < 4 * sem + 0.01, (name, n, elbo)
    assert (
        f"Here {'B' if n['B: spread (std)'] < n['A: spread (std)'] else 'A'} has the smaller spread"
        in at.main.caption[-1].value
    )


def test_more_dimensions_draw_bars_but_no_plane(open_app):
    pretrained(latent_dim=5, epochs=3)
    at = open_app("walkthrough", latent_dim=5, epochs=3)
    specs = plotly_specs(at)
    assert codes_chart(at, "walk_plane") is None
    assert array(specs["walk_bars"]["data"][0]["x"]) == [f"z{d}" for d in range(1, 6)]
    at.number_input(key="walk_image").set_value(4).run()
    assert "Test image #4" in at.subheader[0].value and not at.exception
