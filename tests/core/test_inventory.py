"""What the cache folder holds: entries this server can open, the reasons for the rest, stale writes."""

from __future__ import annotations

import json
import os
import time

from vae_core.config import make_config
from vae_core.store import cache
from vae_core.store.inventory import cached_configs, scan_cache, sweep_stale
from vae_core.vae.model import build_model

TINY = dict(latent_dim=2, epochs=1, hidden=(16,), batch_size=64)


def fake_entry(root, config) -> None:
    """A whole entry for ``config`` without training it (or needing its dataset's files)."""
    history = {"epochs": [], "steps": []}
    metrics = {"status": "completed", "test_elbo": -100.0}
    model = build_model(config.model, 0)
    trained = cache.TrainedModel(model, config, history, metrics, checkpoints={0: model.state_dict()})
    cache._write_entry(cache.entry_dir(config, root), trained)


def test_only_entries_this_server_can_open_are_listed_and_the_rest_are_named(tmp_path):
    """An MNIST model without MNIST's files, or one for an unknown dataset, once reached the pickers."""
    good = make_config("digits", **TINY)
    cache.get_or_train(good, tmp_path)
    mnist = make_config("mnist", latent_dim=2, hidden=(8,))
    fake_entry(tmp_path, mnist)
    unknown = tmp_path / "0123456789abcdef0123"
    unknown.mkdir()
    (unknown / "config.json").write_text(json.dumps({**good.to_dict(), "dataset": "[x](https://evil.example)"}))
    (tmp_path / "fedcba9876543210fedc").mkdir()
    (tmp_path / "fedcba9876543210fedc" / "config.json").write_text("{not json")
    older = tmp_path / "aaaaaaaaaaaaaaaaaaaa"  # a real config under another cache version's key
    older.mkdir()
    (older / "config.json").write_text(json.dumps(good.to_dict()))

    scan = scan_cache(tmp_path, datasets={"digits"})
    assert scan.configs == (good,)
    text = "\n".join(scan.problems)
    assert f"1 entry {cache.config_key(mnist)}: need mnist, whose files are missing" in text
    assert "1 entry 0123456789abcdef0123: made for a dataset this version does not know" in text
    assert "1 entry fedcba9876543210fedc: config.json cannot be read" in text
    assert "1 entry aaaaaaaaaaaaaaaaaaaa: made by another version" in text
    assert len(scan.problems) == 4
    assert scan_cache(tmp_path, datasets={"digits", "mnist"}).configs[0] == mnist  # newest first
    assert cached_configs(tmp_path)[-1] == good


def test_an_entry_moved_aside_is_reported_with_its_reason(tmp_path):
    config = make_config("digits", **TINY)
    folder = cache.get_or_train(config, tmp_path).path
    (folder / "history.json").write_text("[]")
    assert cache.lookup(config, tmp_path) is None
    (line,) = scan_cache(tmp_path, datasets={"digits"}).problems
    assert line.startswith(f".damaged-{folder.name}-") and "history.json is not a run's history" in line


def test_stale_temporary_folders_are_swept_and_fresh_ones_kept(tmp_path):
    stale, fresh = tmp_path / ".tmp-abc-1234", tmp_path / ".tmp-def-5678"
    for folder in (stale, fresh):
        folder.mkdir()
        (folder / "weights.pt").write_bytes(b"half")
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))
    assert sweep_stale(tmp_path) == [stale.name]
    assert not stale.exists() and fresh.exists()
