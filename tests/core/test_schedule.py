"""β while it trains: the schedule by step, a live change recorded as a schedule, and its key."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from vae_core.config import RunConfig, make_config
from vae_core.data import load_dataset
from vae_core.store import cache
from vae_core.store.jobs import JobRegistry
from vae_core.vae.model import build_model
from vae_core.vae.schedule import Controls, beta_at, with_schedule
from vae_core.vae.train import train

TINY = dict(latent_dim=2, epochs=3, hidden=(32,), batch_size=64, precision="fp32")  # 22 steps an epoch


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_beta_follows_the_schedule_times_the_warm_up():
    t = make_config("digits", beta=1.0, warmup_epochs=1.0, beta_schedule=((30, 4.0), (50, 0.5))).train
    spe = 20  # steps per epoch: the warm-up is 20 steps
    assert beta_at(t, 0, spe) == pytest.approx(1 / 20) and beta_at(t, 19, spe) == 1.0
    assert [beta_at(t, s, spe) for s in (29, 30, 49, 50, 99)] == [1.0, 4.0, 4.0, 0.5, 0.5]
    assert beta_at(t, 40, spe, live=((40, 2.0),)) == 2.0  # live changes come after the config's


def test_a_schedule_is_part_of_the_key_and_a_constant_beta_keeps_its_old_key():
    constant = make_config("digits")
    assert "beta_schedule" not in constant.to_json()  # the JSON (and key) every cached model has
    scheduled = with_schedule(constant, [(100, 4.0)])
    assert cache.config_key(scheduled) != cache.config_key(constant)
    assert RunConfig.from_dict(json.loads(scheduled.to_json())) == scheduled
    assert with_schedule(constant, []) is constant
    with pytest.raises(ValueError, match="beta_schedule"):
        make_config("digits", beta_schedule=((50, 1.0), (10, 2.0)))


def test_a_live_change_trains_exactly_like_its_recorded_schedule(digits):
    config = make_config("digits", **TINY)
    controls = Controls()

    def move_beta(info):  # a person moves β after step 30
        if info.step == 30:
            controls.set(beta=4.0)
        if info.step == 40:
            controls.set(beta=4.0)  # the same value again: no new change

    live = build_model(config.model, config.train.seed)
    result = train(live, digits, config.train, on_step=move_beta, controls=controls)
    assert controls.changes == ((30, 4.0),)
    assert [s.beta for s in result.steps[29:31]] == [1.0, 4.0]
    recorded = with_schedule(config, controls.changes)
    again = build_model(recorded.model, recorded.train.seed)
    offline = train(again, digits, recorded.train)  # no controls: the schedule alone
    for a, b in zip(live.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert offline.epochs[-1].test_elbo == result.epochs[-1].test_elbo
    constant = train(build_model(config.model, config.train.seed), digits, config.train)
    assert constant.epochs[-1].test_kl != result.epochs[-1].test_kl  # β really changed the run


def test_a_job_whose_beta_moved_is_stored_under_its_schedule_only(tmp_path, digits):
    config = make_config("digits", **{**TINY, "epochs": 40})
    reg = JobRegistry(tmp_path)  # the run trains in a worker process: β goes over its pipe
    job = reg.start(config)
    job.control(beta=2.5)
    try:
        assert job.wait(120)
    finally:
        reg.close()
    assert job.beta_changes and job.beta_changes[0][1] == 2.5
    scheduled = job.result.config
    assert scheduled.train.beta_schedule == job.beta_changes
    assert dataclasses.replace(scheduled, train=dataclasses.replace(scheduled.train, beta_schedule=())) == config
    assert cache.lookup(config, tmp_path) is None  # never confused with the constant-β model
    assert cache.lookup(scheduled, tmp_path) is not None
    assert reg.trained(config) is None and reg.trained(scheduled) is not None


def test_controls_refuse_a_beta_out_of_range():
    with pytest.raises(ValueError):
        Controls().set(beta=-1.0)
