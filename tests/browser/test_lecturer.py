"""What a lecturer does in front of a class, in a real Chromium against a real server."""

from __future__ import annotations

import re
import time
import warnings
from urllib.parse import urlparse

import pytest
from browser_helpers import IDLE, settled

pytestmark = pytest.mark.browser

TOLERANCE = 0.01  # nats; L_5000 and the quadrature agree to about this on 2-D digits


def metrics(page, container: str) -> dict[str, float]:
    cards = page.locator(f".st-key-{container} [data-testid='stMetric']")
    cards.first.wait_for()
    pairs = cards.evaluate_all(  # in one read: the numbers stream in, cards come and go between two
        """cards => cards.map(c => [c.querySelector("[data-testid='stMetricLabel']")?.innerText,
                                    c.querySelector("[data-testid='stMetricValue']")?.innerText])"""
    )
    return {label.strip(): float(value.replace("−", "-")) for label, value in pairs if label and value}


def snapshot(page, path) -> None:
    """The whole page: Streamlit scrolls inside its main block, so grow the viewport to fit it."""
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": min(max(height, size["height"]), 6000)})
    page.wait_for_timeout(500)  # let plotly redraw at the new size
    page.screenshot(path=path)
    page.set_viewport_size(size)


def expanded_margins(page) -> list[str]:
    """Charts whose margins plotly had to widen after drawing them: it then draws them a second
    time (``vae_core.views.style.room``). Each as its key, with the margins given and used."""
    return page.evaluate(
        """() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(gd => {
            const f = gd._fullLayout, sides = ['l', 'r', 't', 'b'];
            const used = sides.map(s => Math.round(f._size[s])), given = sides.map(s => f.margin[s]);
            const key = [...(gd.closest('[class*="st-key-"]')?.classList || [])].find(c => c.startsWith('st-key-'));
            return used.some((u, i) => u > given[i]) ? [`${key}: given ${given}, used ${used}`] : [];
        })"""
    )


def polling(page, timeout: float = 10.0) -> bool:
    """Whether the Train page's progress bar moves within ``timeout`` seconds (its fragment reruns)."""
    bar = page.locator("[data-testid='stProgress']").first
    before, end = bar.inner_text(), time.monotonic() + timeout
    while time.monotonic() < end:
        if bar.inner_text() != before:
            return True
        page.wait_for_timeout(200)
    return False


def wait_for_step(page, at_least: int, timeout: float = 60.0) -> int:
    """The step the progress bar shows, once it is at least ``at_least``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = re.search(r"step (\d+)/", page.locator("[data-testid='stProgress']").first.inner_text())
        if found and int(found.group(1)) >= at_least:
            return int(found.group(1))
        page.wait_for_timeout(200)
    raise AssertionError(f"the progress bar never reached step {at_least}")


def test_train_explore_and_compare_the_elbo(server, page, artifacts):
    from playwright.sync_api import expect

    outside: list[str] = []
    page.on("request", lambda r: None if _local(r.url) else outside.append(r.url))

    # Train: a new user sees what to do, presses Start, and watches the run finish.
    page.goto(server)
    page.wait_for_selector(IDLE)
    expect(page.get_by_text("Nothing has been trained with these settings yet")).to_be_visible()
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text("Trained and cached")).to_be_visible(timeout=180_000)
    page.wait_for_selector(IDLE)
    expect(page.locator(".js-plotly-plot")).to_have_count(2)  # curves, KL per dim
    expect(page.locator(".st-key-train_scatter .codes-root[data-points='360']")).to_have_count(1)  # the codes chart
    assert not expanded_margins(page), "each chart drawn once, in the margins it was given"
    snapshot(page, artifacts / "train.png")

    # Latent space: moving z1 decodes a different image (the pad's: the page's one decoded image).
    page.get_by_role("link", name="Latent space").click()
    root, decoded = page.locator(".pad-root"), page.locator(".pad-image")
    expect(root).to_have_attribute("data-z", "0.000,0.000")
    page.wait_for_selector(IDLE)
    before = decoded.evaluate("c => c.toDataURL()")
    slider = page.locator(".st-key-z1").get_by_role("slider")  # a visually hidden input[type=range]
    slider.focus()
    for _ in range(10):
        slider.press("ArrowRight")
    expect(slider).to_have_attribute("aria-valuetext", "0.50")
    expect(root).to_have_attribute("data-z", "0.500,0.000")
    assert decoded.evaluate("c => c.toDataURL()") != before
    page.wait_for_selector(IDLE)
    expect(page.locator(".pad-readout")).to_have_text("(z1, z2) = (+0.50, +0.00) at the sliders (✕)")
    expect(page.locator(".st-key-decoded img")).to_have_count(0)  # no second, server-side copy
    assert not expanded_margins(page)
    snapshot(page, artifacts / "latent.png")

    # ELBO vs log p(x): the page shows ELBO <= importance estimate <= quadrature.
    page.get_by_role("link", name="ELBO vs log p(x)").click()
    metrics(page, "elbo_numbers")  # the first numbers, at once; L_5000 and the quadrature stream in
    page.get_by_text("log p(x), importance k=5000").wait_for()
    page.get_by_text("log p(x), quadrature").first.wait_for()
    settled(page)
    numbers = metrics(page, "elbo_numbers")
    elbo, iw = numbers["ELBO (analytic KL)"], numbers["log p(x), importance k=5000"]
    exact = numbers["log p(x), quadrature"]
    assert elbo < exact, numbers
    assert elbo <= iw + TOLERANCE, numbers
    assert iw <= exact + TOLERANCE, numbers
    expect(page.locator(".js-plotly-plot")).to_have_count(2)  # log-k curve and the posterior
    assert not expanded_margins(page)
    snapshot(page, artifacts / "elbo.png")

    assert not outside, f"the app must make no outbound call: {outside[:5]}"


def live_chart(page, key: str) -> dict[str, str | None]:
    """The live chart ``key``'s record of its last draw (live_chart.js) and whether its canvas
    holds any ink."""
    root = page.locator(f".st-key-{key} .live-root")
    found = {name: root.get_attribute(f"data-{name}") for name in ("kind", "draws", "points", "x-max")}
    inked = root.locator("canvas").evaluate(
        "c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some((v, i) => i % 4 === 3 && v > 0)"
    )
    return found | {"inked": inked, "label": root.locator("canvas").get_attribute("aria-label")}


def test_a_run_is_drawn_live_on_canvas_and_by_plotly_once_it_ends(server, page, artifacts):
    """While a run trains, each poll redraws its charts on the live chart's canvas (no plotly
    chart is mounted anew every second); the curves grow with the run's steps; Stop ends the run
    and the page draws plotly's charts and the codes chart, with hover, once."""
    from playwright.sync_api import expect

    page.goto(f"{server}/?epochs=400&seed=11")
    page.wait_for_selector(IDLE)
    page.get_by_role("button", name="Start training").click()
    first = wait_for_step(page, 100)
    page.wait_for_selector(".st-key-live_scatter .live-root[data-points='1']")  # the codes' picture has loaded
    curves = live_chart(page, "live_curves")
    assert curves["kind"] == "lines" and curves["inked"], curves
    assert "Training curves" in curves["label"], curves
    bars, scatter = live_chart(page, "live_kl_bars"), live_chart(page, "live_scatter")
    assert (bars["kind"], bars["points"], bars["inked"]) == ("bars", "2", True), bars
    assert scatter["kind"] == "codes" and scatter["inked"], scatter
    expect(page.locator(".js-plotly-plot")).to_have_count(0)
    page.locator(".st-key-live_curves").screenshot(path=artifacts / "live_curves.png")
    if not polling(page):  # Streamlit's run_every timers can stop (an open bug): a user reloads
        warnings.warn("the Train page stopped polling while a run trained; reloaded it", stacklevel=1)
        page.reload()
        page.wait_for_selector(".st-key-live_curves .live-root[data-draws]")
        curves = live_chart(page, "live_curves")
    wait_for_step(page, int(curves["x-max"]) + 200)
    later = live_chart(page, "live_curves")
    assert int(later["draws"]) > int(curves["draws"]), (curves, later)
    assert int(later["x-max"]) > int(curves["x-max"]) >= first - 50, (curves, later)
    page.get_by_role("button", name="Stop").click()
    expect(page.locator(".js-plotly-plot")).to_have_count(2, timeout=30_000)  # curves, KL per dim
    expect(page.locator(".st-key-train_scatter .codes-root[data-draws]")).to_have_count(1)  # the codes, hover and all
    expect(page.locator(".live-root")).to_have_count(0)
    page.wait_for_selector(IDLE)
    assert not expanded_margins(page)


def test_two_tabs_share_one_run_and_stop_stops_it(server, browser, artifacts):
    from playwright.sync_api import expect

    tabs = [browser.new_context(viewport={"width": 1400, "height": 1000}).new_page() for _ in range(2)]
    for tab in tabs:
        tab.set_default_timeout(60_000)
        tab.goto(server)
        tab.wait_for_selector(IDLE)
    for tab in tabs:  # a long run, so that there is time to stop it
        tab.locator("[data-testid='stSidebar']").get_by_text("Advanced").click()
        epochs = tab.locator(".st-key-epochs input")
        epochs.fill("400")
        epochs.press("Enter")
        tab.wait_for_selector(IDLE)
    first, second = tabs
    first.get_by_role("button", name="Start training").click()
    expect(first.get_by_text("Training in the background")).to_be_visible()
    # The second tab presses Start too: it joins the run (one job per config per server).
    second.get_by_role("button", name="Start training").click()
    expect(second.get_by_text("Training in the background")).to_be_visible()
    expect(second.get_by_role("button", name="Start training")).to_be_disabled()
    first_step = wait_for_step(first, 50)
    assert wait_for_step(second, first_step) >= first_step  # a later duplicate would lag behind
    second.get_by_role("button", name="Stop").click()
    expect(first.get_by_text("Run stopped")).to_be_visible()
    snapshot(first, artifacts / "stopped.png")
    for tab in tabs:
        tab.context.close()


def _local(url: str) -> bool:
    """A request that stays in this browser or on this machine (blob: and data: URLs hold inline
    component code)."""
    parsed = urlparse(url)
    return parsed.scheme in ("blob", "data") or parsed.hostname == "127.0.0.1"
