"""Slider -> decoded-image latency in a real browser, with and without a training run going,
the time from pressing Start to the first point of the curves, and the latent pad's in-browser
decode and frame times (its own performance.now() figures, read from the page).

    python bench/app_latency.py [--moves 25]

Starts its own server (private model cache), drives the system Chromium, prints the figures.
A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from vae_core import get_or_train, make_config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))  # the browser tests' server and Chromium helpers

from browser_helpers import CHROMIUM_ARGS, IDLE, chromium_path, start_server, stop_server  # noqa: E402

# The latent pad is the page's one decoded image: it redraws when the sliders' value reaches it, and
# writes the point it drew into data-z.
CHANGED = "old => { const r = document.querySelector('.pad-root'); return r && r.dataset.z !== old; }"


def slider_latencies(page, moves: int) -> list[float]:
    """Seconds from a key press on z1 to the pad's redrawn image at the new point, for each move."""
    slider = page.locator(".st-key-z1").get_by_role("slider")
    slider.focus()
    out = []
    for i in range(moves):
        before = page.locator(".pad-root").get_attribute("data-z")
        t0 = time.perf_counter()
        slider.press("ArrowRight" if (i // 5) % 2 == 0 else "ArrowLeft")
        page.wait_for_function(CHANGED, arg=before, polling=5)
        out.append(time.perf_counter() - t0)
        page.wait_for_selector(IDLE)
    return out


def pad_timings(page, moves: int = 120) -> dict[str, str | None]:
    """Sweep the pointer over the latent pad; its medians of the last 120 frames, in ms."""
    plane = page.locator(".pad-plane")
    box = plane.bounding_box()
    for i in range(moves):
        page.mouse.move(box["x"] + 20 + 2 * (i % 130), box["y"] + 30 + 1.5 * (i % 170))
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    root = page.locator(".pad-root")
    return {k: root.get_attribute(f"data-{k}") for k in ("frames", "decode-ms", "frame-ms", "bench-decode-ms")}


def summary(name: str, seconds: list[float]) -> str:
    ms = [1000 * s for s in seconds]
    p95 = statistics.quantiles(ms, n=20)[-1] if len(ms) > 1 else ms[0]
    return f"{name}: median {statistics.median(ms):.0f} ms, p95 {p95:.0f} ms, max {max(ms):.0f} ms over {len(ms)} moves"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=25)
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="vae-lab-bench-"))
    get_or_train(make_config("digits"), root=folder / "models")  # the model the slider decodes
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        launched = time.perf_counter()  # `streamlit run` -> the first page drawn and idle
        proc, url = start_server(folder / "models", folder / "streamlit.log")
        try:
            viewer = browser.new_page(viewport={"width": 1400, "height": 1000})
            viewer.goto(url)
            viewer.wait_for_selector("h1")
            viewer.wait_for_selector(IDLE)
            first_render = time.perf_counter() - launched
            viewer.goto(f"{url}/latent")
            viewer.wait_for_selector(".pad-root[data-z]")
            viewer.wait_for_selector(IDLE)
            idle = slider_latencies(viewer, args.moves)
            pad = pad_timings(viewer)

            trainer = browser.new_page(viewport={"width": 1400, "height": 1000})
            trainer.goto(url)
            trainer.wait_for_selector(IDLE)
            trainer.locator("[data-testid='stSidebar']").get_by_text("Advanced").click()
            trainer.locator(".st-key-epochs input").fill("500")
            trainer.locator(".st-key-epochs input").press("Enter")
            trainer.wait_for_selector(IDLE)
            t0 = time.perf_counter()
            trainer.get_by_role("button", name="Start training").click()
            trainer.wait_for_selector(".st-key-curves .js-plotly-plot, [class*='st-key-curves'] .js-plotly-plot")
            first_point = time.perf_counter() - t0
            busy = slider_latencies(viewer, args.moves)
            trainer.get_by_role("link", name="Compare two runs").click()  # Train stops polling; the run goes on
            trainer.wait_for_selector(IDLE)
            background = slider_latencies(viewer, args.moves)
            trainer.get_by_role("link", name="Train", exact=True).click()
            trainer.get_by_role("button", name="Stop").click()
        finally:
            stop_server(proc)
            browser.close()
    print(f"streamlit run -> first page rendered: {first_render:.2f} s")
    print(summary("slider -> decoded image, idle server", idle))
    print(summary("slider -> decoded image, while a run trains (its tab polling)", busy))
    print(summary("slider -> decoded image, while a run trains (no tab polling it)", background))
    print(
        f"latent pad in the browser: {pad['frames']} frames, median decode {pad['decode-ms']} ms, median frame "
        f"{pad['frame-ms']} ms (timer resolution 0.1 ms); warm benchmark {pad['bench-decode-ms']} ms per decode"
    )
    print(f"Start -> first curve point: {1000 * first_point:.0f} ms")
    if args.json:
        ms = {name: [1000 * s for s in v] for name, v in (("idle", idle), ("busy", busy), ("bg", background))}
        print(
            json.dumps(
                {
                    "first_render_seconds": first_render,
                    "slider_ms_median": statistics.median(ms["idle"]),
                    "slider_ms_p95": statistics.quantiles(ms["idle"], n=20)[-1],
                    "slider_ms_max": max(ms["idle"]),
                    "slider_ms_median_training": statistics.median(ms["busy"]),
                    "slider_ms_p95_training": statistics.quantiles(ms["busy"], n=20)[-1],
                    "slider_ms_median_training_background": statistics.median(ms["bg"]),
                    "slider_ms_p95_training_background": statistics.quantiles(ms["bg"], n=20)[-1],
                    "start_to_first_curve_seconds": first_point,
                    "pad_decode_ms": float(pad["bench-decode-ms"] or "nan"),
                }
            )
        )


if __name__ == "__main__":
    main()
