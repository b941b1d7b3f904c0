"""Browser-test fixtures: a server on a free port with a private cache, and the system Chromium.

Without Chromium the tests skip with the reason, unless VAE_LAB_REQUIRE_BROWSER=1 (CI), where
they fail. Playwright's own browser download is never used.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from browser_helpers import ARTIFACTS, CHROMIUM_ARGS, chromium_path, start_server, stop_server


def _missing(reason: str) -> None:
    if os.environ.get("VAE_LAB_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (VAE_LAB_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app on a free port with an empty, private model cache."""
    folder = tmp_path_factory.mktemp("server")
    proc, url = start_server(folder / "models", folder / "streamlit.log")
    yield url
    stop_server(proc)


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    if path is None:
        _missing("no system Chromium (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -r requirements-dev.txt)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
