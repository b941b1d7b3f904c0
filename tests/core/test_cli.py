"""The command line as a new user meets it: real subprocesses, real files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vae_core.data.download import IDX_NAMES

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, cache: Path, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "VAE_LAB_CACHE": str(cache)}
    return subprocess.run(
        [sys.executable, "-m", "vae_core", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300, **kw
    )


@pytest.mark.slow
def test_train_then_evaluate_a_model_file(tmp_path):
    model = tmp_path / "digits2d.pt"
    out = run_cli("train", "--dataset", "digits", "--epochs", "3", "--out", str(model), "--json", cache=tmp_path)
    assert out.returncode == 0, out.stderr
    trained = json.loads(out.stdout)
    assert trained["metrics"]["status"] == "completed" and model.is_file()
    assert "epoch   3/3" in out.stderr
    out = run_cli("evaluate", "--model", str(model), "--k", "1,10,100", "--prior-k", "100", "--json", cache=tmp_path)
    assert out.returncode == 0, out.stderr
    ev = json.loads(out.stdout)["evaluation"]
    assert ev["n"] == 360 and ev["elbo"] == pytest.approx(trained["metrics"]["test_elbo"], abs=1e-4)
    assert ev["elbo"] < ev["log_px_importance"]["100"] <= ev["log_px_quadrature"] + 0.01
    assert ev["quadrature_error"] < 1e-2


def test_optimiser_and_precision_flags_reach_the_config_and_the_trainer(tmp_path):
    flags = ["--epochs", "2", "--lr-schedule", "cosine", "--lr-warmup", "0.5", "--precision", "fp32"]
    out = run_cli("train", "--dataset", "digits", *flags, "--json", cache=tmp_path)
    assert out.returncode == 0, out.stderr
    trained = json.loads(out.stdout)
    train = trained["config"]["train"]
    assert (train["lr_schedule"], train["lr_warmup_epochs"], train["precision"]) == ("cosine", 0.5, "fp32")
    assert trained["metrics"]["step_kind"] == "fp32"
    assert "cosine lr 0.001, fp32 step" in out.stderr


@pytest.mark.slow
def test_evaluate_with_flags_reuses_the_cached_model_and_prints_a_table(tmp_path):
    flags = ["--dataset", "two-moons", "--epochs", "5"]
    assert run_cli("train", *flags, cache=tmp_path).returncode == 0
    out = run_cli("evaluate", *flags, "--k", "1,50", "--n-test", "100", cache=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "from the cache" in out.stderr and "training" not in out.stderr
    assert "log p(x), importance k=50" in out.stdout and "quadrature" in out.stdout


def test_a_wrong_dataset_name_lists_the_right_ones(tmp_path):
    out = run_cli("train", "--dataset", "mnits", cache=tmp_path)
    assert out.returncode == 2
    assert "invalid choice: 'mnits'" in out.stderr and "fashion-mnist" in out.stderr


def test_missing_files_offline_say_what_to_put_where(tmp_path):
    out = run_cli("train", "--dataset", "mnist", "--data-root", str(tmp_path / "empty"), "--offline", cache=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert str(tmp_path / "empty" / "mnist") in out.stderr and all(name in out.stderr for name in IDX_NAMES)


def test_datasets_lists_where_each_one_comes_from(tmp_path):
    out = run_cli("datasets", "--data-root", str(tmp_path), cache=tmp_path)
    assert out.returncode == 0
    lines = {line.split()[0]: line for line in out.stdout.splitlines()}
    assert "built in" in lines["digits"] and "missing" in lines["mnist"] and "generated" in lines["pinwheel"]


def test_ctrl_c_stops_training_cleanly_and_caches_nothing(tmp_path):
    env = {**os.environ, "VAE_LAB_CACHE": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vae_core", "train", "--dataset", "digits", "--epochs", "5000"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    seen = ""
    deadline = time.monotonic() + 120
    while "epoch" not in seen and time.monotonic() < deadline:  # wait until it is training
        seen += proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=60)
    assert proc.returncode == 130, rest
    assert "stopping after this step" in rest and "Nothing was cached" in rest and "Traceback" not in rest
    assert [p for p in tmp_path.iterdir() if p.is_dir()] == []  # no entry, complete or partial


def test_doctor_prints_the_cpu_and_a_measured_decision_per_default_model(tmp_path):
    out = run_cli("doctor", cache=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("CPU: ") and str(tmp_path / ".precision.json") in out.stdout
    rows = [line.split() for line in out.stdout.splitlines() if line.startswith("  ")]
    assert {r[0] for r in rows} == {"digits", "mnist", "two-moons"}
    for r in rows:
        fp32, bf16, choice = float(r[r.index("fp32") + 1]), float(r[r.index("bf16") + 1]), r[-1]
        assert choice == ("bf16" if bf16 * 1.1 <= fp32 else "fp32")
    stored = json.loads((tmp_path / ".precision.json").read_text())
    assert all(len(shapes) == 3 for shapes in stored.values())  # one decision per default model and thread count
    again = run_cli("train", "--dataset", "two-moons", "--epochs", "1", "--json", cache=tmp_path)
    assert again.returncode == 0, again.stderr
    # The stored decision for torch's default thread count (the last section printed) trains it.
    two_moons = [r for r in rows if r[0] == "two-moons"][-1]
    assert json.loads(again.stdout)["metrics"]["step_kind"] == two_moons[-1]
