"""Training snapshots for the replay: codes and maps equal re-encoding with that moment's weights,
they live in the cache entry, and a missing or damaged file means no replay, never a crash."""

from __future__ import annotations

import copy
import itertools

import pytest
import torch

from vae_core.config import make_config
from vae_core.data import load_dataset
from vae_core.store import cache
from vae_core.store.replay import replay_of
from vae_core.vae.binarize import fixed_binarization
from vae_core.vae.snapshots import FRAMES, GRID, manifold_codes, pixels, snapshot_steps

TINY = dict(latent_dim=2, epochs=4, hidden=(32,), batch_size=64, precision="fp32")


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_snapshot_steps_are_even_and_include_the_start_and_the_end():
    steps = snapshot_steps(88)
    assert steps[0] == 0 and steps[-1] == 88 and len(steps) == FRAMES + 1
    assert max(b - a for a, b in itertools.pairwise(steps)) <= 3
    assert snapshot_steps(10) == list(range(11))  # fewer steps than frames: every step


def test_each_frame_equals_reencoding_with_that_moments_weights(tmp_path, digits):
    config = make_config("digits", **TINY)
    moments = {}

    def keep(info):  # the weights at every step, to re-encode with afterwards
        moments[info.step] = copy.deepcopy(model_box[0].state_dict())

    model_box = []
    trained = cache.get_or_train(config, tmp_path, data=digits, on_model=model_box.append, on_step=keep)
    moments[0] = trained.checkpoints[0]
    snaps = replay_of(cache.lookup(config, tmp_path))  # read back from the entry
    assert isinstance(snaps, dict)
    x = fixed_binarization(digits.x_test)
    assert snaps["steps"].tolist() == snapshot_steps(trained.metrics["steps_done"])
    for i in (0, 7, len(snaps["steps"]) - 1):
        step = int(snaps["steps"][i])
        model = cache._load_weights(config, moments[step])
        with torch.no_grad():
            assert torch.equal(snaps["codes"][i], model.encode(x)[0].half())
            assert torch.equal(snaps["images"][i], pixels(model.mean(manifold_codes(GRID, 2))))
    assert not torch.equal(snaps["codes"][0], snaps["codes"][-1])  # the embedding moved


def test_no_replay_for_a_missing_or_damaged_file_or_a_big_latent(tmp_path, digits):
    config = make_config("digits", **TINY)
    cache.get_or_train(config, tmp_path, data=digits)
    entry = cache.entry_dir(config, tmp_path)
    (entry / cache.SNAPSHOTS_FILE).write_bytes(b"not a torch file")
    assert "cannot be read" in replay_of(cache.lookup(config, tmp_path))
    torch.save({"format": "vae-latent-lab/snapshots/1", "steps": torch.arange(3)}, entry / cache.SNAPSHOTS_FILE)
    assert "damaged" in replay_of(cache.lookup(config, tmp_path))
    (entry / cache.SNAPSHOTS_FILE).unlink()
    found = cache.lookup(config, tmp_path)
    assert found is not None and "without training snapshots" in replay_of(found)  # the model itself still opens
    big = cache.get_or_train(make_config("digits", **{**TINY, "latent_dim": 3}), tmp_path, data=digits)
    assert "1- and 2-D" in replay_of(big) and not (big.path / cache.SNAPSHOTS_FILE).exists()
