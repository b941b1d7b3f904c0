"""What a lecturer shows a class, in a real Chromium: the settings and the link survive "Train it
now", no chart label hides under the chart's toolbar, the dark theme stays readable, a legend
click isolates a class, and presenter mode enlarges what the back row must see."""

from __future__ import annotations

import io
import re
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from browser_helpers import IDLE, start_server, stop_server
from PIL import Image

from vae_core import get_or_train, make_config

pytestmark = pytest.mark.browser

DEFAULT = make_config("digits")  # 2-D latent, β 1


@pytest.fixture(scope="module")
def lecture_server(browser, tmp_path_factory):
    """The app with the default digits model and its β = 4 twin already in its private cache."""
    folder = tmp_path_factory.mktemp("lecture-server")
    get_or_train(DEFAULT, root=folder / "models")
    get_or_train(make_config("digits", beta=4.0), root=folder / "models")  # for Compare two runs
    proc, url = start_server(folder / "models", folder / "streamlit.log")
    yield url
    stop_server(proc)


def query(page) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def settle(page, selector: str) -> None:
    page.wait_for_selector(IDLE)
    page.locator(selector).first.wait_for()
    page.wait_for_selector(IDLE)


def test_train_it_now_keeps_the_settings_and_the_address_bar_follows(lecture_server, page):
    """Bugs 1 and 2: the Train page opened on the default settings with the old link."""
    from playwright.sync_api import expect

    page.goto(f"{lecture_server}/latent?dataset=digits&latent_dim=2&beta=2.5&epochs=3")
    settle(page, "button:has-text('Train it now')")
    assert query(page)["beta"] == "2.5" and urlparse(page.url).path.endswith("/latent")
    beta = page.locator("[data-testid='stSidebar']").get_by_role("slider", name="β")
    beta.focus()
    beta.press("ArrowRight")  # a "no model yet" page: the link must follow the slider
    expect(beta).to_have_attribute("aria-valuetext", "3")
    page.wait_for_selector(IDLE)
    expect(page).to_have_url(re.compile(r"[?&]beta=3(&|$)"))
    page.get_by_role("button", name="Train it now").click()
    expect(page.get_by_role("heading", name="Train")).to_be_visible()
    expect(page.get_by_text("Trained and cached")).to_be_visible(timeout=120_000)
    assert beta.get_attribute("aria-valuetext") == "3"
    assert query(page) == {"dataset": "digits", "latent_dim": "2", "beta": "3", "epochs": "3"}
    page.get_by_role("link", name="Latent space").click()
    settle(page, ".pad-plane")
    assert urlparse(page.url).path.endswith("/latent") and query(page)["beta"] == "3"


def overlaps(a: dict, b: dict, slack: float = 1.0) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"] + slack
        or b["x"] + b["width"] <= a["x"] + slack
        or a["y"] + a["height"] <= b["y"] + slack
        or b["y"] + b["height"] <= a["y"] + slack
    )


LABELS = ".infolayer text, .annotation text, .legendtext, .cbtitle text, .g-gtitle text"


@pytest.mark.parametrize("path", ["", "latent", "elbo", "posterior", "gradients", "compare"])
def test_no_label_hides_under_a_charts_toolbar(lecture_server, page, path):
    page.goto(f"{lecture_server}/{path}?dataset=digits&latent_dim=2&beta=1")
    settle(page, ".js-plotly-plot")
    page.wait_for_timeout(1000)  # plotly draws its text after the element appears
    charts = page.locator("[data-testid='stPlotlyChart']")
    problems = []
    for i in range(charts.count()):
        chart = charts.nth(i)
        chart.scroll_into_view_if_needed()
        chart.hover()
        bar = chart.locator(".modebar")
        bar.wait_for(state="visible")
        toolbar = bar.bounding_box()
        for label in chart.locator(LABELS).all():
            box = label.bounding_box()
            if box and box["width"] > 0 and overlaps(box, toolbar):
                problems.append(f"chart {i}: {label.text_content()!r} under the toolbar")
    assert not problems, problems


def contrast(a: np.ndarray, b: np.ndarray) -> float:
    """WCAG contrast ratio of two sRGB colours (0-255)."""

    def luminance(c: np.ndarray) -> float:
        c = c / 255
        c = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
        return float(0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2])

    hi, lo = sorted([luminance(a), luminance(b)], reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_the_posterior_legend_is_readable_in_a_dark_theme(lecture_server, browser):
    """Bug 7: with the OS in dark mode the legend's text was white on a white box."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, color_scheme="dark")
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{lecture_server}/posterior?dataset=digits&latent_dim=2&beta=1")
    settle(page, ".js-plotly-plot .legendtext")
    legend = page.locator("[data-testid='stPlotlyChart']").first.locator(".legend")
    text = np.array(
        [
            float(v)
            for v in legend.locator(".legendtext")
            .first.evaluate("e => getComputedStyle(e).fill")
            .strip("rgba()")
            .split(",")[:3]
        ]
    )
    shot = np.asarray(Image.open(io.BytesIO(legend.screenshot())).convert("RGB")).reshape(-1, 3)
    background = np.median(shot, 0)  # the legend's box is mostly background
    assert contrast(text, background) >= 4.5, (text, background)
    context.close()


def code_under_pointer(page, root) -> tuple[re.Match, tuple[float, float]]:
    """Sweep the pointer over a codes chart until its tooltip names a code: (the tooltip's
    "test image #row: class (x, y)" matched, the pointer's page position)."""
    box = root.locator("canvas").bounding_box()
    tip = root.locator(".codes-tip")
    for fx in np.linspace(0.2, 0.6, 9):
        for fy in np.linspace(0.2, 0.7, 9):
            at = (box["x"] + fx * box["width"], box["y"] + fy * box["height"])
            page.mouse.move(*at)
            if tip.is_visible():
                said = re.match(r"test image #(\d+): (\d) \((-?[\d.]+), (-?[\d.]+)\)", tip.inner_text())
                assert said, tip.inner_text()
                return said, at
    raise AssertionError("no code under the pointer anywhere on the plane")


def test_the_codes_chart_names_picks_isolates_and_zooms(lecture_server, page):
    """The Latent page's canvas of the 10,000-marker scatter it replaced: hover names a test image,
    a click picks it (its picture and reconstruction, the sliders at its code), a legend click shows
    one class alone, the wheel zooms and a double click goes back."""
    import json

    from playwright.sync_api import expect

    page.goto(f"{lecture_server}/latent?dataset=digits&latent_dim=2&beta=1")
    settle(page, ".st-key-latent_scatter .codes-root[data-draws]")
    root = page.locator(".st-key-latent_scatter .codes-root")
    canvas = root.locator("canvas")
    canvas.scroll_into_view_if_needed()
    assert root.get_attribute("data-points") == "360" and root.get_attribute("data-shown") == ",".join(
        map(str, range(10))
    )
    box = canvas.bounding_box()
    said, found = code_under_pointer(page, root)
    row, z1 = int(said[1]), float(said[3])
    page.mouse.click(*found)
    expect(page.get_by_text(f"Test image #{row}: original (left) and reconstruction (right)")).to_be_visible()
    near = "([sel, z]) => Math.abs(parseFloat(document.querySelector(sel).getAttribute('aria-valuetext')) - z) <= 0.03"
    page.wait_for_function(near, arg=["input[aria-label='z₁']", z1])  # the sliders at its code (their 0.05 steps)
    legend = {e["name"]: e for e in json.loads(root.get_attribute("data-legend"))}
    three = legend["3"]
    page.mouse.click(box["x"] + three["x"] + 5, box["y"] + three["y"] + three["h"] / 2)
    expect(root).to_have_attribute("data-shown", "3")
    assert 0 < int(root.get_attribute("data-points")) < 360
    page.mouse.click(box["x"] + three["x"] + 5, box["y"] + three["y"] + three["h"] / 2)
    expect(root).to_have_attribute("data-shown", ",".join(map(str, range(10))))
    whole = root.get_attribute("data-view")
    page.mouse.move(box["x"] + 0.35 * box["width"], box["y"] + 0.4 * box["height"])
    page.mouse.wheel(0, -400)  # in, about the pointer
    expect(root).not_to_have_attribute("data-view", whole)
    x0, x1, *_ = map(float, root.get_attribute("data-view").split(","))
    w0, w1, *_ = map(float, whole.split(","))
    assert x1 - x0 < 0.8 * (w1 - w0)
    canvas.dblclick(position={"x": 0.35 * box["width"], "y": 0.4 * box["height"]})
    expect(root).to_have_attribute("data-view", whole)
    save = root.locator(".codes-save").bounding_box()
    for entry in legend.values():  # the PNG button covers no legend entry
        assert not overlaps(
            save, {"x": box["x"] + entry["x"], "y": box["y"] + entry["y"], "width": entry["w"], "height": entry["h"]}
        )
    with page.expect_download() as download:
        root.locator(".codes-save").click()
    assert download.value.suggested_filename == "latent_scatter.png"


def test_the_replay_keeps_a_class_shown_alone_and_the_zoom_while_it_plays(lecture_server, page):
    """The Replay page's codes chart is one chart for the whole run: a legend click or a zoom made
    on one moment stays while the moments play, the codes themselves move."""
    import json

    from playwright.sync_api import expect

    page.goto(f"{lecture_server}/replay?dataset=digits&latent_dim=2&beta=1")
    settle(page, ".st-key-replay_scatter .codes-root[data-draws]")
    root = page.locator(".st-key-replay_scatter .codes-root")
    canvas = root.locator("canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    three = {e["name"]: e for e in json.loads(root.get_attribute("data-legend"))}["3"]
    page.mouse.click(box["x"] + three["x"] + 5, box["y"] + three["y"] + three["h"] / 2)
    expect(root).to_have_attribute("data-shown", "3")
    whole = root.get_attribute("data-view")
    page.mouse.move(box["x"] + 0.4 * box["width"], box["y"] + 0.5 * box["height"])
    page.mouse.wheel(0, -400)
    expect(root).not_to_have_attribute("data-view", whole)
    zoomed, draws = root.get_attribute("data-view"), int(root.get_attribute("data-draws"))
    moment = page.get_by_role("slider", name="Moment of training")
    end = moment.get_attribute("aria-valuetext")
    page.get_by_role("button", name="Play").click()
    page.wait_for_function(
        "([el, n]) => Number(el.dataset.draws) >= n + 3", arg=[root.element_handle(), draws], timeout=30_000
    )  # three moments later
    assert moment.get_attribute("aria-valuetext") != end, "it plays"
    assert root.get_attribute("data-shown") == "3" and root.get_attribute("data-view") == zoomed
    page.get_by_role("button", name="Pause").click()


def sizes(page) -> dict[str, float]:
    plane = page.locator(".pad-plane").bounding_box()["width"]
    drawn = page.locator(".pad-plane").evaluate("c => [c.width, c.height, c.clientWidth, c.clientHeight]")
    assert len(set(drawn)) == 1, f"the canvas is drawn at its displayed size, square: {drawn}"
    image = page.locator(".pad-image").bounding_box()["width"]
    tiles = page.locator(".st-key-manifold .js-plotly-plot").bounding_box()["width"]
    codes = page.locator(".st-key-latent_scatter .codes-root")
    marker, font = float(codes.get_attribute("data-radius")), float(codes.get_attribute("data-font"))
    return {"plane": plane, "image": image, "tiles": tiles, "marker": marker, "font": font}


def test_presenter_mode_enlarges_what_a_class_must_see(lecture_server, page, artifacts):
    """Not only the text: the pad, the decoder's map, the scatter's markers and type."""
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{lecture_server}/latent?dataset=digits&latent_dim=2&beta=1")
    settle(page, ".st-key-manifold .js-plotly-plot")
    normal = sizes(page)
    page.goto(f"{lecture_server}/latent?dataset=digits&latent_dim=2&beta=1&presenter=1")
    settle(page, ".st-key-manifold .js-plotly-plot")
    presenter = sizes(page)
    page.screenshot(path=artifacts / "presenter_latent.png")
    assert all(presenter[k] >= 1.5 * normal[k] for k in ("plane", "image", "tiles", "marker")), (normal, presenter)
    assert presenter["font"] >= 18 > normal["font"]


def test_the_walkthroughs_plane_draws_q_and_the_draw_and_a_click_takes_another_image(lecture_server, page):
    """One sample, step by step: the plane is the codes chart (360 codes, not an SVG of them), with
    q(z|x)'s ellipses, μ(x) and z* in its legend; a click on a code walks that test image through."""
    import json

    from playwright.sync_api import expect

    page.goto(f"{lecture_server}/walkthrough?dataset=digits&latent_dim=2&beta=1")
    settle(page, ".st-key-walk_plane .codes-root[data-draws]")
    root = page.locator(".st-key-walk_plane .codes-root")
    root.scroll_into_view_if_needed()
    assert root.get_attribute("data-points") == "360"
    names = [e["name"] for e in json.loads(root.get_attribute("data-legend"))]
    assert names[:5] == ["prior N(0, I): 1, 2, 3σ", "q(z|x), 1σ", "q(z|x), 2σ", "μ(x), its code", "z* = μ + σ·ε"]
    said, at = code_under_pointer(page, root)
    page.mouse.click(*at)
    expect(page.get_by_role("heading", name=f"Test image #{said[1]}, draw 1")).to_be_visible()
    expect(page.locator(".st-key-walk_image input")).to_have_value(said[1])
