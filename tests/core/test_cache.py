"""The model cache: real files on disk, damaged entries, and two processes racing for one config."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import shutil
import subprocess
import threading

import pytest
import torch

from vae_core.config import make_config
from vae_core.data import load_dataset
from vae_core.store import cache
from vae_core.store.backends import without_main
from vae_core.store.cache import PRECISION_FILE

TINY = dict(latent_dim=2, epochs=1, hidden=(16,), batch_size=64)


def tiny_config(**overrides):
    return make_config("digits", **{**TINY, **overrides})


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_round_trip_trains_once_then_reads_from_disk(tmp_path):
    config = tiny_config()
    first = cache.get_or_train(config, tmp_path)
    assert not first.from_cache and first.metrics["status"] == "completed"
    assert sorted(p.name for p in first.path.iterdir()) == sorted((*cache.ENTRY_FILES, cache.SNAPSHOTS_FILE))
    second = cache.get_or_train(config, tmp_path)
    assert second.from_cache and same_weights(first.model, second.model)
    assert second.metrics == json.loads(json.dumps(first.metrics))
    assert second.history["epochs"][0]["test_elbo"] == pytest.approx(first.metrics["test_elbo"])
    assert sorted(second.checkpoints) == [0, 1] and same_weights(second.model_at(1), first.model)
    assert not same_weights(second.model_at(0), first.model)  # the initial weights


def test_equal_configs_share_a_key_and_different_ones_do_not():
    assert cache.config_key(tiny_config(beta=4)) == cache.config_key(tiny_config(beta=4.0))
    assert cache.config_key(tiny_config(beta=4)) != cache.config_key(tiny_config(beta=2))
    assert cache.config_key(tiny_config()) != cache.config_key(tiny_config(seed=1))


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: (d / "weights.pt").write_bytes((d / "weights.pt").read_bytes()[:100]),
        lambda d: (d / "config.json").write_text("{not json"),
        lambda d: (d / "metrics.json").unlink(),
        lambda d: torch.save({"encoder.0.weight": torch.zeros(1)}, d / "weights.pt"),
        lambda d: (d / "metrics.json").write_text(json.dumps({"status": "stopped"})),
        lambda d: (d / "checkpoints.pt").write_bytes(b"junk"),
        lambda d: (d / "history.json").write_text("[]"),
        lambda d: _edit_history(d, lambda h: h["epochs"].append({"epoch": "one"})),
        lambda d: _edit_history(d, lambda h: h["steps"][0].update(kl=None)),
        lambda d: _edit_history(d, lambda h: h["epochs"][0].update(kl_per_dim=[0.5])),
    ],
    ids=[
        "truncated-weights",
        "garbage-config",
        "missing-metrics",
        "wrong-tensors",
        "unfinished",
        "bad-checkpoints",
        "history-a-list",
        "history-bad-epoch-row",
        "history-bad-step-value",
        "history-kl-wrong-length",
    ],
)
def test_a_damaged_entry_is_retrained_not_a_crash(tmp_path, damage):
    config = tiny_config()
    folder = cache.get_or_train(config, tmp_path).path
    damage(folder)
    assert cache.lookup(config, tmp_path) is None
    again = cache.get_or_train(config, tmp_path)
    assert not again.from_cache and cache.lookup(config, tmp_path) is not None
    # Nothing half-written is left over; the damaged entry is kept aside for a post-mortem, once.
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".") and p.name != PRECISION_FILE)
    assert [n.split("-")[1] for n in left] == [folder.name] and left[0].startswith(".damaged-")
    assert (tmp_path / left[0] / "config.json").exists()
    assert (tmp_path / left[0] / cache.DAMAGE_FILE).read_text().strip(), "the reason is kept beside it"


def _edit_history(folder, change) -> None:
    history = json.loads((folder / "history.json").read_text())
    change(history)
    (folder / "history.json").write_text(json.dumps(history))


def test_usable_is_a_cheap_check_that_agrees_with_lookup_on_a_truncated_file(tmp_path, monkeypatch):
    config = tiny_config()
    folder = cache.get_or_train(config, tmp_path).path
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("usable() must not read tensors"))
    assert cache.usable(config, tmp_path)
    (folder / "weights.pt").write_bytes((folder / "weights.pt").read_bytes()[:-200])
    assert not cache.usable(config, tmp_path)
    assert not cache.usable(tiny_config(seed=1), tmp_path)


def _fail_writes(monkeypatch, error: OSError) -> None:
    def write_text(self, *args, **kwargs):
        raise error

    monkeypatch.setattr(cache.Path, "write_text", write_text)


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "the cache folder is full — nothing was saved"),
        (OSError(errno.EROFS, "Read-only file system"), "the cache folder is read-only — nothing was saved"),
    ],
    ids=["disk-full", "read-only"],
)
def test_a_write_that_fails_keeps_the_trained_model_and_says_why(tmp_path, monkeypatch, error, said):
    """A full disk once threw the trained model away with a RuntimeError; Start redid it and failed again."""
    _fail_writes(monkeypatch, error)
    trained = cache.get_or_train(tiny_config(), tmp_path)
    assert trained.metrics["status"] == "completed" and trained.path is None
    assert trained.save_error == said
    assert cache.lookup(tiny_config(), tmp_path) is None
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")] == [], "nothing half-written is left"


def test_a_cache_folder_that_cannot_even_hold_a_lock_still_trains(tmp_path, monkeypatch):
    def no_mkdir(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(cache.Path, "mkdir", no_mkdir)
    trained = cache.get_or_train(tiny_config(), tmp_path / "models")
    assert trained.metrics["status"] == "completed" and "read-only" in trained.save_error


@pytest.fixture
def full_tmpfs(tmp_path):
    """A real 1 MB tmpfs (needs root and mount; skipped otherwise)."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a real full disk needs root to mount a tmpfs; the monkeypatched tests cover the rest")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True).returncode:
        pytest.skip("mount -t tmpfs is not allowed here")
    yield folder
    busy = subprocess.run(["umount", str(folder)], capture_output=True, text=True).returncode
    assert not busy, "a file on the full disk was left open"


def test_a_real_full_disk_keeps_the_model_and_says_so(full_tmpfs):
    config = tiny_config(hidden=(256, 256))  # ~0.6 MB of weights, three times over: more than 1 MB
    trained = cache.get_or_train(config, full_tmpfs)
    assert trained.metrics["status"] == "completed" and trained.save_error.startswith("the cache folder is full")
    assert [p.name for p in full_tmpfs.iterdir() if not p.name.endswith(".lock") and p.name != PRECISION_FILE] == []


def test_a_stopped_run_is_not_cached(tmp_path):
    stop = threading.Event()
    stop.set()
    result = cache.get_or_train(tiny_config(), tmp_path, stop_event=stop)
    assert result.metrics["status"] == "stopped" and result.path is None
    assert cache.lookup(tiny_config(), tmp_path) is None


def test_a_diverged_run_is_not_cached(tmp_path):
    data = load_dataset("digits")
    poisoned = data._replace(x_train=data.x_train.clone().fill_(float("nan")))
    config = tiny_config(binarize=False)
    result = cache.get_or_train(config, tmp_path, data=poisoned)
    assert result.metrics["status"] == "diverged" and "nan" in result.metrics["reason"]
    assert cache.lookup(config, tmp_path) is None


def _train_in_process(root: str, out: multiprocessing.Queue) -> None:
    torch.set_num_threads(1)  # two processes on 2 cores: OpenMP's spinning threads would crawl
    epochs: list[int] = []
    trained = cache.get_or_train(tiny_config(epochs=3), root, on_epoch=lambda e: epochs.append(e.epoch))
    out.put((bool(epochs), trained.from_cache, trained.model.state_dict()["encoder.0.weight"].sum().item()))


def test_two_processes_asking_for_one_config_train_it_once(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    workers = [ctx.Process(target=_train_in_process, args=(str(tmp_path), out)) for _ in range(2)]
    with without_main():  # after an AppTest, __main__ is the app script: the children must not run it
        for w in workers:
            w.start()
    results = [out.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=30)
        assert w.exitcode == 0
    trained = sorted(r[0] for r in results)
    assert trained == [False, True], results  # one trained, the other waited and read its entry
    assert results[0][2] == results[1][2]
    assert cache.lookup(tiny_config(epochs=3), tmp_path) is not None
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".") and p.name != PRECISION_FILE] == []


def test_model_file_round_trip_and_a_bad_file(tmp_path):
    trained = cache.get_or_train(tiny_config(), tmp_path / "cache")
    path = cache.save_model(trained, tmp_path / "model.pt")
    loaded = cache.load_model(path)
    assert loaded.config == trained.config and same_weights(loaded.model, trained.model)
    assert loaded.metrics["test_elbo"] == pytest.approx(trained.metrics["test_elbo"])
    assert sorted(loaded.checkpoints) == [0, 1] and same_weights(loaded.model_at(1), trained.model)
    (tmp_path / "junk.pt").write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="not a readable model file"):
        cache.load_model(tmp_path / "junk.pt")
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a VAE Latent Lab model file"):
        cache.load_model(tmp_path / "other.pt")
