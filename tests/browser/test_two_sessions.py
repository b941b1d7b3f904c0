"""Two browser sessions on one server: what a class does when everyone opens the same view."""

from __future__ import annotations

import pytest
from browser_helpers import IDLE, start_server, stop_server

from vae_core import get_or_train, make_config

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def trained_server(tmp_path_factory):
    """A server whose cache already holds the digits model the link below names."""
    folder = tmp_path_factory.mktemp("two-sessions")
    get_or_train(make_config("digits", epochs=5), folder / "models")
    proc, url = start_server(folder / "models", folder / "streamlit.log")
    yield url
    stop_server(proc)


def test_a_second_session_opens_a_page_whose_numbers_the_first_computed(trained_server, browser):
    """The ELBO page's cached estimates, computed in one tab, replayed in another (a new session):
    the replay once failed with CacheReplayClosureError (a progress bar made outside the cached
    function was driven from inside it)."""
    from playwright.sync_api import expect

    link = f"{trained_server}/elbo?dataset=digits&latent_dim=2&beta=1&epochs=5"
    for session in range(2):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto(link)
        page.wait_for_selector(IDLE)
        page.locator(".st-key-elbo_numbers [data-testid='stMetric'], [data-testid='stException']").first.wait_for()
        errors = page.locator("[data-testid='stException']").all_inner_texts()
        assert not errors, f"session {session + 1}: {errors[0][:300]}"
        expect(page.locator(".st-key-elbo_numbers [data-testid='stMetric']").first).to_be_visible()
        context.close()
