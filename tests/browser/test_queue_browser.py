"""What a student sees while a run waits in line, in a real browser (and its screenshot)."""

from __future__ import annotations

import os

import pytest
from browser_helpers import IDLE, start_server, stop_server

pytestmark = pytest.mark.browser
LINK = "{url}/?dataset=digits&latent_dim=2&beta=1&epochs=500&seed={seed}"


@pytest.fixture(scope="module")
def one_worker_server(tmp_path_factory):
    """A server with one training worker, so that a second run waits in line."""
    folder = tmp_path_factory.mktemp("queue")
    old, os.environ["VAE_LAB_WORKERS"] = os.environ.get("VAE_LAB_WORKERS"), "1"
    try:
        proc, url = start_server(folder / "models", folder / "streamlit.log")
    finally:
        os.environ.pop("VAE_LAB_WORKERS") if old is None else os.environ.update(VAE_LAB_WORKERS=old)
    yield url
    stop_server(proc)


def test_a_student_whose_run_waits_sees_where_it_stands(one_worker_server, browser, artifacts):
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)  # a worker starts in a few seconds on a busy machine

    pages = []
    for seed, says in ((1, "Training in the background"), (2, "queued — yours is next")):  # two students
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto(LINK.format(url=one_worker_server, seed=seed))
        page.wait_for_selector(IDLE)
        page.get_by_role("button", name="Start training").click()
        expect(page.get_by_text(says).filter(visible=True).first).to_be_visible()
        pages.append((context, page))
    second = pages[1][1]
    expect(second.get_by_text("queued — yours is next").filter(visible=True).first).to_be_visible()
    expect(second.get_by_text("Waiting for a free worker").filter(visible=True).first).to_be_visible()
    expect(second.get_by_text("1 of 1 worker training, 1 run queued").filter(visible=True).first).to_be_visible()
    second.screenshot(path=str(artifacts / "queued.png"))
    for context, page in pages:
        page.get_by_role("button", name="Stop").click()
        context.close()
