"""The β sweep page, driven through AppTest on small digits models."""

from __future__ import annotations

import pytest
from app_helpers import array, plotly_specs, poll_until, pretrained

from vae_core import lookup
from vae_core.store.sweeps import sweep_configs


def members_trace(at) -> dict:
    return next(t for t in plotly_specs(at)["rd_plane"]["data"] if t.get("meta") == "members")


def test_cached_betas_are_drawn_at_once_and_the_rest_train_together(open_app, empty_cache):
    one, four = pretrained(epochs=3), pretrained(epochs=3, beta=4.0)
    at = open_app("sweep", epochs=3)
    points = members_trace(at)
    assert [row[1] for row in points["customdata"]] == [1.0, 4.0]  # the cache's, without training
    d, r = array(points["x"]), array(points["y"])
    for config, x, y in zip((one, four), d, r, strict=True):
        last = lookup(config).history["epochs"][-1]
        assert x == pytest.approx(-last["test_recon"]) and y == pytest.approx(last["test_kl"])
    start = at.button(key="start_sweep")
    assert start.label == "Train the 5 missing β together" and not start.disabled
    start.click().run()
    poll_until(at, lambda a: a.button(key="start_sweep").label == "Every β of this sweep is trained")
    assert len(members_trace(at)["customdata"]) == 7 and at.button(key="start_sweep").disabled
    for config in sweep_configs(one):  # each β is an ordinary model of its own settings
        assert lookup(config) is not None
    table = at.dataframe[0].value
    assert list(table["β"]) == [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0]
    stored = [lookup(c).metrics["test_elbo"] for c in sweep_configs(one)]
    assert list(table["ELBO (nats)"]) == pytest.approx(stored, abs=1e-4)  # -(D + R) is the ELBO


def test_an_untrained_setting_shows_an_empty_plane_and_the_start_button(open_app, empty_cache):
    at = open_app("sweep", epochs=2, latent_dim=3)
    assert not [t for t in plotly_specs(at)["rd_plane"]["data"] if t.get("meta") == "members"]
    assert at.button(key="start_sweep").label == "Train the 7 missing β together"
    assert at.button(key="stop_sweep").disabled
