"""The Your own image page (AppTest): an upload lands in the latent space; a bad file is explained."""

from __future__ import annotations

import io

import numpy as np
import pytest
from app_helpers import codes_chart, component_data, images, pretrained
from PIL import Image, ImageDraw

from app_pages import common
from vae_core import get_or_train
from vae_core.data.images import to_dataset_image
from vae_core.views.canvas import canvas_scores, score_draws


def drawing(fmt: str = "PNG") -> bytes:
    picture = Image.new("L", (300, 400), 240)
    ImageDraw.Draw(picture).line([(150, 40), (150, 360)], fill=10, width=30)  # a "1"
    out = io.BytesIO()
    picture.save(out, fmt)
    return out.getvalue()


def upload(at, data: bytes, name: str = "one.png", mime: str = "image/png"):
    at.file_uploader(key="own_upload").set_value((name, data, mime)).run()
    assert not at.exception, at.exception
    return at


def test_without_an_upload_the_page_says_what_to_do(open_app):
    pretrained(epochs=3)
    at = open_app("own_image", epochs=3)
    assert any("No picture yet" in i.value for i in at.info)
    # Every image in the app is drawn dark on white: the page must not promise "bright ink on black".
    how = at.markdown[0].value
    assert "bright ink on black" not in how and "ink dark on white" in how


def test_an_upload_is_converted_encoded_and_placed_on_the_scatter(open_app):
    pretrained(epochs=3)
    at = upload(open_app("own_image", epochs=3), drawing())
    assert len(images(at)) == 2  # what was sent, and as the model sees it beside its reconstruction
    numbers = {m.label: float(m.value.split()[0]) for m in at.metric}
    assert numbers["ELBO of your image"] < 0
    assert numbers["ELBO of your image"] == pytest.approx(
        numbers["Reconstruction"] - numbers["KL(q(z|x) ‖ p(z))"], abs=0.02
    )
    chart = codes_chart(at, "own_scatter")
    assert chart["marker_name"] == "your image" and len(chart["marker"]) == 2  # drawn on top of the codes
    assert len(chart["drawn"]) == 360 and not np.isnan(chart["xy"]).any()  # every test code
    before = chart["marker"]
    upload(at, drawing("JPEG"), "one.jpg", "image/jpeg")
    assert codes_chart(at, "own_scatter")["marker"] != before or not at.error


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"not an image", "not a readable PNG or JPEG"), (b"", "empty"), (b"0" * (3 * 2**20), "limit is 2 MB")],
)
def test_a_bad_file_gets_a_clear_message(open_app, data, message):
    pretrained(epochs=3)
    at = upload(open_app("own_image", epochs=3), data, "bad.png")
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    assert codes_chart(at, "own_scatter") is None


def test_more_than_two_dimensions_use_chosen_dims_or_pca(open_app):
    pretrained(latent_dim=4, epochs=3)
    at = upload(open_app("own_image", latent_dim=4, epochs=3), drawing())
    at.selectbox(key="own_dim_b").set_value(3).run()
    assert codes_chart(at, "own_scatter")["titles"][1] == "z4"
    at.radio(key="own_view").set_value("PCA").run()
    assert codes_chart(at, "own_scatter")["titles"][0] == "PCA 1"


def test_point_datasets_are_sent_elsewhere(open_app):
    at = open_app("own_image", dataset="two-moons")
    assert "image datasets" in at.info[0].value


def test_the_file_name_is_shown_as_literal_text(open_app):
    """The name of a bad file once went into the error's Markdown: an outside image, fetched."""
    pretrained(epochs=3)
    name = "![t](http://198.51.100.7/track.png).png"
    at = upload(open_app("own_image", epochs=3), b"not an image", name)
    assert any(name in t.value for t in at.text)
    assert not any("198.51.100.7" in e.value for kind in ("error", "markdown", "caption") for e in at.get(kind))


def test_the_drawing_pad_gets_both_networks_once_and_a_drawing_is_scored_on_the_server(open_app):
    config = pretrained(epochs=3)
    at = open_app("own_image", epochs=3)
    (data,) = component_data(at, "vae_lab.draw_pad")
    assert data["weights"]["encoder"][0]["shape"] == [config.model.hidden[0], 64]
    assert data["codes"]["n"] == len(common.test_set("digits", True)[1])
    at.run()
    (again,) = component_data(at, "vae_lab.draw_pad")
    assert "weights" not in again and "codes" not in again, "sent once per session"
    assert not [m for m in at.metric if m.label.startswith("Drawn")], "nothing drawn yet"
    # What the browser sends at a stroke's end (the "drawn" trigger stores it): scored again with torch.
    pixels = to_dataset_image(drawing(), 8)
    at.session_state["draw_pixels"] = pixels.tolist()
    at.run()
    drawn = {m.label: float(m.value) for m in at.metric if m.label.startswith("Drawn")}
    expected = canvas_scores(get_or_train(config).model, pixels, score_draws(2))
    assert drawn["Drawn: ELBO, the pad's 100 draws"] == pytest.approx(expected["elbo"], abs=0.006)
    assert drawn["Drawn: L_100, the pad's draws"] == pytest.approx(expected["l_k"], abs=0.006)
    assert abs(drawn["Drawn: ELBO, 1,000 fresh draws"] - expected["elbo"]) < 1.0


def test_one_latent_dimension_has_no_drawing_plane(open_app):
    pretrained(latent_dim=1, epochs=3)
    at = open_app("own_image", latent_dim=1, epochs=3)
    assert any("2 or more latent dimensions" in i.value for i in at.info)
    assert component_data(at, "vae_lab.draw_pad") == []
