"""The Compare two runs page, driven through AppTest on small digits models."""

from __future__ import annotations

import numpy as np
from app_helpers import codes_chart, images, plotly_specs, poll_until, pretrained

from vae_core.views.wording import describe


def test_untrained_runs_offer_to_train_and_then_compare(open_app, empty_cache):
    at = open_app("compare", epochs=3)
    assert at.button(key="cmp_train_a") and at.button(key="cmp_train_b")
    assert "cmp_curves" not in plotly_specs(at)
    at.button(key="cmp_train_a").click().run()
    at.button(key="cmp_train_b").click().run()
    poll_until(at, lambda a: "cmp_curves" in plotly_specs(a))
    assert {m.label for m in at.metric} >= {"Test ELBO", "Active units"}


def test_two_betas_side_by_side(open_app):
    one, four = pretrained(epochs=5), pretrained(epochs=5, beta=4.0)
    pretrained(epochs=5, latent_dim=3)
    at = open_app("compare", epochs=5)
    assert at.selectbox(key="cmp_a").value == one and at.selectbox(key="cmp_b").value == four
    curves = plotly_specs(at)["cmp_curves"]["data"]
    assert sorted({t["name"] for t in curves}) == ["A: β 1", "B: β 4"]
    assert len(curves) == 6  # two runs x (reconstruction, KL, ELBO)
    a, b = codes_chart(at, "cmp_scatter_a"), codes_chart(at, "cmp_scatter_b")
    assert a["x_range"] == b["x_range"] and a["prior"], "one scale for both runs, the prior's at least"
    before = images(at)
    assert len(before) == 2  # a traversal grid per run
    three = next(c for c in at.selectbox(key="cmp_b").options if "D 3" in c)
    assert describe(pretrained(epochs=5, latent_dim=3)) == three
    at.selectbox(key="cmp_b").set_value(pretrained(epochs=5, latent_dim=3)).run()
    assert not at.exception
    assert codes_chart(at, "cmp_scatter_b")["titles"] == ["PCA 1", "PCA 2"]
    after = images(at)
    assert after[0] == before[0] and after[1] != before[1]
    assert sorted({t["name"] for t in plotly_specs(at)["cmp_curves"]["data"]}) == ["A: D 2", "B: D 3"]


def test_runs_that_read_alike_get_their_own_codes(open_app):
    """Two configs that differ only in what describe() leaves out (Adam's β₂ here) read the same,
    train the same number of steps, and must still show their own latent codes."""
    a = pretrained(epochs=3)
    b = pretrained(epochs=3, adam_beta2=0.9)
    assert describe(a) == describe(b) and a != b
    at = open_app("compare", epochs=3)
    at.selectbox(key="cmp_a").set_value(a).run()
    at.selectbox(key="cmp_b").set_value(b).run()
    assert not at.exception
    codes = {side: codes_chart(at, f"cmp_scatter_{side}")["xy"] for side in "ab"}
    assert not np.allclose(codes["a"], codes["b"]), "run B showed run A's cached codes"
