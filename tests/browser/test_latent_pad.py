"""The latent pad in a real Chromium: the pointer decodes in the browser, exactly as torch does."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from browser_helpers import IDLE, start_server, stop_server

from vae_core import get_or_train, make_config

pytestmark = pytest.mark.browser

NEXT_FRAME = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
PIXELS = """c => {
  const [h, w] = c.dataset.shape.split(',').map(Number);
  const s = c.width / w, px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const out = [];
  const at = (i) => (i * s + s / 2) | 0;  // the centre of pixel i, in canvas pixels
  for (let r = 0; r < h; r++) for (let q = 0; q < w; q++) out.push(px[4 * (at(r) * c.width + at(q))]);
  return out;
}"""


@pytest.fixture(scope="module")
def trained_server(tmp_path_factory):
    """A server whose cache already holds the default digits model (2-D latent)."""
    folder = tmp_path_factory.mktemp("pad-server")
    trained = get_or_train(make_config("digits"), root=folder / "models")
    proc, url = start_server(folder / "models", folder / "streamlit.log")
    yield url, trained
    stop_server(proc)


def pad_state(page) -> dict:
    root = page.locator(".pad-root")
    return {k: root.get_attribute(f"data-{k}") for k in ("frames", "z", "decode-ms", "frame-ms", "bench-decode-ms")}


def test_the_pointer_decodes_in_the_browser(trained_server, browser, artifacts):
    from playwright.sync_api import expect

    url, trained = trained_server
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    page.wait_for_selector(IDLE)
    page.get_by_role("link", name="Latent space").click()
    plane, image = page.locator(".pad-plane"), page.locator(".pad-image")
    expect(plane).to_have_count(1)
    page.wait_for_selector(IDLE)
    expect(page.locator(".pad-root")).to_have_attribute("data-frames", "0")
    before = image.evaluate("c => c.toDataURL()")

    box = plane.bounding_box()
    for i in range(40):  # a sweep across the plane, one pointer event per step
        page.mouse.move(box["x"] + 30 + 6 * i, box["y"] + 40 + 5 * i)
    page.evaluate(NEXT_FRAME)
    expect(page.locator(".pad-root")).not_to_have_attribute("data-frames", "0")
    after = image.evaluate("c => c.toDataURL()")
    assert after != before, "moving the pointer must redraw the decoded image"
    state = pad_state(page)
    assert int(state["frames"]) >= 5
    z = np.array([float(v) for v in state["z"].split(",")])
    bound = float(json.loads(page.locator(".pad-root").get_attribute("data-bound")))
    expected = np.array([-1 + 2 * (30 + 6 * 39) / box["width"], 1 - 2 * (40 + 5 * 39) / box["height"]]) * bound
    np.testing.assert_allclose(z, expected, atol=0.05 * bound)  # the pointer's place in latent space

    # The pixels are torch's decoder mean at that z, to the 8-bit quantization of the canvas.
    pixels = np.array(image.evaluate(PIXELS))
    with torch.inference_mode():
        mean = trained.model.mean(torch.tensor(z, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(pixels, 255 * (1 - mean), atol=1.5)

    # A click moves the server-side sliders there (rounded to their step).
    page.mouse.click(box["x"] + 0.75 * box["width"], box["y"] + 0.25 * box["height"])
    half = round(0.5 * bound / 0.05) * 0.05
    expect(page.locator(".st-key-z1").get_by_role("slider")).to_have_attribute("aria-valuetext", f"{half:.2f}")
    expect(page.locator(".st-key-z2").get_by_role("slider")).to_have_attribute("aria-valuetext", f"{half:.2f}")
    page.wait_for_selector(IDLE)
    print("latent pad timings:", pad_state(page))  # figures for the report, not assertions
    page.locator(".pad-root").screenshot(path=artifacts / "pad.png")
    page.context.close()


def test_the_keyboard_moves_the_point_and_enter_moves_the_sliders(trained_server, browser):
    """The plane takes the focus (Tab reaches it); arrow keys move the decoded point, Enter the sliders."""
    from playwright.sync_api import expect

    url, _ = trained_server
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{url}/latent")
    page.wait_for_selector(".pad-root[data-z]")
    plane, root = page.locator(".pad-plane"), page.locator(".pad-root")
    expect(root).to_have_attribute("data-z", "0.000,0.000")
    page.wait_for_selector(IDLE)
    assert plane.get_attribute("tabindex") == "0"
    assert plane.evaluate("c => [c.width, c.height]") == [300, 300], "a square plane, drawn 1:1"
    plane.focus()
    before = page.locator(".pad-image").evaluate("c => c.toDataURL()")
    bound = float(root.get_attribute("data-bound"))
    step = 2 * bound / 60
    for _ in range(6):
        plane.press("ArrowRight")
    plane.press("Shift+ArrowUp")
    expect(root).not_to_have_attribute("data-z", re.compile(r",0\.000$"))  # the key is handled, then read
    z = [float(v) for v in root.get_attribute("data-z").split(",")]
    np.testing.assert_allclose(z, [6 * step, 5 * step], atol=1e-3)
    assert page.locator(".pad-image").evaluate("c => c.toDataURL()") != before, "the image follows the keys"
    expect(page.locator(".pad-readout")).to_contain_text("under the pointer")
    assert "ms" not in page.locator(".pad-readout").inner_text(), "no developer timings unless asked for"
    plane.press("Enter")
    z1 = round(6 * step / 0.05) * 0.05
    expect(page.locator(".st-key-z1").get_by_role("slider")).to_have_attribute("aria-valuetext", f"{z1:.2f}")
    page.context.close()
