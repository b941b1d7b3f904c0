"""The Latent space page, driven through AppTest on small cached digits models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from app_helpers import array, codes_chart, component_data, images, plotly_specs, pretrained, settled

from vae_core import get_or_train
from vae_core.vae.evaluate import encode_dataset
from vae_core.views import view_worker
from vae_core.views.pad import decode_f32, decode_layers

PAD = "vae_lab.latent_pad"


def test_without_a_model_the_page_offers_to_train(open_app, empty_cache):
    at = open_app("latent")
    assert "No model" in at.info[0].value
    assert at.button(key="train_now")


def test_moving_z1_moves_the_pad_and_nothing_else(open_app):
    """The pad decodes the sliders' point in the browser: the one decoded image on the page."""
    pretrained(epochs=5)
    at = open_app("latent", epochs=5)
    before = images(at)
    chart = codes_chart(at, "latent_scatter")
    assert "latent_scatter" not in plotly_specs(at), "10,000 WebGL markers: the page's slowest part"
    assert len(chart["classes"]) == 10 and set(chart["label"]) == set(range(10))  # a colour per digit
    assert sorted(chart["drawn"]) == list(range(len(chart["drawn"])))  # every row, each once: a click names it
    assert len(before) == 2, "the strip and the samples: the pad is the one decoded image"
    (pad,) = component_data(at, PAD)
    assert "weights" in pad and "codes" in pad and pad["z"] == [0.0, 0.0]
    at.slider(key="z1").set_value(1.5).run()
    assert images(at) == before, "only the explorer reruns, and it draws no image of its own"
    (pad,) = component_data(at, PAD)
    assert pad["z"] == [1.5, 0.0]
    assert "weights" not in pad and "codes" not in pad, "weights and codes go to the browser once"
    at.slider(key="z2").set_value(-2.0).run()
    assert component_data(at, PAD)[0]["z"] == [1.5, -2.0]


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
    np.testing.assert_allclose(
        codes, codes_chart(at, "latent_scatter")["xy"], atol=1e-5
    )  # the pad and the chart: one set of codes
    x = view_worker.test_inputs("digits", trained.config.train.binarize)
    np.testing.assert_allclose(codes, encode_dataset(trained.model, x)[0].numpy(), atol=1e-5)  # μ(x) of each row
    assert -pad["bound"] <= codes.min() and codes.max() <= pad["bound"]
    at.switch_page("app_pages/train.py").run()
    at.switch_page("app_pages/latent.py").run()
    assert "weights" not in component_data(at, PAD)[0], "a page switch does not resend the weights"


def test_page_widgets_change_what_is_shown(open_app):
    pretrained(epochs=5)
    at = open_app("latent", epochs=5)
    before, grid = images(at), plotly_specs(at)["manifold"]
    at.slider(key="grid_n").set_value(6).run()
    at.number_input(key="interp_to").set_value(7).run()
    at.button(key="resample").click().run()
    after = images(at)
    assert len(before) == 2 and all(a != b for a, b in zip(before, after, strict=True))  # the strip, the samples
    assert len(array(plotly_specs(at)["manifold"]["data"][1]["x"])) == 36 != len(array(grid["data"][1]["x"]))


@pytest.mark.parametrize("held", ["zero", "a test image's code"])
def test_more_than_two_dimensions_choose_the_slider_dims_and_project(open_app, held):
    pretrained(latent_dim=4, epochs=3)
    at = open_app("latent", latent_dim=4, epochs=3)
    at.radio(key="held").set_value(held).run()
    at.selectbox(key="dim_b").set_value(3).run()
    assert codes_chart(at, "latent_scatter")["titles"][1] == "z4"
    at.slider(key="z2").set_value(2.0).run()
    (pad,) = component_data(at, PAD)
    assert pad["dims"] == [at.session_state["dim_a"], 3] and pad["z"][1] == 2.0
    assert codes_chart(at, "projection_chart")["titles"] == ["PCA 1", "PCA 2"]
    settled(at.radio(key="projection").set_value("t-SNE").run())
    assert not at.exception
    tsne = codes_chart(at, "projection_chart")
    assert tsne["titles"] == ["t-SNE 1", "t-SNE 2"] and tsne["x_range"] is None  # its own scale, not the prior's


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
    assert len(charts) == 1 and len(codes_chart(at, "latent_scatter")["drawn"]) > 0  # data vs model samples; the codes
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
    assert codes_chart(at, "latent_scatter")["picked"] == 7 and at.slider(key="z1").value == 1.5
    at.number_input(key="epochs").set_value(4).run()  # another model
    assert at.slider(key="z1").value == 0.0 and at.slider(key="z2").value == 0.0
    assert codes_chart(at, "latent_scatter")["picked"] is None
    assert any("own" in i.value and "slider" in i.value for i in at.info), [i.value for i in at.info]
    at.number_input(key="epochs").set_value(3).run()  # back: that model's own pick and sliders
    assert at.slider(key="z1").value == 1.5 and at.session_state["picked"] == 7


def test_a_collapsed_model_is_drawn_at_the_priors_scale_with_a_warning(open_app):
    """The β = 4 digits preset (0 of 2 units active) autoscaled to ±0.1 and looked structured."""
    trained = get_or_train(pretrained(beta=4.0))
    assert trained.metrics["active_units"] == 0
    at = open_app("latent", beta=4.0)
    assert any("Posterior collapse in 2 of 2" in w.value for w in at.warning), [w.value for w in at.warning]
    chart = codes_chart(at, "latent_scatter")
    assert chart["x_range"] == [-3, 3] and chart["y_range"] == [-3, 3] and chart["square"]
    assert chart["prior"], "the prior's circles for scale"
    assert component_data(at, PAD)[0]["bound"] == 3.0


def test_the_manifold_tiles_show_their_z_on_hover(open_app):
    pretrained(epochs=5)
    at = open_app("latent", epochs=5)
    at.slider(key="grid_n").set_value(5).run()
    image, points = plotly_specs(at)["manifold"]["data"]
    assert image["type"] == "image" and image["source"].startswith("data:image/png")
    q = torch.distributions.Normal(0.0, 1.0).icdf((torch.arange(5) + 0.5) / 5).numpy()
    codes = np.asarray(array(points["customdata"]))
    np.testing.assert_allclose(codes[:5, 0], q, atol=1e-6)  # the top row: z1 rising to the right
    np.testing.assert_allclose(codes[::5, 1], q[::-1], atol=1e-6)  # the left column: z2 falling downwards
    assert "z1 = %{customdata[0]" in points["hovertemplate"]
