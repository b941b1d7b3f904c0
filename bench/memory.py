"""The real server's peak memory for the two loads of issue 15: simultaneous decompression-bomb
uploads on the own-image page, and many finished MNIST runs.

    python bench/memory.py uploads [--sessions 8]
    VAE_LAB_DATA=../shared/data python bench/memory.py runs [--runs 20] [--epochs 10]

Starts its own server (``streamlit run app.py`` in the folder given by ``--app``, default this
checkout, with a private model cache), drives the system Chromium through Playwright, and reads
the server process's VmRSS and VmHWM (the peak resident set) from /proc. Point ``--app`` at a
checkout of an older commit to measure "before". A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))  # the browser tests' Chromium helpers

from browser_helpers import CHROMIUM_ARGS, IDLE, chromium_path, start_server  # noqa: E402


def bomb_png(side: int = 6300) -> bytes:
    """A white side×side grayscale PNG with one thick stroke: ~50 KB that decodes to 40 Mpx."""
    from PIL import Image, ImageDraw

    picture = Image.new("L", (side, side), 255)
    ImageDraw.Draw(picture).line([(side // 2, side // 8), (side // 2, side * 7 // 8)], fill=0, width=side // 10)
    out = io.BytesIO()
    picture.save(out, "PNG", optimize=True)
    return out.getvalue()


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of a process, in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields


def pretrain(app: Path, cache: Path) -> None:
    """The default digits model, trained into the server's cache by that checkout's own code."""
    code = "from vae_core import get_or_train, make_config; get_or_train(make_config('digits'))"
    env = {**os.environ, "VAE_LAB_CACHE": str(cache), "PYTHONPATH": str(app)}
    subprocess.run([sys.executable, "-c", code], cwd=app, env=env, check=True)


def uploads(browser, app: Path, folder: Path, sessions: int) -> dict:
    cache = folder / "models"
    pretrain(app, cache)
    bomb = folder / "bomb.png"
    bomb.write_bytes(bomb_png())
    proc, url = start_server(cache, folder / "server.log", script=app / "app.py")
    try:
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        pages = []
        for _ in range(sessions):
            page = context.new_page()
            page.set_default_timeout(300_000)
            page.goto(f"{url}/own_image")
            page.locator("input[type=file]").wait_for(state="attached")
            page.wait_for_selector(IDLE)
            pages.append(page)
        before = memory_mb(proc.pid)
        t0 = time.perf_counter()
        for page in pages:  # each upload starts its own rerun at once: all decode together
            page.locator("input[type=file]").set_input_files(str(bomb))
        for page in pages:
            page.get_by_text("As the model sees it").or_(page.get_by_text("🚫")).first.wait_for()
        seconds = time.perf_counter() - t0
        after = memory_mb(proc.pid)
        context.close()
    finally:
        proc.terminate()
        proc.wait(30)
    return {
        "load": f"{sessions} simultaneous uploads of a {bomb.stat().st_size // 1024} KB 6300x6300 PNG",
        "rss_before_mb": round(before["VmRSS"], 1),
        "peak_before_mb": round(before["VmHWM"], 1),
        "peak_after_mb": round(after["VmHWM"], 1),
        "rss_after_mb": round(after["VmRSS"], 1),
        "seconds": round(seconds, 1),
    }


def runs(browser, app: Path, folder: Path, n: int, epochs: int) -> dict:
    """Start each run from the Train page, then leave the page (its charts' polling would measure
    Chromium, not the server) and wait for the run's entry to appear in the cache."""
    cache = folder / "models"
    proc, url = start_server(cache, folder / "server.log", script=app / "app.py")
    rss = []
    try:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.set_default_timeout(120_000)
        for i in range(n):
            page.goto(f"{url}/?dataset=mnist&epochs={epochs}&seed={100 + i}")
            page.wait_for_selector(IDLE)
            page.get_by_role("button", name="Start training").click()
            page.locator("[data-testid='stProgress']").first.wait_for()
            page.goto("about:blank")
            end = time.monotonic() + 1800
            while len([d for d in cache.glob("[!.]*") if d.is_dir()]) <= i:
                assert time.monotonic() < end and proc.poll() is None, "the run did not finish"
                time.sleep(0.5)
            time.sleep(1)  # the job's last bookkeeping after its entry is written
            rss.append(memory_mb(proc.pid)["VmRSS"])
            print(f"run {i + 1}/{n}: server RSS {rss[-1]:.0f} MB", file=sys.stderr, flush=True)
        final = memory_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
    return {
        "load": f"{n} finished MNIST runs of {epochs} epoch(s), one after the other",
        "rss_after_first_run_mb": round(rss[0], 1),
        "rss_after_last_run_mb": round(final["VmRSS"], 1),
        "per_run_growth_mb": round((rss[-1] - rss[0]) / max(1, n - 1), 1),
        "peak_mb": round(final["VmHWM"], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("load", choices=["uploads", "runs"])
    parser.add_argument("--app", type=Path, default=ROOT, help="the checkout to serve (default: this one)")
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        app = args.app.resolve()
        if args.load == "uploads":
            result = uploads(browser, app, Path(tmp), args.sessions)
        else:
            result = runs(browser, app, Path(tmp), args.runs, args.epochs)
        browser.close()
    print(json.dumps({"app": str(app), **result}))


if __name__ == "__main__":
    main()
