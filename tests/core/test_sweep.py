"""The β sweep: stacked training against separate training, its cache entries, and its plane."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest
import torch

from vae_core.config import make_config
from vae_core.data import load_dataset
from vae_core.store import cache
from vae_core.store.jobs import JobRegistry
from vae_core.store.pool import WorkerPool
from vae_core.store.sweeps import cached_members, run_sweep, sweep_configs
from vae_core.vae.binarize import fixed_binarization
from vae_core.vae.evaluate import dataset_terms
from vae_core.vae.model import build_model
from vae_core.vae.sweep import check_sweep, train_sweep
from vae_core.vae.train import train
from vae_core.views.rate_distortion import iso_elbo_lines, point_labels, rate_distortion, rate_distortion_figure

# fp32 stacked GEMMs (bmm) sum in another order than separate ones (mm): after a few epochs the
# weights agree to ~1e-6 and the test ELBO to ~1e-5 nats (measured: 3e-7 and 0 after 5 epochs).
WEIGHT_TOL, ELBO_TOL = 1e-4, 1e-3


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def fp32_sweep(dataset: str = "digits", betas=(0.0, 1.0, 4.0), **overrides):
    base = make_config(dataset, **{"latent_dim": 2, "epochs": 3, "precision": "fp32", **overrides})
    return sweep_configs(base, betas)


@pytest.mark.parametrize("dataset", ["digits", "two-moons"])
def test_stacked_training_equals_separate_training(dataset, digits):
    data = digits if dataset == "digits" else load_dataset(dataset)
    configs = fp32_sweep(dataset, epochs=3)
    together = train_sweep(configs, data)
    for config, result in zip(configs, together, strict=True):
        model = build_model(config.model, config.train.seed)
        alone = train(model, data, config.train)
        assert result.status == alone.status == "completed"
        assert len(result.steps) == len(alone.steps) and len(result.epochs) == len(alone.epochs)
        assert result.steps[0].loss == pytest.approx(alone.steps[0].loss, rel=1e-6)  # same data, same init
        for a, b in zip(model.state_dict().values(), result.model.state_dict().values(), strict=True):
            assert torch.allclose(a, b, atol=WEIGHT_TOL, rtol=0)
        assert abs(result.epochs[-1].test_elbo - alone.epochs[-1].test_elbo) < ELBO_TOL
        assert sorted(result.checkpoints) == sorted(alone.checkpoints)
        assert {s.beta for s in result.steps} == {config.train.beta}


def test_members_really_differ_by_beta(digits):
    results = train_sweep(fp32_sweep(betas=(0.0, 8.0)), digits)
    # β = 8 trades reconstruction for rate: less KL, worse reconstruction than β = 0
    assert results[1].epochs[-1].test_kl < results[0].epochs[-1].test_kl
    assert results[1].epochs[-1].test_recon < results[0].epochs[-1].test_recon


def test_a_sweep_rejects_configs_that_differ_in_more_than_beta():
    a, b = fp32_sweep(betas=(1.0, 2.0))
    with pytest.raises(ValueError, match="β only"):
        check_sweep([a, dataclasses.replace(b, model=dataclasses.replace(b.model, latent_dim=3))])
    with pytest.raises(ValueError, match="analytic KL"):
        check_sweep(sweep_configs(make_config("digits", kl_estimator="mc")))


def test_a_stopped_sweep_stops_every_member(digits):
    stop = threading.Event()
    stop.set()
    results = train_sweep(fp32_sweep(), digits, stop_event=stop)
    assert [r.status for r in results] == ["stopped"] * 3


def test_each_member_is_an_ordinary_cache_entry_and_its_point_is_a_fresh_evaluation(tmp_path, digits):
    configs = fp32_sweep()
    trained = run_sweep(configs, tmp_path, data=digits)
    x_test = fixed_binarization(digits.x_test)
    for config, member in zip(configs, trained, strict=True):
        found = cache.lookup(config, tmp_path)  # what any page opens for these settings
        assert found is not None and found.path == cache.entry_dir(config, tmp_path)
        d, r = rate_distortion(found.history["epochs"])
        fresh = dataset_terms(found.model, x_test)
        assert d[-1] == pytest.approx(-fresh.recon, abs=1e-9) and r[-1] == pytest.approx(fresh.kl, abs=1e-9)
        assert found.metrics["step_kind"] == "stacked-fp32" == member.metrics["step_kind"]
    again = run_sweep(configs, tmp_path, data=digits)  # all cached now: nothing trains
    assert all(t.from_cache for t in again)


def test_the_sweep_job_trains_in_a_worker_and_reports_each_member(tmp_path):
    configs = fp32_sweep(betas=(0.5, 2.0))
    cache.store(run_sweep(configs[:1], tmp_path / "elsewhere", data=load_dataset("digits"))[0], tmp_path)
    reg = JobRegistry(tmp_path, pool=WorkerPool(1))
    try:
        job = reg.start_sweep(configs)
        assert reg.start_sweep(configs) is job and reg.sweep(configs) is job  # one job per sweep
        assert job.wait(120)
        snap = job.snapshot()
        assert snap.status == "completed" and [m.beta for m in snap.members] == [0.5, 2.0]
        assert [m.status for m in snap.members] == ["cached", "completed"], "the cached member is read, not trained"
        assert all(len(m.epochs) == 3 for m in snap.members) and snap.progress == 1.0
        assert [m.beta for m in cached_members(configs, tmp_path)] == [0.5, 2.0]
        trained = cache.lookup(configs[1], tmp_path)
        assert [e["test_elbo"] for e in trained.history["epochs"]] == [e.test_elbo for e in snap.members[1].epochs]
        assert reg.start_sweep(configs).wait(30) and reg.sweep(configs).snapshot().status == "completed"
        assert all(m.status == "cached" for m in reg.sweep(configs).snapshot().members), "all cached: no worker"
    finally:
        reg.close()


def test_a_sweep_waits_in_the_training_queue_and_a_stop_ends_it(tmp_path):
    """The web server never trains: a sweep takes one place in the same line as single runs."""
    reg = JobRegistry(tmp_path, pool=WorkerPool(1))
    try:
        first = reg.start(make_config("digits", epochs=500, seed=7))
        sweep = reg.start_sweep(fp32_sweep(betas=(0.5, 2.0), epochs=500))
        wait_until(lambda: first.snapshot().step > 0)
        assert sweep.snapshot().status == "queued" and sweep.snapshot().ahead == 0
        assert [j.key for j in reg.live_jobs()] == [first.key, sweep.key], "both on the lecturer's panel"
        first.stop()
        wait_until(lambda: sweep.snapshot().members[0].steps_done > 0)
        assert sweep.worker_pid not in (None, first.worker_pid) and sweep.snapshot().status == "running"
        sweep.stop()
        assert sweep.wait(60) and sweep.snapshot().status == "stopped"
        assert all(m.status == "stopped" for m in sweep.snapshot().members)
        assert not any(cache.usable(c, tmp_path) for c in sweep.configs), "a stopped sweep stores nothing"
    finally:
        reg.close()


def wait_until(predicate, timeout: float = 90.0) -> None:
    end = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        end.wait(0.05)
    raise AssertionError("timed out")


def test_iso_elbo_lines_are_exactly_d_plus_r_constant():
    members = [
        (1.0, [{"test_recon": -30.0, "test_kl": 5.0}], "cached"),
        (4.0, [{"test_recon": -40.0, "test_kl": 1.0}], "cached"),
    ]
    fig = rate_distortion_figure(members)
    lines = [t for t in fig.data if str(t.meta).startswith("iso-ELBO")]
    assert len(lines) >= 3
    for t in lines:
        c = float(t.meta.split()[1])
        assert np.array_equal(np.asarray(t.x) + np.asarray(t.y), np.full(2, c))
        assert f"ELBO = {-c:g}" in t.hovertemplate
    points = next(t for t in fig.data if t.meta == "members")
    assert list(points.x) == [30.0, 40.0] and list(points.y) == [5.0, 1.0]
    assert [row[1] for row in points.customdata] == [1.0, 4.0]


def test_iso_elbo_levels_are_round_and_cross_the_window():
    levels = iso_elbo_lines((20.0, 45.0), (0.0, 10.0))
    assert all(20.0 < c < 55.0 for c in levels) and len(levels) >= 4
    steps = np.diff(levels)
    assert np.allclose(steps, steps[0]) and steps[0] in (2.0, 5.0, 10.0)


def test_members_on_one_spot_share_one_label():
    """Collapsed β (R = 0, the same D) drew "β=4" over "β=8"; they read "β=4, 8" now."""
    labels = point_labels([0.0, 1.0, 4.0, 8.0], [20.0, 24.0, 27.2, 27.25], [12.0, 1.5, 0.01, 0.0])
    assert labels == ["β=0", "β=1", "β=4, 8", ""]
    assert point_labels([1.0, 2.0], [20.0, 20.5], [3.0, 3.0]) == ["β=1", "β=2"], "half a nat apart: two labels"
    members = [
        (4.0, [{"test_recon": -27.2, "test_kl": 0.01}], "cached"),
        (8.0, [{"test_recon": -27.25, "test_kl": 0.0}], "cached"),
    ]
    points = next(t for t in rate_distortion_figure(members).data if t.meta == "members")
    assert list(points.text) == ["β=4, 8", ""]
