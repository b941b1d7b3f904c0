"""The β sweep in a real Chromium: the cached sweep draws on the rate-distortion plane, and a click
on a point (plotly's selection, sent back to the server) opens that run on the Train page."""

from __future__ import annotations

import re

import pytest
from browser_helpers import IDLE, start_server, stop_server

from vae_core import make_config
from vae_core.data import load_dataset
from vae_core.store.sweeps import run_sweep, sweep_configs

pytestmark = pytest.mark.browser

EPOCHS = 50  # the default: after a few epochs every β > 0 is still collapsed at R = 0
POINT = """g => {  // page coordinates of the member point whose β is `beta`
    const t = g.data.find(t => t.meta === "members"), fl = g._fullLayout, box = g.getBoundingClientRect();
    const i = [...t.customdata].findIndex(c => c[1] === BETA);
    return [box.left + fl._size.l + fl.xaxis.l2p(t.x[i]), box.top + fl._size.t + fl.yaxis.l2p(t.y[i])];
}"""


@pytest.fixture(scope="module")
def sweep_server(browser, tmp_path_factory):
    """The app with the default digits setting's 7-β sweep already in its private cache."""
    folder = tmp_path_factory.mktemp("sweep-server")
    run_sweep(sweep_configs(make_config("digits", epochs=EPOCHS)), folder / "models", data=load_dataset("digits"))
    proc, url = start_server(folder / "models", folder / "streamlit.log")
    yield url
    stop_server(proc)


def test_a_click_on_a_point_opens_that_run(sweep_server, page, artifacts):
    from playwright.sync_api import expect

    page.goto(f"{sweep_server}/sweep?dataset=digits&latent_dim=2&beta=1&epochs={EPOCHS}")
    plane = page.locator(".st-key-rd_plane .js-plotly-plot")
    plane.wait_for()
    page.wait_for_selector(IDLE)
    page.wait_for_function("g => g.data && g.data.some(t => t.meta === 'members')", arg=plane.element_handle())
    expect(page.get_by_role("button", name="Every β of this sweep is trained")).to_be_disabled()
    page.wait_for_timeout(500)  # plotly draws its text after the element appears
    page.screenshot(path=artifacts / "sweep_plane.png", full_page=True)
    x, y = plane.evaluate(POINT.replace("BETA", "2"))  # not 4 or 8: both collapse to R = 0, one point
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    expect(page.get_by_role("heading", name="Train")).to_be_visible()
    beta = page.locator("[data-testid='stSidebar']").get_by_role("slider", name="β")
    expect(beta).to_have_attribute("aria-valuetext", "2")
    expect(page.get_by_text("Trained and cached")).to_be_visible()
    expect(page).to_have_url(re.compile(r"[?&]beta=2(&|$)"))
    page.wait_for_selector(IDLE)
    page.screenshot(path=artifacts / "sweep_opened.png")
