"""The zoo: the grid is the sidebar's configs, it resumes, and Ctrl-C caches nothing partial."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from vae_core import lookup, make_config
from vae_core.data import load_dataset
from vae_core.store.zoo import ZOO_BETAS, ZOO_LATENT_DIMS, run_zoo, zoo_configs

ROOT = Path(__file__).resolve().parents[2]


def zoo_cli(*args: str, cache: Path, **kw) -> subprocess.Popen:
    env = {**os.environ, "VAE_LAB_CACHE": str(cache)}
    cmd = [sys.executable, "-m", "vae_core", "zoo", *args]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def entries(cache: Path) -> list[Path]:
    return [p for p in cache.iterdir() if p.is_dir() and not p.name.startswith(".")] if cache.exists() else []


def test_the_default_grid_is_every_beta_times_every_latent_dim_with_default_settings():
    configs = zoo_configs("digits")
    assert len(configs) == len(ZOO_BETAS) * len(ZOO_LATENT_DIMS) == 42
    assert {(c.train.beta, c.model.latent_dim) for c in configs} == {(b, d) for b in ZOO_BETAS for d in ZOO_LATENT_DIMS}
    assert make_config("digits", latent_dim=5, beta=4) in configs  # what get_or_train keys the cache by
    assert configs[0].model.latent_dim == 2, "the 2-D row, the one a lecture opens on, comes first"


def test_run_zoo_trains_what_is_missing_and_skips_what_is_cached(tmp_path):
    configs = [make_config("digits", latent_dim=d, beta=1.0, epochs=1) for d in (1, 2)]
    seen = []
    cells = run_zoo(configs, tmp_path, load_data=load_dataset, on_cell=seen.append)
    assert [c.status for c in cells] == ["trained", "trained"] and seen == cells
    assert all(lookup(c, tmp_path) is not None for c in configs)
    assert cells[0].eta is not None and cells[-1].eta == 0.0
    assert cells[0].test_elbo < 0

    more = [*configs, make_config("digits", latent_dim=3, beta=1.0, epochs=1)]
    loads = []
    again = run_zoo(more, tmp_path, load_data=lambda name: loads.append(name) or load_dataset(name))
    assert [c.status for c in again] == ["cached", "cached", "trained"]
    assert again[0].test_elbo == cells[0].test_elbo and loads == ["digits"]


def test_a_cell_the_cache_could_not_store_says_so(tmp_path, monkeypatch):
    import errno

    from vae_core.store import cache

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cache.Path, "write_text", full)
    (cell,) = run_zoo([make_config("digits", epochs=1, hidden=(16,))], tmp_path, load_data=load_dataset)
    assert cell.status == "unsaved" and cell.test_elbo < 0


def test_a_stop_caches_nothing_and_ends_the_grid(tmp_path):
    stop = threading.Event()
    configs = [make_config("digits", latent_dim=2, beta=b, epochs=500) for b in (0.0, 1.0)]
    cells = run_zoo(configs, tmp_path, load_data=load_dataset, on_cell=lambda c: None, stop_event=stop_after(stop))
    assert [c.status for c in cells] == ["stopped"]
    assert entries(tmp_path) == []


def stop_after(stop: threading.Event) -> threading.Event:
    threading.Timer(1.0, stop.set).start()
    return stop


@pytest.mark.slow
def test_cli_prints_a_line_per_model_and_a_json_summary(tmp_path):
    proc = zoo_cli("--dataset", "digits", "--betas", "0,1", "--latent-dims", "2", "--json", cache=tmp_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    lines = [line for line in err.splitlines() if line.startswith("[")]
    assert len(lines) == 2 and lines[0].startswith("[1/2] β 0") and "ELBO" in lines[0] and "ETA" in lines[0]
    summary = json.loads(out)
    assert summary["counts"]["trained"] == 2 and len(entries(tmp_path)) == 2

    proc = zoo_cli("--dataset", "digits", "--betas", "0,1", "--latent-dims", "2", "--json", cache=tmp_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and json.loads(out)["counts"] == {
        "cached": 2,
        "trained": 0,
        "unsaved": 0,
        "stopped": 0,
        "diverged": 0,
    }


@pytest.mark.slow
def test_ctrl_c_stops_the_current_model_cleanly_and_a_rerun_resumes(tmp_path):
    proc = zoo_cli("--dataset", "digits", "--betas", "0,0.5,1,2,4,8", "--latent-dims", "2,3", cache=tmp_path)
    first = ""
    while not first.startswith("[ 1/12]"):  # one model done, the second training
        first = proc.stderr.readline()
        assert first or proc.poll() is None, "the zoo ended before its first model"
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=120)
    assert proc.returncode == 130, rest
    assert "stopping after this step" in rest and "run the same command again to resume" in rest
    assert "Traceback" not in rest
    done = 1 + rest.count(" trained ")
    assert len(entries(tmp_path)) == done < 12  # the interrupted model left nothing behind

    proc = zoo_cli("--dataset", "digits", "--betas", "0,0.5,1,2,4,8", "--latent-dims", "2,3", cache=tmp_path)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert err.count(" cached ") == done and len(entries(tmp_path)) == 12


def test_the_zoo_trains_in_the_pools_workers_and_reports_in_order(tmp_path):
    from vae_core.store.pool import WorkerPool

    configs = [make_config("digits", epochs=2, hidden=(16,), beta=b) for b in (0.5, 1.0, 2.0)]
    run_zoo(configs[1:2], tmp_path, load_data=load_dataset)  # one already cached
    pool = WorkerPool(2)
    try:
        cells = run_zoo(configs, tmp_path, load_data=load_dataset, pool=pool)
    finally:
        pool.close()
    assert [(c.index, c.beta, c.status) for c in cells] == [
        (1, 0.5, "trained"),
        (2, 1.0, "cached"),
        (3, 2.0, "trained"),
    ]
    assert all(lookup(c, tmp_path) is not None for c in configs)
    assert all(c.test_elbo is not None and c.test_elbo < 0 for c in cells)


@pytest.mark.slow
def test_cli_zoo_with_workers_trains_the_grid_in_worker_processes(tmp_path):
    proc = zoo_cli(
        "--dataset", "digits", "--betas", "0,1", "--latent-dims", "2", "--workers", "2", "--json", cache=tmp_path
    )
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert json.loads(out)["counts"]["trained"] == 2 and len(entries(tmp_path)) == 2
    assert err.count("vae-lab: worker ") == 2, "each model trained in a worker process"
