"""The Train page and the shared sidebar, driven through AppTest."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from app_helpers import array, codes_chart, component_data, plotly_specs, poll_until

from app_pages.common import test_set as app_test_set  # (not a test)
from app_pages.settings import DEFAULTS, config_from, values_of
from vae_core import get_or_train, make_config
from vae_core.config import DATASETS
from vae_core.store.cache import lookup
from vae_core.vae.evaluate import encode_dataset

LIVE = "vae_lab.live_chart"


def finished(at) -> bool:
    return at.button(key="stop").disabled and bool(at.metric)


def test_the_sidebar_default_is_the_core_default():
    assert config_from(DEFAULTS) == make_config("digits")
    assert values_of(make_config("digits")) == DEFAULTS


@pytest.mark.parametrize("name", list(DATASETS))
def test_the_sidebar_can_express_every_datasets_defaults(name):
    """A default off the sliders' stops would snap to another value (MNIST's lr 1.2e-2 once did)."""
    values = values_of(make_config(name))
    assert values is not None and config_from(values) == make_config(name)


def test_a_new_user_is_offered_a_quick_first_run(open_app, empty_cache):
    at = open_app()
    assert "Nothing has been trained" in at.info[0].value
    # The step's arithmetic is this machine's measured choice (vae_core.vae.precision), stated as such.
    assert "Training: Adam, batch 128, lr 0.001, β₂ 0.999; steps: hand-written, " in at.caption[0].value
    # Which one is measured (digits is near the 1/1.1 margin here, and timings under load vary):
    # the page states one of the two, as describe_optimiser words them.
    steps = at.caption[0].value.split("steps: hand-written, ")[1]
    assert steps in ("fp32", "bf16 GEMMs (measured faster here)"), steps
    assert not at.button(key="start").disabled
    assert at.button(key="stop").disabled


def test_start_trains_shows_curves_and_caches(open_app, empty_cache):
    at = open_app(epochs=5)
    at.button(key="start").click().run()
    poll_until(at, finished)
    specs = plotly_specs(at)
    curves = specs["curves"]["data"]
    names = {t["meta"] for t in curves}
    assert {"recon (batch)", "KL (batch)", "β·KL (batch, in the loss)", "ELBO test (epoch)"} <= names
    assert len(array(next(t for t in curves if t["meta"] == "ELBO test (epoch)")["x"])) == 5
    assert "kl_bars" in specs and "train_scatter" not in specs  # a 2-D latent gets the scatter: the codes chart
    scatter = codes_chart(at, "train_scatter")
    x = app_test_set("digits", True)[0]
    with torch.inference_mode():
        mu = encode_dataset(get_or_train(make_config("digits", epochs=5)).model, x)[0].numpy()
    assert np.allclose(scatter["xy"], mu, atol=1e-5) and scatter["prior"] and len(scatter["classes"]) == 10
    assert {m.label for m in at.metric} >= {"Test ELBO", "Active units"}
    assert at.get("progress"), "a progress bar"
    # A second visitor (a fresh session and server-wide caches) opens the same config: instant.
    import streamlit as st

    st.cache_resource.clear()
    again = open_app(epochs=5)
    assert "cached" in again.success[0].value
    assert again.button(key="start").disabled


def test_the_curves_are_the_runs_own_numbers(open_app, empty_cache):
    """A short run is drawn unthinned: every step's KL, β times it, and each epoch's test ELBO."""
    at = open_app(beta=0.5, epochs=5)
    at.button(key="start").click().run()
    poll_until(at, finished)
    history = lookup(config_from({**DEFAULTS, "beta": 0.5, "epochs": 5})).history
    steps, epochs = history["steps"], history["epochs"]
    curves = {t["meta"]: t for t in plotly_specs(at)["curves"]["data"]}
    assert array(curves["KL (batch)"]["x"]) == [s["step"] for s in steps]
    assert array(curves["KL (batch)"]["y"]) == pytest.approx([s["kl"] for s in steps], rel=1e-6)
    assert array(curves["β·KL (batch, in the loss)"]["y"]) == pytest.approx([0.5 * s["kl"] for s in steps], rel=1e-6)
    assert array(curves["recon (batch)"]["y"]) == pytest.approx([s["recon"] for s in steps], rel=1e-6)
    assert array(curves["ELBO test (epoch)"]["x"]) == [e["step"] for e in epochs]
    assert array(curves["ELBO test (epoch)"]["y"]) == pytest.approx([e["test_elbo"] for e in epochs], rel=1e-6)


def test_two_sessions_share_one_run_and_stop_works(open_app, empty_cache):
    first = open_app(epochs=400)
    first.button(key="start").click().run()
    second = open_app(epochs=400)  # another browser tab: same server, same config
    assert second.button(key="start").disabled, "the second tab must not start a duplicate"
    assert not second.button(key="stop").disabled
    second.button(key="stop").click().run()
    poll_until(first, lambda at: any("stopped" in w.value for w in at.warning))
    assert not first.button(key="start").disabled  # a stopped run is not cached: it can run again


def test_beta_ten_collapses_the_posterior_and_says_so(open_app, empty_cache):
    at = open_app(beta=10.0, epochs=10)
    at.button(key="start").click().run()
    poll_until(at, finished)
    assert any("Posterior collapse" in w.value for w in at.warning)


def test_sidebar_settings_survive_a_page_switch(open_app, empty_cache):
    at = open_app()
    at.slider(key="latent_dim").set_value(7).run()
    at.select_slider(key="beta").set_value(0.35).run()
    at.switch_page("app_pages/elbo.py").run()
    at.switch_page("app_pages/train.py").run()
    assert at.slider(key="latent_dim").value == 7
    assert at.select_slider(key="beta").value == 0.35
    assert "D 7" in at.caption[0].value and "β 0.35" in at.caption[0].value


def test_missing_datasets_are_explained_not_listed(open_app, monkeypatch, tmp_path):
    monkeypatch.setenv("VAE_LAB_DATA", str(tmp_path))
    at = open_app()
    assert "mnist" not in at.selectbox(key="dataset").options
    assert any("Put these files in" in c.value for c in at.sidebar.get("code"))


def test_mnist_appears_when_its_files_exist(open_app, real_data_root, monkeypatch):
    monkeypatch.setenv("VAE_LAB_DATA", str(real_data_root))
    at = open_app()
    assert "MNIST digits" in at.selectbox(key="dataset").options


def test_opening_a_cached_model_sets_the_sidebar(open_app, empty_cache):
    from vae_core import get_or_train

    get_or_train(make_config("digits", latent_dim=3, epochs=2))
    at = open_app(epochs=3)
    at.button(key="open_cached").click().run()
    assert at.slider(key="latent_dim").value == 3
    assert at.session_state["epochs"] == 2
    assert "cached" in at.success[0].value


def test_the_first_page_says_what_a_vae_is_and_what_to_do_first(open_app, empty_cache):
    at = open_app()
    intro = at.markdown[0].value
    assert "variational autoencoder" in intro.lower() and "Start training" in intro
    assert intro.count(". ") + intro.endswith(".") <= 3, "two sentences (and what to do first)"


@pytest.mark.parametrize("name", ["two-moons", "mnist"])
def test_the_first_run_note_speaks_of_the_sidebars_dataset(open_app, empty_cache, request, name):
    """It said "the default (8×8 digits, …) takes a few seconds" on MNIST too."""
    if name == "mnist":
        request.getfixturevalue("real_data_root")
    at = open_app(dataset=name)
    note = next(i.value for i in at.info if "Nothing has been trained" in i.value)
    assert DATASETS[name].title in note and "8×8" not in note and "a few seconds" not in note


def test_a_running_mnist_run_is_drawn_on_the_live_chart_and_by_plotly_once_it_ends(
    open_app, empty_cache, real_data_root
):
    """While MNIST trains, its charts are the canvas chart's (redrawn at every poll for the cost of
    a canvas, not a plotly chart mounted anew): the curves of the run's own steps, KL per dimension
    and its 10,000 test codes as one picture; plotly's and the codes chart (a disc per code, with
    hover) once it has ended."""

    def codes(at) -> int:
        chart = codes_chart(at, "train_scatter")
        return 0 if chart is None else len(chart["drawn"])

    def live(at) -> dict[str, dict]:
        return {d["kind"] + ":" + str(len(d.get("panels", []))): d for d in component_data(at, LIVE)}

    at = open_app(dataset="mnist", epochs=30)
    at.button(key="start").click().run()
    poll_until(at, lambda at: "codes:0" in live(at) and "bars:0" in live(at))
    charts = live(at)
    assert "curves" not in plotly_specs(at) and codes(at) == 0
    curves = charts["lines:3"]
    assert curves["series"][0]["x"][0] == 1 and curves["x_title"] == "optimizer step"
    assert charts["codes:0"]["picture"].startswith("data:image/png;base64,") and len(charts["codes:0"]["legend"]) == 10
    assert charts["bars:0"]["labels"] == ["z1", "z2"]
    assert any("All 10,000 test codes" in c.value for c in at.caption)
    at.button(key="stop").click().run()
    poll_until(at, lambda at: at.button(key="stop").disabled and not live(at))
    assert codes(at) == 10_000 and "train_scatter" not in plotly_specs(at)
    assert "curves" in plotly_specs(at) and "kl_bars" in plotly_specs(at)
    assert at.button(key="stop").disabled
