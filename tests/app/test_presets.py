"""Presets in the URL, presenter mode, and the zoo's configs as the sidebar's (AppTest)."""

from __future__ import annotations

import pytest
from app_helpers import APP, pretrained
from streamlit.testing.v1 import AppTest

from app_pages.settings import BETAS, DEFAULTS, config_from
from app_pages.url import parse_url, url_of
from vae_core.store.zoo import ZOO_BETAS, zoo_configs


def open_url(**params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(params)
    at.run()
    assert not at.exception, at.exception
    return at


def test_every_zoo_model_is_a_sidebar_position():
    assert set(ZOO_BETAS) <= set(BETAS)
    sidebar = {
        config_from({**DEFAULTS, "beta": c.train.beta, "latent_dim": c.model.latent_dim}) for c in zoo_configs("digits")
    }
    assert sidebar == set(zoo_configs("digits"))


def test_a_preset_url_opens_exactly_that_view():
    pretrained(beta=4.0, latent_dim=2, epochs=3)
    at = open_url(beta="4", latent_dim="2", epochs="3", page="latent", z1="1.5")
    assert at.select_slider(key="beta").value == 4.0
    assert at.slider(key="latent_dim").value == 2
    assert at.number_input(key="epochs").value == 3
    assert at.title[0].value.endswith("Latent space")
    assert at.slider(key="z1").value == 1.5
    assert not [w for w in at.warning if "link" in w.value], "no problem with the link"
    assert at.query_params["beta"] == "4" and at.query_params["z1"] == "1.5"


def test_a_setting_changed_in_the_app_goes_into_the_url():
    at = open_url()
    at.select_slider(key="beta").set_value(0.5).run()
    at.slider(key="latent_dim").set_value(5).run()
    assert at.query_params["beta"] == "0.5" and at.query_params["latent_dim"] == "5"
    assert "epochs" not in at.query_params, "default settings stay out of the link"
    assert "beta=0.5" in at.sidebar.get("code")[-1].value


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"beta": "abc"}, "beta=abc must be a number"),
        ({"beta": "0.33"}, "beta=0.33 must be one of"),
        ({"latent_dim": "99"}, "latent_dim=99 must be a whole number from 1 to 64"),
        ({"dataset": "imagenet"}, "dataset=imagenet is not available"),
        ({"page": "nowhere"}, "page=nowhere is not a page"),
        ({"z1": "1e9"}, "z1=1e9 must be a number from -10 to 10"),
        ({"hidden": "3x"}, "hidden=3x must be a number"),
    ],
)
def test_bad_values_are_explained_and_left_at_their_defaults(params, problem):
    at = open_url(**params)
    assert at.warning and any(problem in t.value for t in at.text), [t.value for t in at.text]
    assert at.select_slider(key="beta").value == DEFAULTS["beta"]
    at.button(key="url_problems_ok").click().run()
    assert not at.warning and not at.text


MARKDOWN_ELEMENTS = ("markdown", "warning", "error", "info", "success", "caption", "title", "header", "subheader")


@pytest.mark.parametrize(
    ("params", "literal"),
    [
        ({"dataset": "[click here](https://evil.example/login)"}, "dataset=[click here](https://evil.example/login)"),
        ({"beta": "![t](http://198.51.100.7/track.png)"}, "beta=![t](http://198.51.100.7/track.png)"),
        ({"page": "<img src=http://198.51.100.7/x.png>"}, "page=<img src=http://198.51.100.7/x.png>"),
    ],
)
def test_values_from_the_link_are_shown_as_literal_text_never_as_markdown(params, literal):
    """A link's value once went into the warning's Markdown: a live link, an outside image fetched."""
    at = open_url(**params)
    assert any(literal in t.value for t in at.text), [t.value for t in at.text]
    host = literal.split("//")[1].split("/")[0]
    rendered = [e for kind in MARKDOWN_ELEMENTS for e in at.get(kind) if host in str(getattr(e, "value", ""))]
    assert not rendered, f"{host} reached a Markdown element: {rendered}"


def test_parse_and_write_round_trip():
    state = {**DEFAULTS, "beta": 4.0, "latent_dim": 10, "hidden": (64, 64), "lr": 3e-3, "z1": -1.25}
    params = url_of(state, "latent")
    assert params["hidden"] == "64x64" and params["lr"] == "0.003" and params["z1"] == "-1.25"
    values, problems = parse_url(params, ["digits"])
    assert not problems and {k: values[k] for k in params} == {k: state[k] for k in params}


def test_presenter_mode_hides_the_controls_and_can_be_left():
    at = open_url(presenter="1")
    assert at.toggle(key="presenter").value
    assert any("stSidebar" in h.proto.body and "font-size" in h.proto.body for h in at.get("html"))
    assert at.query_params["presenter"] == "1"
    at.button(key="presenter_off").click().run()
    assert not at.toggle(key="presenter").value and not at.get("html")
    assert "presenter" not in at.query_params


def test_the_sidebar_says_which_betas_are_cached(open_app, empty_cache):
    pretrained(beta=4.0, latent_dim=2)
    at = open_app()
    caption = next(c.value for c in at.sidebar.caption if "Cached β" in c.value)
    assert "not trained yet" in caption and "dimension 2: 4." in caption
    at.select_slider(key="beta").set_value(4.0).run()
    assert any("opens instantly" in c.value for c in at.sidebar.caption)


def test_a_move_to_an_uncached_beta_offers_to_train_it(open_app, empty_cache):
    pretrained(beta=4.0, latent_dim=2, epochs=3)
    at = open_app("latent", beta=4.0, epochs=3)
    assert at.slider(key="z1")
    at.select_slider(key="beta").set_value(2.0).run()
    assert at.button(key="train_now")
    at.button(key="train_now").click().run()
    assert at.title[0].value.endswith("Train"), "training starts and is shown live on the Train page"


@pytest.mark.parametrize("beta", [4.0, 0.5])
def test_train_it_now_opens_the_train_page_on_the_same_settings(open_app, empty_cache, beta):
    """st.switch_page sends no widget states: the sidebar must not fall back to its defaults."""
    at = open_app("latent", dataset="two-moons", latent_dim=2, epochs=3)
    at.select_slider(key="beta").set_value(beta).run()
    at.button(key="train_now").click().run()
    assert at.title[0].value.endswith("Train")
    assert at.selectbox(key="dataset").value == "two-moons"
    assert at.select_slider(key="beta").value == beta and at.number_input(key="epochs").value == 3
    assert at.query_params["dataset"] == "two-moons" and at.query_params["beta"] == f"{beta:g}"
    assert any("two-moons" in c.value and f"β {beta:g}" in c.value for c in at.caption), "the run being trained"


@pytest.mark.parametrize("page", ["latent", "elbo", "posterior", "own_image"])
def test_the_address_bar_follows_a_page_that_stops_for_want_of_a_model(open_app, empty_cache, page):
    """A page with no model yet ends in st.stop(): the link must still be the view on screen."""
    at = open_app(page)
    at.select_slider(key="beta").set_value(2.5).run()
    assert at.button(key="train_now")
    assert at.query_params["beta"] == "2.5"
    assert "beta=2.5" in at.sidebar.get("code")[-1].value
