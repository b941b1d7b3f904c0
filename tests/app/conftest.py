"""AppTest fixtures: fresh Streamlit caches per test, and opening the app on a page."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import streamlit as st
from app_helpers import APP, settled
from streamlit.testing.v1 import AppTest

from app_pages.settings import dataset_defaults


@pytest.fixture(autouse=True)
def _no_background_view_builds(monkeypatch):
    """Pages here get the views they ask for; the background build of every model's stored views
    (tests/core/test_stored_views.py tests it) would only compete for the cores."""
    monkeypatch.setenv("VAE_LAB_BUILD_VIEWS", "0")


@pytest.fixture(autouse=True)
def _fresh_streamlit_caches():
    """st.cache_data / st.cache_resource are process-global: one test must not see another's."""
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    from app_pages.common import registry

    registry().close()  # the runs a test left training or queued: their worker processes end here
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def empty_cache(monkeypatch, tmp_path) -> Path:
    """A model cache with nothing in it, for this test only."""
    monkeypatch.setenv("VAE_LAB_CACHE", str(tmp_path / "models"))
    return tmp_path / "models"


@pytest.fixture
def open_app() -> Callable[..., AppTest]:
    """open_app(page=None, **sidebar) -> an AppTest on that page with those sidebar values."""

    def _open(page: str | None = None, **sidebar) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=120)
        name = sidebar.pop("dataset", "digits")
        at.session_state["dataset"] = name
        for key, value in {**dataset_defaults(name), **sidebar}.items():
            at.session_state[key] = value
        at.run()
        assert not at.exception, at.exception
        if page is not None:
            at.switch_page(f"app_pages/{page}.py").run()
            assert not at.exception, at.exception
        return settled(at)  # the views that stream in, landed

    return _open
