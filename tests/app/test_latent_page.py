"""The Latent space page, driven through AppTest on small cached digits models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from app_helpers import array, component_data, images, plotly_specs, pretrained

from vae_core import get_or_train
from vae_core.views.pad import decode_f32, decode_layers

PAD = "vae_lab.latent_pad"


def test_without_a_model_the_page_offers_to_train(open_app, empty_cache):
    at = open_app("latent")
    assert "No model" in at.info[0].value
    assert at.button(key="train_now")


def test_moving_z1_changes_the_decoded_image_and_the_pad(open_app):
    pretrained(epochs=5)
    at = open_app("latent", epochs=5)
    before = images(at)
    scatter = plotly_specs(at)["latent_scatter"]["data"]
    assert [t["type"] for t in scatter] == ["scattergl"]  # one trace of codes, outside the fragment
    assert array(scatter[0]["customdata"]) == list(range(len(array(scatter[0]["x"]))))
    (pad,) = component_data(at, PAD)
    assert "weights" in pad and "codes" in pad and pad["z"] == [0.0, 0.0]
    at.slider(key="z1").set_value(1.5).run()
    after = images(at)
    assert after[0] != before[0], "the decoded image must change with z1"
    assert after[1:] == before[1:], "only the explorer reruns"
    (pad,) = component_data(at, PAD)
    assert pad["z"] == [1.5, 0.0]
    assert "weights" not in pad and "codes" not in pad, "weights and codes go to the browser once"
    at.slider(key="z2").set_value(-2.0).run()
    assert images(at)[0] not in (before[0], after[0])


def test_the_pad_decodes_what_the_server_decodes(open_app):
    trained = get_or_train(pretrained(epochs=5))
    at = open_app("latent", epochs=5)
    (pad,) = component_data(at, PAD)
    weights = pad["weights"]
    z = np.array([[0.7, -1.2], [0.0, 0.0]], dtype=np.float32)
    with torch.inference_mode():
        expected = trained.model.mean(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(decode_layers(weights["layers"], z, weights["output"]), expected, atol=1e-5)
    codes = decode_f32(pad["codes"]["xy"], (pad["codes"]["n"], 2))
    scatter = plotly_specs(at)["latent_scatter"]["data"][0]
    np.testing.assert_allclose(codes, np.stack([array(scatter["x"]), array(scatter["y"])], 1), atol=1e-5)
    assert -pad["bound"] <= codes.min() and codes.max() <= pad["bound"]
    at.switch_page("app_pages/train.py").run()
    at.switch_page("app_pages/latent.py").run()
    assert "weights" not in component_data(at, PAD)[0], "a page switch does not resend the weights"


def test_page_widgets_change_what_is_shown(open_app):
    pretrained(epochs=5)
    at = open_app("latent", epochs=5)
    before = images(at)
    at.slider(key="grid_n").set_value(6).run()
    at.number_input(key="interp_to").set_value(7).run()
    at.button(key="resample").click().run()
    after = images(at)
    assert all(a != b for a, b in zip(before[1:], after[1:], strict=True))


@pytest.mark.parametrize("held", ["zero", "a test image's code"])
def test_more_than_two_dimensions_choose_the_slider_dims_and_project(open_app, held):
    pretrained(latent_dim=4, epochs=3)
    at = open_app("latent", latent_dim=4, epochs=3)
    at.radio(key="held").set_value(held).run()
    at.selectbox(key="dim_b").set_value(3).run()
    assert plotly_specs(at)["latent_scatter"]["layout"]["yaxis"]["title"]["text"] == "z4"
    before = images(at)[0]
    at.slider(key="z2").set_value(2.0).run()
    assert images(at)[0] != before
    assert "projection_chart" in plotly_specs(at)
    at.radio(key="projection").set_value("t-SNE").run()
    assert not at.exception
    assert plotly_specs(at)["projection_chart"]["layout"]["xaxis"]["title"]["text"] == "t-SNE 1"


def test_one_latent_dimension_has_one_slider(open_app):
    pretrained(latent_dim=1, epochs=3)
    at = open_app("latent", latent_dim=1, epochs=3)
    assert [s.key for s in at.slider if s.key in ("z1", "z2")] == ["z1"]
    before = images(at)[0]
    at.slider(key="z1").set_value(-1.0).run()
    assert images(at)[0] != before


def test_toy_data_shows_the_data_space(open_app):
    pretrained(dataset="two-moons", epochs=3)
    at = open_app("latent", dataset="two-moons", epochs=3)
    charts = [c.proto.spec for c in at.get("plotly_chart")]
    assert len(charts) == 2  # latent scatter and data vs model samples
    assert not images(at)
    before = at.metric[0].value
    at.slider(key="z1").set_value(2.0).run()
    assert at.metric[0].value != before


def test_picks_and_sliders_belong_to_the_model(open_app):
    """A pick and the slider positions on one model are not silently reused on the next."""
    pretrained(epochs=3)
    pretrained(epochs=4)
    at = open_app("latent", epochs=3)
    at.session_state["picked"] = 7  # what a click on test image #7 leaves (AppTest cannot click)
    at.slider(key="z1").set_value(1.5).run()
    names = [t.get("name") for t in plotly_specs(at)["latent_scatter"]["data"]]
    assert "picked" in names and at.slider(key="z1").value == 1.5
    at.number_input(key="epochs").set_value(4).run()  # another model
    assert at.slider(key="z1").value == 0.0 and at.slider(key="z2").value == 0.0
    assert "picked" not in [t.get("name") for t in plotly_specs(at)["latent_scatter"]["data"]]
    assert any("own" in i.value and "slider" in i.value for i in at.info), [i.value for i in at.info]
    at.number_input(key="epochs").set_value(3).run()  # back: that model's own pick and sliders
    assert at.slider(key="z1").value == 1.5 and at.session_state["picked"] == 7
