"""A config in words: summaries people read, and picker labels that tell configs apart."""

from __future__ import annotations

from vae_core import make_config
from vae_core.vae.fast_step import bf16_is_fast
from vae_core.views.wording import describe, describe_apart, describe_optimiser


def test_describe_optimiser_says_how_a_config_trains():
    mnist = describe_optimiser(make_config("mnist"))
    assert "batch 512, cosine-decaying lr from 0.012 after 1 warm-up epoch, β₂ 0.99" in mnist
    assert mnist.endswith("bf16 GEMMs (AMX)" if bf16_is_fast() else "hand-written, fp32")
    assert describe_optimiser(make_config("digits", kl_estimator="mc")).endswith("steps: autograd")
    assert "lr 0.003," in describe_optimiser(make_config("two-moons"))


def test_configs_that_read_alike_get_labels_that_tell_them_apart():
    a, b = make_config("digits"), make_config("digits", adam_beta2=0.9)
    c = make_config("digits", beta=4.0)
    assert describe(a) == describe(b)
    labels = describe_apart([a, b, c])
    assert len(set(labels.values())) == 3
    assert labels[a].endswith("β₂ 0.999") and labels[b].endswith("β₂ 0.9")
    assert labels[c] == describe(c)  # a label that is unique already stays as it is
