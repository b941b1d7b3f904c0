"""A config in words: summaries people read, and picker labels that tell configs apart."""

from __future__ import annotations

import json

import pytest

from vae_core import make_config
from vae_core.vae.precision import machine_key, shape_class
from vae_core.views.wording import describe, describe_apart, describe_optimiser


@pytest.mark.parametrize(
    ("fp32_ms", "bf16_ms", "steps"), [(10.0, 4.0, "bf16 GEMMs (measured faster here)"), (4.0, 10.0, "fp32")]
)
def test_describe_optimiser_says_how_this_machine_trains_a_config(tmp_path, fp32_ms, bf16_ms, steps):
    mnist = make_config("mnist")
    decided = {machine_key(): {shape_class(mnist.model, 512): {"fp32_ms": fp32_ms, "bf16_ms": bf16_ms}}}
    (tmp_path / ".precision.json").write_text(json.dumps(decided))
    text = describe_optimiser(mnist, tmp_path)
    assert "batch 512, cosine-decaying lr from 0.012 after 1 warm-up epoch, β₂ 0.99" in text
    assert text.endswith(steps)
    assert describe_optimiser(make_config("mnist", precision="fp32"), tmp_path).endswith("hand-written, fp32")
    assert describe_optimiser(make_config("digits", kl_estimator="mc"), tmp_path).endswith("steps: autograd")
    assert "lr 0.003," in describe_optimiser(make_config("two-moons"), tmp_path)


def test_configs_that_read_alike_get_labels_that_tell_them_apart():
    a, b = make_config("digits"), make_config("digits", adam_beta2=0.9)
    c = make_config("digits", beta=4.0)
    assert describe(a) == describe(b)
    labels = describe_apart([a, b, c])
    assert len(set(labels.values())) == 3
    assert labels[a].endswith("β₂ 0.999") and labels[b].endswith("β₂ 0.9")
    assert labels[c] == describe(c)  # a label that is unique already stays as it is
