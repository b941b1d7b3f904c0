"""Lecture pace: click -> the view on screen with its numbers, in a real browser, for cached models.

    python bench/pace.py [--cold] [--skip-train] [--json]

Trains (into a private cache) the digits default model, an MNIST latent-2 model and an MNIST
latent-10 model, lets each build its stored views (what a completed run does in the app; with
``--cold`` they are left out, as for a model from before they existed), starts a real server and
the system Chromium, and times each view as a lecturer meets it (a click on its link in one
browser session, to the page idle with its final numbers): the first render of the ELBO,
Posterior and Latent pages, another test image (first numbers, then L_5000), the test-set
average, PCA -> t-SNE, every other page of the MNIST model (``PAGES``: its link to its title, idle,
nothing refining), and 10 MNIST epochs from Start to finished (``--skip-train`` leaves that out),
against the command line's time for the same run. A view counts as done when the page is
idle and says it is no longer refining. Prints a table, then one JSON object as the last line.
A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))  # the browser tests' server and Chromium helpers

from browser_helpers import CHROMIUM_ARGS, IDLE, chromium_path, start_server, stop_server  # noqa: E402

from vae_core import get_or_train, make_config  # noqa: E402
from vae_core.store.cache import lookup  # noqa: E402
from vae_core.vae.precision import cpu_model  # noqa: E402
from vae_core.views.service import ViewService, model_ref  # noqa: E402
from vae_core.views.view_worker import test_inputs  # noqa: E402

TARGETS = {  # seconds, MNIST latent 2 with a cached model (issue "Lecture pace")
    "elbo_first_render_s": 1.5,
    "elbo_one_image_first_s": 1.0,
    "elbo_one_image_s": 5.0,
    "elbo_average_s": 1.5,
    "posterior_first_render_s": 1.5,
    "posterior_next_image_s": 1.0,
    "tsne_s": 2.0,
    "latent_first_render_s": 1.5,
}
PAGES = {  # every other page of a cached model (MNIST latent 2), opened by its link: key -> (link, its title)
    "walkthrough_s": ("One sample, step by step", "One sample, step by step"),
    "jensen_s": ("Jensen's inequality", "Jensen's inequality"),
    "gradients_s": ("Gradient estimators", "Gradient estimators"),
    "replay_s": ("Replay training", "Replay training"),
    "own_image_s": ("Your own image", "Your own image"),
    "compare_s": ("Compare two runs", "Compare two runs"),
    "sweep_s": ("β sweep", "β sweep: the rate–distortion plane"),
    "train_page_s": ("Train", "Train"),
}
NEXT_IMAGE = 17  # outside the stored panel (images 0-9): computed when asked
TIMEOUT_MS = 300_000


def settled(page) -> None:
    from playwright.sync_api import expect

    page.wait_for_selector(IDLE, timeout=TIMEOUT_MS)
    expect(page.get_by_text("Refining", exact=False)).to_have_count(0, timeout=TIMEOUT_MS)
    page.wait_for_selector(IDLE, timeout=TIMEOUT_MS)


def metric(page, label: str) -> str | None:
    card = page.locator("[data-testid='stMetric']").filter(has_text=label)
    if not card.count():
        return None
    return card.first.locator("[data-testid='stMetricValue']").inner_text()


def timed_open(page, link: str, ready: str, heading: str | None = None) -> float:
    """Seconds from a click on the page's link in the navigation (as a lecturer moves on, in the
    same session) to the view done: ``ready`` (or the page's ``heading``) visible, idle, nothing
    refining."""
    t0 = time.perf_counter()
    page.get_by_role("link", name=link).first.click()
    if heading is not None:
        page.get_by_role("heading", name=heading, exact=True).wait_for(timeout=TIMEOUT_MS)
    else:
        page.wait_for_selector(ready, timeout=TIMEOUT_MS)
    settled(page)
    return time.perf_counter() - t0


def next_image(page, label: str, watch: str) -> tuple[float, float]:
    """Type another test image number: (seconds to the first new value of ``watch``, to done)."""
    before = metric(page, watch)
    box = page.get_by_label(label)
    t0 = time.perf_counter()
    box.fill(str(NEXT_IMAGE))
    box.press("Enter")
    end = t0 + TIMEOUT_MS / 1000
    while metric(page, watch) in (before, None) and time.perf_counter() < end:
        time.sleep(0.01)
    first = time.perf_counter() - t0
    settled(page)
    return first, time.perf_counter() - t0


def measure_views(url: str, prefix: str, dataset: str, tsne: bool) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    out: dict[str, float] = {}
    query = f"dataset={dataset}&latent_dim=2&beta=1"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/?{query}")  # a session, as a lecturer's first page
        page.wait_for_selector(IDLE, timeout=TIMEOUT_MS)
        metrics = ".st-key-elbo_numbers [data-testid='stMetric']"
        out[f"{prefix}elbo_first_render_s"] = timed_open(page, "ELBO vs log p(x)", metrics)
        first, done = next_image(page, "Test image number", "ELBO (analytic KL)")
        out[f"{prefix}elbo_one_image_first_s"], out[f"{prefix}elbo_one_image_s"] = first, done
        t0 = time.perf_counter()
        page.get_by_text("a test-set average").click()
        page.get_by_text("Test images in the average").wait_for(timeout=TIMEOUT_MS)
        settled(page)
        out[f"{prefix}elbo_average_s"] = time.perf_counter() - t0
        out[f"{prefix}posterior_first_render_s"] = timed_open(
            page, "Posterior view", ".st-key-post_numbers [data-testid='stMetric']"
        )
        first, _ = next_image(page, "Test image number", "log p(x), quadrature")
        out[f"{prefix}posterior_next_image_s"] = first
        out[f"{prefix}latent_first_render_s"] = timed_open(page, "Latent space", ".pad-plane")
        if tsne:  # (MNIST) every other page too, each once, from the one before
            for key, (link, title) in PAGES.items():
                try:
                    out[f"{prefix}page_{key}"] = timed_open(page, link, "", heading=title)
                except Exception as e:  # one page that never settles leaves the rest measured
                    print(f"{link}: not on screen ({type(e).__name__}: {str(e).splitlines()[0]})", flush=True)
        if tsne:
            page.goto(f"{url}/latent?dataset={dataset}&latent_dim=10&beta=1")
            page.get_by_text("A 2-D view of all codes").wait_for(timeout=TIMEOUT_MS)
            settled(page)
            t0 = time.perf_counter()
            page.get_by_text("t-SNE", exact=True).click()
            page.locator(".st-key-projection_chart .codes-root[data-x-title='t-SNE 1'][data-draws]").wait_for(
                timeout=TIMEOUT_MS
            )
            settled(page)
            out[f"{prefix}tsne_s"] = time.perf_counter() - t0
        browser.close()
    return out


def train_in_app(url: str, seed: int) -> float:
    """Seconds from pressing Start to the Train page saying the run finished (10 MNIST epochs)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/?dataset=mnist&latent_dim=2&beta=1&epochs=10&seed={seed}")
        page.wait_for_selector(IDLE, timeout=TIMEOUT_MS)
        start = page.get_by_role("button", name="Start training")
        t0 = time.perf_counter()
        start.click()
        page.get_by_text("Trained and cached", exact=False).first.wait_for(timeout=TIMEOUT_MS)
        took = time.perf_counter() - t0
        browser.close()
    return took


def command_line_train(cache: Path, seed: int) -> float:
    cmd = [sys.executable, "-m", "vae_core", "train", "--dataset", "mnist", "--latent-dim", "2"]
    cmd += ["--epochs", "10", "--seed", str(seed), "--cache-root", str(cache)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return time.perf_counter() - t0


def build_views(configs, cache: Path) -> float:
    """What a completed run does in the app: its stored views, computed by the view worker."""
    service = ViewService()
    t0 = time.perf_counter()
    try:
        for config in configs:
            trained = lookup(config, cache)
            ref = model_ref(trained)
            service.build(ref, trained, len(test_inputs(config.dataset, config.train.binarize)))
        while any(service.pending(f"build:{model_ref(lookup(c, cache)).key}") for c in configs):
            time.sleep(0.5)
    finally:
        service.close()
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cold", action="store_true", help="no stored views: every view computed when asked")
    p.add_argument("--skip-train", action="store_true", help="leave out the in-app training row")
    p.add_argument("--only-train", action="store_true", help="only the in-app training row and the command line's")
    p.add_argument("--json", action="store_true", help="(the JSON line is always printed last)")
    args = p.parse_args()
    if chromium_path() is None:
        sys.exit("no Chromium: apt-get install -y chromium")
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        cache = Path(folder) / "models"
        configs = [make_config("digits"), make_config("mnist", latent_dim=2), make_config("mnist", latent_dim=10)]
        configs = [] if args.only_train else configs
        for config in configs:
            get_or_train(config, root=cache)
        built = None if args.cold or args.only_train else build_views(configs, cache)
        if built is not None:
            print(f"stored views built in {built:.1f} s (the view worker, after training)", flush=True)
        proc, url = start_server(cache, Path(folder) / "server.log")
        try:
            out = {} if args.only_train else measure_views(url, "digits_", "digits", tsne=False)
            out |= {} if args.only_train else measure_views(url, "", "mnist", tsne=True)
            if not args.skip_train:  # the command line first: after the app's run, its views build
                out["mnist_command_line_s"] = command_line_train(cache, seed=102)
                out["mnist_train_s"] = train_in_app(url, seed=101)
        finally:
            stop_server(proc)
    print(f"\n{'view':34s} {'digits':>8s} {'MNIST':>8s} {'target':>8s}")
    pages = {f"page_{key}": 1.0 for key in PAGES}  # "every view of a trained model on screen within a second"
    for key, target in {**TARGETS, **pages, "mnist_train_s": None}.items():
        digits = out.get(f"digits_{key}")
        cells = [f"{v:8.2f}" if v is not None else f"{'':8s}" for v in (digits, out.get(key), target)]
        print(f"{key:34s} {' '.join(cells)}")
    if "mnist_train_s" in out:
        print(
            f"in-app training / command line: {out['mnist_train_s'] / out['mnist_command_line_s']:.2f} (target ≤ 1.5)"
        )
    print(json.dumps({k: round(v, 3) for k, v in out.items()} | {"stored_views": not args.cold}))


if __name__ == "__main__":
    main()
