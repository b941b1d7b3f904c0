"""The drawing pad in a real Chromium: strokes drawn with the mouse are prepared as an upload is,
encoded in the browser exactly as torch encodes them, scored with the pad's draws exactly as torch
scores them, and Undo / Clear take strokes back."""

from __future__ import annotations

import base64
import itertools

import numpy as np
import pytest
import torch
from browser_helpers import IDLE, start_server, stop_server

from vae_core import get_or_train, make_config
from vae_core.data.images import to_dataset_image
from vae_core.views.canvas import canvas_scores, score_draws

pytestmark = pytest.mark.browser
SEVEN = [[(0.2, 0.2), (0.8, 0.2)], [(0.8, 0.2), (0.45, 0.85)]]  # a "7": the bar, then the stem


@pytest.fixture(scope="module")
def trained_server(tmp_path_factory):
    """A server whose cache already holds the default digits model (2-D latent)."""
    folder = tmp_path_factory.mktemp("draw-server")
    trained = get_or_train(make_config("digits"), root=folder / "models")
    proc, url = start_server(folder / "models", folder / "streamlit.log")
    yield url, trained
    stop_server(proc)


def stroke(page, box: dict, points: list[tuple[float, float]], steps: int = 12) -> None:
    """Press, move through ``points`` (fractions of the canvas) in ``steps`` moves each, release."""
    at = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for (x0, y0), (x1, y1) in itertools.pairwise(at):
        for t in np.linspace(0, 1, steps)[1:]:
            page.mouse.move(x0 + t * (x1 - x0), y0 + t * (y1 - y0))
    page.mouse.up()


def pad_state(page) -> dict[str, str]:
    root = page.locator(".draw-root")
    keys = ("strokes", "image", "mu", "logvar", "elbo", "lk", "stroke-ms", "frame-ms")
    return {k: root.get_attribute(f"data-{k}") or "" for k in keys}


def floats(text: str) -> np.ndarray:
    return np.array([float(v) for v in text.split(",")])


def test_strokes_are_encoded_in_the_browser_as_torch_encodes_them(trained_server, browser, artifacts):
    from playwright.sync_api import expect

    url, trained = trained_server
    page = browser.new_context(viewport={"width": 1400, "height": 1300}).new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{url}/own_image")
    canvas, root, plane = page.locator(".draw-canvas"), page.locator(".draw-root"), page.locator(".draw-plane")
    page.wait_for_selector(".draw-root[data-strokes]")  # the pad has its payload and drew a first frame
    page.wait_for_selector(IDLE)
    expect(root).to_have_attribute("data-strokes", "0")
    empty_plane = plane.evaluate("c => c.toDataURL()")
    box = canvas.bounding_box()

    stroke(page, box, SEVEN[0])
    expect(root).to_have_attribute("data-strokes", "1")
    expect(root).not_to_have_attribute("data-mu", "")
    first = pad_state(page)
    first_plane = plane.evaluate("c => c.toDataURL()")
    assert first_plane != empty_plane, "the first stroke draws q(z|x) on the plane"
    stroke(page, box, SEVEN[1])
    expect(root).to_have_attribute("data-strokes", "2")
    state = pad_state(page)
    assert state["mu"] != first["mu"] and plane.evaluate("c => c.toDataURL()") != first_plane, "the ellipse moved"

    # The browser's 8x8 image is the upload's preparation of the very same canvas.
    png = base64.b64decode(canvas.evaluate("c => c.toDataURL('image/png')").split(",", 1)[1])
    image = floats(state["image"])
    np.testing.assert_allclose(image, to_dataset_image(png, 8), atol=1e-5)
    assert image.max() == pytest.approx(1.0) and 5 < image.sum() < 40
    # Its q(z|x) is torch's encoder on that image; its ELBO and L_100 are torch's with the pad's draws.
    model = trained.model
    with torch.inference_mode():
        mu, logvar = (t[0].numpy() for t in model.encode(torch.tensor(image, dtype=torch.float32)[None]))
    np.testing.assert_allclose(floats(state["mu"]), mu, atol=1e-4)
    np.testing.assert_allclose(floats(state["logvar"]), logvar, atol=1e-4)
    expected = canvas_scores(model, image, score_draws(2))
    assert float(state["elbo"]) == pytest.approx(expected["elbo"], abs=2e-3)
    assert float(state["lk"]) == pytest.approx(expected["l_k"], abs=2e-3)
    assert float(state["elbo"]) <= float(state["lk"])
    expect(page.locator(".draw-readout")).to_contain_text(f"ELBO {float(state['elbo']):.2f} nats")

    # The stroke's image went back to the server, which scores it again with torch.
    pad_elbo = page.locator(".st-key-draw_numbers [data-testid='stMetricValue']").first
    expect(pad_elbo).to_have_text(f"{expected['elbo']:.2f}", timeout=60_000)  # a rerun, on a busy machine
    page.wait_for_selector(IDLE)
    page.locator(".draw-root").screenshot(path=artifacts / "draw.png")
    page.screenshot(path=artifacts / "draw-page.png")
    print("draw pad timings:", {k: state[k] for k in ("stroke-ms", "frame-ms")})  # for the report only

    # Undo takes the stem back (the same q as after the bar alone); Clear empties the pad.
    page.get_by_role("button", name="Undo").click()
    expect(root).to_have_attribute("data-strokes", "1")
    np.testing.assert_allclose(floats(pad_state(page)["mu"]), floats(first["mu"]), atol=1e-6)
    page.get_by_role("button", name="Clear").click()
    expect(root).to_have_attribute("data-strokes", "0")
    expect(root).to_have_attribute("data-mu", "")
    assert plane.evaluate("c => c.toDataURL()") == empty_plane
    page.context.close()


PEN = """(canvas, kind) => {  // a stroke of pointer events of another kind, as a pen or a finger sends them
  const r = canvas.getBoundingClientRect();
  const at = (f) => ({ clientX: r.left + f * r.width, clientY: r.top + (0.2 + 0.6 * f) * r.height });
  const event = (type, f) => canvas.dispatchEvent(new PointerEvent(type, {
    pointerId: 7, pointerType: kind, isPrimary: true, bubbles: true, pressure: 0.5, ...at(f) }));
  event('pointerdown', 0.5);
  for (let i = 1; i <= 10; i++) event('pointermove', 0.5 + 0.02 * i);
  event('pointerup', 0.7);
}"""


@pytest.mark.parametrize("kind", ["pen", "touch"])
def test_a_pen_or_a_finger_draws_as_the_mouse_does(trained_server, browser, kind):
    from playwright.sync_api import expect

    url, _ = trained_server
    page = browser.new_context(viewport={"width": 1400, "height": 1300}).new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{url}/own_image")
    page.wait_for_selector(".draw-root[data-strokes]")
    root = page.locator(".draw-root")
    page.locator(".draw-canvas").evaluate(PEN, kind)
    expect(root).to_have_attribute("data-strokes", "1")
    expect(root).not_to_have_attribute("data-mu", "")
    assert len(floats(root.get_attribute("data-mu"))) == 2
    assert (
        page.locator(".draw-canvas").evaluate("c => c.style.touchAction || getComputedStyle(c).touchAction") == "none"
    )
    page.context.close()


@pytest.fixture(scope="module")
def mnist_server(tmp_path_factory):
    """A server with a short MNIST model (2-D latent) in its cache; skipped without the real files."""
    import os
    from pathlib import Path

    root = os.environ.get("VAE_LAB_DATA")
    if not root or not (Path(root) / "mnist").is_dir():
        pytest.skip("VAE_LAB_DATA does not point at the real datasets (e.g. VAE_LAB_DATA=../shared/data)")
    folder = tmp_path_factory.mktemp("draw-mnist")
    trained = get_or_train(make_config("mnist", epochs=2), root=folder / "models")
    proc, url = start_server(folder / "models", folder / "streamlit.log")
    yield url, trained
    stop_server(proc)


def test_a_drawing_becomes_a_28x28_image_as_an_upload_does(mnist_server, browser):
    from playwright.sync_api import expect

    url, trained = mnist_server
    page = browser.new_context(viewport={"width": 1400, "height": 1300}).new_page()
    page.set_default_timeout(120_000)
    page.goto(f"{url}/own_image?dataset=mnist&epochs=2")
    page.wait_for_selector(".draw-root[data-strokes]")
    canvas, root = page.locator(".draw-canvas"), page.locator(".draw-root")
    box = canvas.bounding_box()
    stroke(page, box, [(0.5, 0.15), (0.5, 0.85)])  # a "1"
    stroke(page, box, [(0.35, 0.3), (0.5, 0.15)])  # its flag
    expect(root).to_have_attribute("data-strokes", "2")
    state = pad_state(page)
    image = floats(state["image"])
    assert image.shape == (784,)
    png = base64.b64decode(canvas.evaluate("c => c.toDataURL('image/png')").split(",", 1)[1])
    np.testing.assert_allclose(image, to_dataset_image(png, 28), atol=1e-5)
    rows = np.nonzero(image.reshape(28, 28).max(1) > 0.25)[0]
    assert rows.max() - rows.min() + 1 in (19, 20, 21), "the ink's box is MNIST's 20 pixels high"
    with torch.inference_mode():
        mu, _ = (t[0].numpy() for t in trained.model.encode(torch.tensor(image, dtype=torch.float32)[None]))
    np.testing.assert_allclose(floats(state["mu"]), mu, atol=1e-4)
    expected = canvas_scores(trained.model, image, score_draws(2))
    assert float(state["lk"]) == pytest.approx(expected["l_k"], abs=5e-3)
    page.context.close()
