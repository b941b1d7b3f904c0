"""The fp32/bf16 decision of ``precision="auto"``: measured with a fake timer, kept per machine."""

from __future__ import annotations

import json

import pytest

from vae_core import make_config
from vae_core.vae import precision
from vae_core.vae.precision import MARGIN, PrecisionChooser, Timing, machine_key, shape_class


class FakeTimer:
    """ms per step: ``times[precision]``; counts every measurement."""

    def __init__(self, fp32: float, bf16: float) -> None:
        self.times = {"fp32": fp32, "bf16": bf16}
        self.calls: list[tuple[str, int, str]] = []

    def __call__(self, model, batch, arithmetic):
        self.calls.append((shape_class(model, batch), batch, arithmetic))
        return self.times[arithmetic]


MNIST = make_config("mnist").model


@pytest.mark.parametrize(
    ("fp32", "bf16", "choice"),
    [(10.0, 5.0, "bf16"), (10.0, 10.0 / MARGIN, "bf16"), (10.0, 9.5, "fp32"), (1.0, 3.0, "fp32")],
)
def test_bf16_only_where_it_is_measurably_faster(fp32, bf16, choice):
    assert Timing(fp32, bf16).choice == choice
    assert PrecisionChooser(FakeTimer(fp32, bf16))(MNIST, 512) == choice


def test_one_measurement_per_shape_class_and_machine_kept_in_the_file(tmp_path, monkeypatch):
    path = tmp_path / ".precision.json"
    timer = FakeTimer(12.0, 5.0)
    chooser = PrecisionChooser(timer, path)
    assert chooser(MNIST, 512) == "bf16" and chooser(MNIST, 512) == "bf16"
    assert len(timer.calls) == 2  # fp32 and bf16, once
    assert chooser(MNIST, 128) == "bf16" and len(timer.calls) == 4  # another batch is another class
    stored = json.loads(path.read_text())
    assert stored[machine_key()][shape_class(MNIST, 512)] == {"fp32_ms": 12.0, "bf16_ms": 5.0}
    # A fresh process on this machine reads the decision instead of measuring (it would say fp32 now).
    again = FakeTimer(5.0, 12.0)
    assert PrecisionChooser(again, path)(MNIST, 512) == "bf16" and again.calls == []
    # Another machine (or torch, or thread count) decides for itself, in the same file.
    monkeypatch.setattr(precision, "cpu_model", lambda: "Another CPU")
    other = FakeTimer(5.0, 12.0)
    assert PrecisionChooser(other, path)(MNIST, 512) == "fp32" and len(other.calls) == 2
    assert len(json.loads(path.read_text())) == 2


@pytest.mark.parametrize("content", ["{not json", "[]", '{"m": {"s": {"fp32_ms": "x"}}}', '{"m": 3}'])
def test_a_damaged_file_is_measured_anew_and_rewritten(tmp_path, content):
    path = tmp_path / ".precision.json"
    path.write_text(content)
    timer = FakeTimer(12.0, 5.0)
    assert PrecisionChooser(timer, path)(MNIST, 512) == "bf16" and len(timer.calls) == 2
    assert shape_class(MNIST, 512) in json.loads(path.read_text())[machine_key()]


def test_an_unwritable_place_keeps_the_decision_in_memory(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    chooser = PrecisionChooser(FakeTimer(12.0, 5.0), blocker / "sub" / ".precision.json")
    assert chooser(MNIST, 512) == "bf16" and chooser(MNIST, 512) == "bf16"
    assert not (tmp_path / "a-file").is_dir()
