"""Export: CSV files, the model file (it loads, and the command line evaluates it), chart buttons."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from app_helpers import pretrained

from vae_core import get_or_train, load_model, make_config
from vae_core.views.export import codes_csv, epochs_csv, estimates_csv, model_bytes, model_file_name

ROOT = Path(__file__).resolve().parents[2]


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_the_model_file_loads_and_the_command_line_evaluates_it(tmp_path):
    trained = get_or_train(make_config("digits", epochs=2, beta=4.0))
    path = tmp_path / model_file_name(trained)
    path.write_bytes(model_bytes(trained))
    assert path.name == "vae-digits-d2-beta4.pt"
    loaded = load_model(path)
    assert loaded.config == trained.config and loaded.metrics == trained.metrics
    x = torch_rand(trained.config.model.x_dim)
    assert np.allclose(loaded.model(x).detach().numpy(), trained.model(x).detach().numpy())
    out = subprocess.run(
        [sys.executable, "-m", "vae_core", "evaluate", "--model", str(path), "--k", "1,10", "--prior-k", "0", "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ),
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["evaluation"]["elbo"] == pytest_approx(trained.metrics["test_elbo"])


def torch_rand(x_dim: int):
    import torch

    return torch.rand(4, x_dim, generator=torch.Generator().manual_seed(0))


def pytest_approx(value: float):
    import pytest

    return pytest.approx(value, abs=1e-4)


def test_csv_files_hold_the_numbers():
    trained = get_or_train(make_config("digits", epochs=2))
    epochs = rows(epochs_csv(trained.history["epochs"]))
    assert [int(r["epoch"]) for r in epochs] == [1, 2] and "kl_z2" in epochs[0]
    assert float(epochs[-1]["test_elbo"]) == trained.metrics["test_elbo"]
    mu, logvar = np.arange(6.0).reshape(3, 2), -np.ones((3, 2))
    codes = rows(codes_csv(mu, logvar, np.array([0, 1, 9]), [str(d) for d in range(10)]))
    assert codes[2] == {
        "index": "2",
        "label": "9",
        "class": "9",
        "mu_1": "4.0",
        "mu_2": "5.0",
        "logvar_1": "-1.0",
        "logvar_2": "-1.0",
    }
    table = rows(estimates_csv([1, 10], {"importance": np.array([[-3.0, -2.0], [-1.5, -1.0]])}))
    assert len(table) == 4 and table[-1] == {"estimator": "importance", "k": "10", "repeat": "1", "log_px": "-1.0"}


def test_the_train_page_offers_the_files_of_a_finished_model(open_app):
    pretrained(epochs=3)
    at = open_app(epochs=3)
    buttons = {b.key: b for b in at.get("download_button")}
    assert {"dl_epochs", "dl_codes", "dl_model"} <= set(buttons)
    assert buttons["dl_model"].proto.label == "The model file"


def test_charts_save_as_the_chosen_format(open_app):
    pretrained(epochs=3)
    at = open_app(epochs=3)
    configs = {c.proto.id.split("-")[-1]: json.loads(c.proto.config) for c in at.get("plotly_chart")}
    assert configs["curves"]["toImageButtonOptions"]["format"] == "png"
    at.radio(key="figure_format").set_value("svg").run()
    configs = {c.proto.id.split("-")[-1]: json.loads(c.proto.config) for c in at.get("plotly_chart")}
    assert {c["toImageButtonOptions"]["format"] for c in configs.values()} == {"svg"}
    assert configs["kl_bars"]["toImageButtonOptions"]["filename"] == "kl_bars"


def test_the_elbo_page_offers_its_estimates(open_app):
    pretrained(epochs=3)
    at = open_app("elbo", epochs=3)
    assert any(b.proto.label.startswith("These estimates") for b in at.get("download_button"))
