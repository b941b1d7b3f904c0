"""The cache and the datasets fail soft in the app (AppTest): a damaged, foreign or unwritable
entry and a broken dataset are skipped or explained, never raised, and the sidebar agrees with
the page."""

from __future__ import annotations

import json
from collections import namedtuple

import pytest
from app_helpers import poll_until, pretrained

from app_pages import common
from vae_core import make_config
from vae_core.data.download import FILES, IDX_NAMES
from vae_core.store import cache
from vae_core.store.backends import InProcessBackend
from vae_core.store.cache import entry_dir, lookup
from vae_core.store.pool import WorkerPool
from vae_core.vae.model import build_model


def sidebar_status(at) -> str:
    return next(c.value for c in at.sidebar.caption if "Cached β" in c.value)


def test_a_history_that_is_not_a_history_is_moved_aside_not_a_traceback(open_app, empty_cache):
    """history.json = [] once raised an AttributeError under "Trained and cached"."""
    config = pretrained(epochs=3)
    (entry_dir(config) / "history.json").write_text("[]")
    at = open_app(epochs=3)
    assert "Nothing has been trained" in at.info[0].value
    assert "not trained yet" in sidebar_status(at)
    assert any("history.json is not a run's history" in t.value for t in at.sidebar.get("text"))


def test_a_bad_history_row_is_moved_aside_not_a_traceback(open_app, empty_cache):
    config = pretrained(epochs=3)
    history = json.loads((entry_dir(config) / "history.json").read_text())
    history["epochs"][-1]["test_elbo"] = "high"
    (entry_dir(config) / "history.json").write_text(json.dumps(history))
    at = open_app(epochs=3)
    assert not at.success and "Nothing has been trained" in at.info[0].value


def test_damaged_weights_after_a_restart_the_sidebar_and_the_page_agree(open_app, empty_cache):
    """The page once said "No model has been trained" while the sidebar said "✅ trained"."""
    config = pretrained(epochs=3)
    weights = entry_dir(config) / "weights.pt"
    weights.write_bytes(b"\0" * weights.stat().st_size)  # the right size, garbage inside
    at = open_app(epochs=3)  # the render that finds the damage: the sidebar is drawn before the page
    assert "Nothing has been trained" in at.info[0].value
    assert "not trained yet" in sidebar_status(at) and "opens instantly" not in sidebar_status(at)
    assert any("moved aside as damaged" in t.value for t in at.sidebar.get("text")), "reported in the note"


def fake_entry(config) -> None:
    model = build_model(config.model, 0)
    history = {"epochs": [], "steps": []}
    metrics = {"status": "completed", "test_elbo": -100.0}
    trained = cache.TrainedModel(model, config, history, metrics, checkpoints={0: model.state_dict()})
    cache._write_entry(entry_dir(config), trained)


def test_a_cached_model_whose_dataset_is_missing_here_is_not_offered(open_app, empty_cache, monkeypatch, tmp_path):
    """ "Open this model" on a cached MNIST model without MNIST's files once gave a hybrid config."""
    monkeypatch.setenv("VAE_LAB_DATA", str(tmp_path / "no-data"))
    fake_entry(make_config("mnist", latent_dim=2))
    pretrained(latent_dim=3, epochs=2)
    at = open_app(epochs=3)
    options = at.selectbox(key="cached_pick").options
    assert len(options) == 1 and "MNIST" not in options[0]
    at.button(key="open_cached").click().run()
    assert at.session_state["dataset"] == "digits" and at.session_state["latent_dim"] == 3
    assert at.session_state["hidden"] == (256, 256) and at.session_state["lr"] == 1e-3
    assert any("need mnist, whose files are missing" in t.value for t in at.sidebar.get("text"))


def test_a_truncated_dataset_file_is_shown_with_the_reason_not_offered(open_app, monkeypatch, tmp_path):
    """A truncated MNIST file once left MNIST offered; Start then raised a DatasetError."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    for remote in FILES["mnist"]:
        (folder / remote.name).write_bytes(b"\0" * remote.size)
    (folder / IDX_NAMES[2]).write_bytes(b"\0" * 1000)
    monkeypatch.setenv("VAE_LAB_DATA", str(tmp_path))
    at = open_app()
    assert "mnist" not in at.selectbox(key="dataset").options
    reasons = "\n".join(c.value for c in at.sidebar.get("code"))
    assert f"{IDX_NAMES[2]}: 1,000 bytes, not 1,648,877 (truncated" in reasons and str(folder) in reasons


def _disk_full(monkeypatch) -> None:
    """What torch.save raised on a full 1 MB tmpfs, and a disk with no room left. The app trains in
    worker processes, which a monkeypatch here cannot reach: these runs train in this process
    (tests/core/test_queue.py checks the same message from a real worker on a read-only mount)."""
    monkeypatch.setattr(common, "pool_from_env", lambda: WorkerPool(1, backend=InProcessBackend()))

    def save(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 341120 vs 341008")

    monkeypatch.setattr(cache, "_save", save)  # the cache's writes only, not the worker's records
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(cache.shutil, "disk_usage", lambda path: usage(2**20, 2**20, 0))


def test_a_run_on_a_full_disk_is_kept_and_says_nothing_was_saved(open_app, empty_cache, monkeypatch):
    """A full disk once ended in "Training failed: RuntimeError …" and threw the model away."""
    _disk_full(monkeypatch)
    at = open_app(epochs=3)
    at.button(key="start").click().run()
    poll_until(at, lambda at: at.button(key="stop").disabled and bool(at.metric))
    assert not at.error
    assert any("Trained, but the cache folder is full — nothing was saved" in w.value for w in at.warning)
    assert at.button(key="start").disabled, "Start would redo it and fail again"
    assert "in memory only" in sidebar_status(at)
    assert lookup(make_config("digits", epochs=3)) is None


@pytest.mark.parametrize("page", ["latent", "compare"])
def test_the_pages_open_a_model_that_could_not_be_saved(open_app, empty_cache, monkeypatch, page):
    _disk_full(monkeypatch)
    at = open_app(epochs=3)
    at.button(key="start").click().run()
    poll_until(at, lambda at: at.button(key="stop").disabled and bool(at.metric))
    at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception and not any("No model has been trained" in i.value for i in at.info)


def test_a_run_waiting_for_another_server_says_so(open_app, empty_cache):
    """Two servers on one cache: the waiting one once showed "running · step 0/0" and no hint."""
    from filelock import FileLock

    config = make_config("digits", epochs=3)
    entry_dir(config).parent.mkdir(parents=True)
    with FileLock(str(entry_dir(config)) + ".lock"):  # the other server, training these settings
        at = open_app(epochs=3)
        at.button(key="start").click().run()
        poll_until(at, lambda at: any("waiting" in p.proto.text for p in at.get("progress")))
        (bar,) = at.get("progress")
        assert "another process (another server on this cache, or the zoo) trains these settings" in bar.proto.text
    poll_until(at, lambda at: at.button(key="stop").disabled and bool(at.metric))
