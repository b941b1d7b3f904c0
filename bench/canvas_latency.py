"""The drawing pad's latency in a real browser: from a stroke's end (the pointerup event) to the
frame that has drawn q(z|x)'s ellipse for it, median over many strokes drawn with the mouse.

    python bench/canvas_latency.py [--strokes 24] [--dataset digits|mnist]

Starts its own server on 127.0.0.1 (private model cache, the dataset's default 2-D model trained
into it), drives the system Chromium, prints one JSON object. Two figures per stroke: the pad's own
(performance.now() at the drawn ellipse minus the pointerup event's timeStamp, read from
data-stroke-ms) and the one seen from Python (before mouse.up() to the pad's report, which adds
Playwright's round trip). A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from vae_core import get_or_train, make_config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))  # the browser tests' server and Chromium helpers

from browser_helpers import CHROMIUM_ARGS, IDLE, chromium_path, start_server, stop_server  # noqa: E402

# The pad lives in its component's shadow root: the page's document does not see it, an element handle does.
GREW = "([root, n]) => { const s = root.dataset.strokeMs; return (s ? s.split(',').length : 0) > n; }"


def wait_for_entry(page, root, n: int) -> None:
    """Until the pad (its root's element handle) has reported more than n stroke timings."""
    page.wait_for_function(GREW, arg=[root, n], polling="raf")


def entries(page) -> list[float]:
    text = page.locator(".draw-root").get_attribute("data-stroke-ms") or ""
    return [float(v) for v in text.split(",") if v]


def one_stroke(page, box: dict, i: int) -> tuple[float, float]:
    """A short diagonal stroke at a place that moves with i; (the pad's ms, Python's ms)."""
    n, root = len(entries(page)), page.locator(".draw-root").element_handle()
    x0, y0 = box["x"] + 40 + 9 * (i % 20), box["y"] + 40 + 7 * (i % 25)
    page.mouse.move(x0, y0)
    page.mouse.down()
    for t in range(1, 9):
        page.mouse.move(x0 + 6 * t, y0 + 8 * t)
    t0 = time.perf_counter()
    page.mouse.up()
    wait_for_entry(page, root, n)
    seen = 1000 * (time.perf_counter() - t0)
    return entries(page)[n], seen


def stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": round(statistics.median(values), 2),
        "p90": round(ordered[int(0.9 * (len(ordered) - 1))], 2),
        "max": round(ordered[-1], 2),
    }


def measure(url: str, strokes: int, dataset: str) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        page.set_default_timeout(120_000)
        page.goto(f"{url}/own_image?dataset={dataset}")
        page.wait_for_selector(".draw-root[data-strokes]")
        page.wait_for_selector(IDLE)
        box = page.locator(".draw-canvas").bounding_box()
        pad_ms, seen_ms = [], []
        for i in range(strokes):  # bounded: one stroke, then Undo from the third on (two strokes stay)
            pad, seen = one_stroke(page, box, i)
            pad_ms.append(pad)
            seen_ms.append(seen)
            page.wait_for_selector(IDLE)  # the stroke's end reruns the page (the server's scores)
            if i >= 1:
                n = len(entries(page))
                page.get_by_role("button", name="Undo").click()
                wait_for_entry(page, page.locator(".draw-root").element_handle(), n)
                page.wait_for_selector(IDLE)
        frame_ms = page.locator(".draw-root").get_attribute("data-frame-ms")
        browser.close()
    return {"pad_ms": pad_ms, "seen_ms": seen_ms, "frame_ms_median": float(frame_ms)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strokes", type=int, default=24)
    parser.add_argument("--dataset", default="digits", choices=["digits", "mnist", "fashion-mnist"])
    args = parser.parse_args()
    if chromium_path() is None:
        sys.exit("no system Chromium (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as folder:
        cache = Path(folder) / "models"
        get_or_train(make_config(args.dataset), root=cache)
        proc, url = start_server(cache, Path(folder) / "streamlit.log")
        try:
            figures = measure(url, args.strokes, args.dataset)
        finally:
            stop_server(proc)
    out = {
        "dataset": args.dataset,
        "strokes": args.strokes,
        "stroke_end_to_ellipse_ms": stats(figures["pad_ms"]),
        "seen_from_python_ms": stats(figures["seen_ms"]),
        "frame_ms_median": figures["frame_ms_median"],
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
