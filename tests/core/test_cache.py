"""The model cache: real files on disk, damaged entries, and two processes racing for one config."""

from __future__ import annotations

import json
import multiprocessing
import threading

import pytest
import torch

from vae_core.config import make_config
from vae_core.data import load_dataset
from vae_core.store import cache
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
    assert sorted(p.name for p in first.path.iterdir()) == sorted(cache.ENTRY_FILES)
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
    ],
    ids=["truncated-weights", "garbage-config", "missing-metrics", "wrong-tensors", "unfinished", "bad-checkpoints"],
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
    epochs: list[int] = []
    trained = cache.get_or_train(tiny_config(epochs=3), root, on_epoch=lambda e: epochs.append(e.epoch))
    out.put((bool(epochs), trained.from_cache, trained.model.state_dict()["encoder.0.weight"].sum().item()))


def test_two_processes_asking_for_one_config_train_it_once(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    workers = [ctx.Process(target=_train_in_process, args=(str(tmp_path), out)) for _ in range(2)]
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
