"""The live chart's payloads (vae_core.views.live): the numbers of the plotly figures a finished
run gets, as JSON a browser can parse."""

from __future__ import annotations

import base64
import io
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from vae_core import build_model, make_config
from vae_core.vae.evaluate import encode_dataset
from vae_core.vae.train import EpochInfo, StepInfo
from vae_core.views.latent_figures import codes_picture, latent_limit
from vae_core.views.live import beta_payload, codes_payload, curves_payload, finite, kl_payload, live_model_views
from vae_core.views.style import COLLAPSED, PALETTE
from vae_core.views.training_figures import beta_schedule_figure, kl_bars, training_curves


def run_records(n_steps: int = 40, n_epochs: int = 3) -> tuple[list[StepInfo], list[EpochInfo]]:
    rng = np.random.default_rng(0)
    steps = [
        StepInfo(
            s, (s - 1) * n_epochs // n_steps, 0.5, -150 - rng.random(), 5 + rng.random(), -160.0 + s, 161.0, n_steps
        )
        for s in range(1, n_steps + 1)
    ]
    epochs = [
        EpochInfo(e, e * n_steps // n_epochs, 1.0, -151.0 - e, 5.0, -156.0 - e, -152.0, 5.5, -157.5, [2.9, 0.001], 1, 1)
        for e in range(1, n_epochs + 1)
    ]
    return steps, epochs


def as_browser_reads(payload: dict) -> dict:
    """Through JSON as strict as the browser's JSON.parse (no NaN, no Infinity)."""
    return json.loads(json.dumps(payload, allow_nan=False))


def test_the_live_curves_are_the_figures_numbers_in_its_order():
    steps, epochs = run_records()
    live = as_browser_reads(curves_payload(steps, epochs))
    fig = training_curves(steps, epochs)
    assert len(live["series"]) == len(fig.data) == 4 + 6
    axes = {"y": 0, "y2": 1, "y3": 2}
    for series, trace in zip(live["series"], fig.data, strict=True):
        assert series["panel"] == axes[trace.yaxis] and series["name"] == trace.name
        assert series["color"] == trace.line.color
        assert series["x"] == list(trace.x)
        assert series["y"] == pytest.approx(list(trace.y), abs=1e-3)  # 4 decimals here, float32 in plotly
    beta_kl = next(s for s in live["series"] if s["name"].startswith("β·KL"))
    kl = [s.kl for s in steps]
    assert beta_kl["y"] == pytest.approx([0.5 * v for v in kl], abs=1e-4) and beta_kl["dash"] == "dot"
    test_elbo = [s for s in live["series"] if s["name"] == "test set, per epoch" and s["panel"] == 2]
    assert test_elbo[0]["x"] == [e.step for e in epochs] and test_elbo[0]["markers"]
    assert [p["title"] for p in live["panels"]] == [a.text for a in fig.layout.annotations]


def test_a_long_run_is_thinned_as_the_figure_is():
    steps, epochs = run_records(n_steps=5000)
    live = curves_payload(steps, epochs)
    batch = live["series"][0]
    assert len(batch["x"]) == 625 and batch["x"][:3] == [1, 9, 17], "every 8th step: at most 1000 points"
    assert batch["x"] == list(training_curves(steps, epochs).data[0].x)


def test_a_diverged_step_is_a_gap_not_invalid_json():
    steps, epochs = run_records()
    steps[-2] = StepInfo(39, 2, 0.5, math.nan, math.inf, -math.inf, math.nan, 40)
    live = as_browser_reads(curves_payload(steps, epochs))
    recon, kl = live["series"][0], live["series"][1]
    assert recon["y"][-2] is None and kl["y"][-2] is None and recon["y"][-1] is not None
    assert finite(np.array([1.23456, np.nan, -np.inf]), digits=2) == [1.23, None, None]


def test_the_live_kl_bars_are_the_figures():
    live = as_browser_reads(kl_payload([2.9, 0.001, 0.5], 2))
    fig = kl_bars([2.9, 0.001, 0.5], 2)
    assert live["labels"] == list(fig.data[0].x) == ["z1", "z2", "z3"]
    assert live["colors"] == list(fig.data[0].marker.color) == [PALETTE[0], COLLAPSED, PALETTE[0]]
    assert live["title"] == fig.layout.title.text and "2 of 3 units active" in live["title"]
    assert live["y"] == [2.9, 0.001, 0.5]


def test_the_live_beta_schedule_marks_each_change_where_the_figure_does():
    steps, _ = run_records()
    changes = [(9, 4.0), (29, 0.5)]
    live = as_browser_reads(beta_payload(steps, changes))
    fig = beta_schedule_figure(steps, changes)
    line, marks = live["series"]
    assert line["x"] == list(fig.data[0].x) and line["y"] == list(fig.data[0].y) and line["shape"] == "hv"
    assert marks["x"] == list(fig.data[1].x) == [10, 30] and marks["y"] == [4.0, 0.5] and marks["lines"] is False
    assert live["panels"][0]["from_zero"]


def test_the_live_codes_are_the_codes_picture_with_a_legend_per_class():
    rng = np.random.default_rng(0)
    x, y, labels = rng.normal(size=500), rng.normal(size=500), rng.integers(0, 3, 500)
    live = as_browser_reads(codes_payload(x, y, labels, ["a", "b", "c"], lim=4.0))
    assert live["lim"] == 4.0 and live["legend"] == [["a", PALETTE[0]], ["b", PALETTE[1]], ["c", PALETTE[2]]]
    head, data = live["picture"].split(",", 1)
    assert head == "data:image/png;base64"
    shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGBA"))
    expected = codes_picture(x, y, labels, list(PALETTE[:3]), 4.0)
    np.testing.assert_array_equal(shown, expected)  # the picture is lossless: every code where it is


def test_the_live_model_views_are_made_once_per_publish_for_every_viewer(monkeypatch):
    """One model object per publish of the weights (Job.live_model): every viewer's poll of it
    gets the same views, computed once; the next publish's model gets its own, equal to a fresh
    computation."""
    import vae_core.views.live as live

    config = make_config("digits", latent_dim=2)
    x, labels = torch.rand(300, config.info.x_dim), np.arange(300) % 10
    names = config.info.class_names
    calls = []
    monkeypatch.setattr(live, "encode_dataset", lambda m, data: calls.append(m) or encode_dataset(m, data))
    published = build_model(config.model, seed=0).eval()
    first = [live_model_views(published, x, labels, names, n_shown=10, images=True) for _ in range(3)]
    assert first[0] is first[1] is first[2] and calls == [published], "three viewers, one encoding"
    later = build_model(config.model, seed=1).eval()
    assert live_model_views(later, x, labels, names, n_shown=10, images=True) is not first[0]
    with torch.inference_mode():
        mu = encode_dataset(published, x)[0].numpy()
        assert torch.equal(first[0].reconstructions, published(x[:10]))
    expected = codes_payload(mu[:, 0], mu[:, 1], labels, names, lim=latent_limit(mu))
    assert first[0].codes == expected and len(calls) == 2
    deeper = build_model(make_config("digits", latent_dim=5).model, seed=0).eval()
    assert live_model_views(deeper, x, labels, names, n_shown=10, images=True).codes is None, "no plane above 2-D"
