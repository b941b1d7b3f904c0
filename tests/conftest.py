"""Suite-wide fixtures: no test touches the user's model cache, and where the real datasets are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def _private_model_cache(tmp_path_factory):
    """Point VAE_LAB_CACHE at a fresh folder for the whole run (subprocesses inherit it)."""
    old = os.environ.get("VAE_LAB_CACHE")
    os.environ["VAE_LAB_CACHE"] = str(tmp_path_factory.mktemp("model-cache"))
    yield
    if old is None:
        os.environ.pop("VAE_LAB_CACHE", None)
    else:
        os.environ["VAE_LAB_CACHE"] = old


@pytest.fixture
def real_data_root() -> Path:
    """The folder of real MNIST files named by VAE_LAB_DATA; skips the test without it."""
    root = os.environ.get("VAE_LAB_DATA")
    if not root or not (Path(root) / "mnist").is_dir():
        pytest.skip(f"VAE_LAB_DATA does not point at the real datasets (e.g. VAE_LAB_DATA={SHARED_DATA})")
    return Path(root)
