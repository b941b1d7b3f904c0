"""A preset URL, presenter mode and the model download in a real Chromium against a real server."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from browser_helpers import IDLE, start_server, stop_server

from vae_core import get_or_train, load_model, make_config

pytestmark = pytest.mark.browser

PRESET = make_config("digits", latent_dim=2, beta=4.0, epochs=5)


@pytest.fixture(scope="module")
def preset_server(browser, tmp_path_factory):
    """The app with the preset's model already in its private cache (as after a zoo run)."""
    folder = tmp_path_factory.mktemp("preset-server")
    get_or_train(PRESET, root=folder / "models")
    proc, url = start_server(folder / "models", folder / "streamlit.log")
    yield url
    stop_server(proc)


def slider_text(page, key: str) -> str:
    return page.locator(f".st-key-{key}").get_by_role("slider").last.get_attribute("aria-valuetext")


def test_a_preset_url_opens_exactly_that_view(preset_server, page, artifacts):
    from playwright.sync_api import expect

    page.goto(f"{preset_server}/?beta=4&latent_dim=2&epochs=5&page=latent&z1=1.5")
    expect(page.get_by_role("heading", name="Latent space")).to_be_visible()
    page.wait_for_selector(IDLE)
    expect(page.locator(".pad-root")).to_have_attribute("data-z", "1.500,0.000")
    assert slider_text(page, "beta") == "4"
    assert slider_text(page, "latent_dim") == "2"
    assert slider_text(page, "z1") == "1.50"
    address = urlparse(page.url)
    assert address.path.endswith("/latent")
    assert parse_qs(address.query) == {
        "dataset": ["digits"],
        "latent_dim": ["2"],
        "beta": ["4"],
        "epochs": ["5"],
        "z1": ["1.5"],
        "z2": ["0"],
    }
    page.screenshot(path=artifacts / "preset_latent.png")


def test_a_bad_preset_is_explained(preset_server, page):
    from playwright.sync_api import expect

    page.goto(f"{preset_server}/?beta=lots&latent_dim=2")
    page.wait_for_selector(IDLE)
    expect(page.get_by_text("beta=lots must be a number")).to_be_visible()
    assert slider_text(page, "beta") == "1"


def test_presenter_mode_hides_the_sidebar_and_enlarges_type(preset_server, page, artifacts):
    from playwright.sync_api import expect

    page.goto(f"{preset_server}/latent?beta=4&latent_dim=2&epochs=5&presenter=1")
    page.wait_for_selector(IDLE)
    expect(page.locator(".pad-plane")).to_have_count(1)
    expect(page.locator("[data-testid='stSidebar']")).to_be_hidden()
    assert page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)") >= 20
    page.screenshot(path=artifacts / "presenter.png")
    page.get_by_role("button", name="Leave presenter mode").click()
    expect(page.locator("[data-testid='stSidebar']")).to_be_visible()
    assert "presenter" not in page.url


def test_the_downloaded_model_file_loads(preset_server, page, tmp_path):
    page.goto(f"{preset_server}/?beta=4&latent_dim=2&epochs=5")
    page.wait_for_selector(IDLE)
    with page.expect_download() as download:
        page.get_by_role("button", name="The model file").click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    assert path.name == "vae-digits-d2-beta4.pt"
    trained = load_model(path)
    assert trained.config == PRESET and trained.metrics["status"] == "completed"
