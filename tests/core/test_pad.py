"""The latent pad's export: exactly the decoder, in a form JavaScript can read."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
import torch

from vae_core import make_config
from vae_core.vae.model import build_model
from vae_core.views.pad import (
    decode_f32,
    decode_layers,
    decoder_layers,
    encode_f32,
    pad_codes,
    pad_weights,
    payload_bytes,
)


def test_float32_round_trip_is_exact_and_little_endian():
    values = np.array([[0.0, -1.5, 3.25], [1e-30, 7e20, -0.1]], dtype=np.float32)
    text = encode_f32(values)
    assert base64.b64decode(text)[:8] == np.array([0.0, -1.5], dtype="<f4").tobytes()
    np.testing.assert_array_equal(decode_f32(text, (2, 3)), values)
    np.testing.assert_array_equal(decode_f32(encode_f32(torch.tensor(values))), values.ravel())


@pytest.mark.parametrize(
    ("dataset", "latent_dim", "hidden", "activation"),
    [
        ("digits", 2, (256, 256), "relu"),
        ("digits", 5, (32,), "relu"),
        ("two-moons", 2, (16, 8), "relu"),
        ("digits", 2, (32, 32), "tanh"),
        ("two-moons", 2, (16, 8), "tanh"),
    ],
)
def test_exported_layers_decode_like_the_model(dataset, latent_dim, hidden, activation):
    config = make_config(dataset, latent_dim=latent_dim, hidden=hidden, activation=activation)
    model = build_model(config.model, seed=3).eval()
    payload = pad_weights(model)
    assert payload["output"] == ("sigmoid" if config.model.likelihood == "bernoulli" else "identity")
    assert payload["layers"][0]["shape"] == [hidden[-1], latent_dim]
    assert payload["layers"][-1]["shape"] == [config.model.x_dim, hidden[0]]
    z = torch.randn(50, latent_dim, generator=torch.Generator().manual_seed(0)) * 2
    with torch.inference_mode():
        expected = model.mean(z).numpy()
    assert payload["activation"] == activation
    decoded = decode_layers(payload["layers"], z.numpy(), payload["output"], payload["activation"])
    np.testing.assert_allclose(decoded, expected, atol=1e-5)
    json.dumps(payload)  # plain JSON for the component


def test_the_payload_is_compact():
    model = build_model(make_config("digits").model, seed=0)
    n_params = sum(p.numel() for p in model.decoder.parameters())
    # base64 float32 is 4/3 * 4 bytes per weight: far less than JSON decimals (~10 characters each).
    assert payload_bytes(pad_weights(model)) < 5.5 * n_params


def test_codes_are_pairs_in_the_chosen_dimensions():
    mu = np.arange(12, dtype=np.float32).reshape(4, 3)
    codes = pad_codes(mu, np.array([0, 9, 3, 300]), dims=[2, 0])
    assert codes["n"] == 4
    np.testing.assert_array_equal(decode_f32(codes["xy"], (4, 2)), mu[:, [2, 0]])
    assert list(base64.b64decode(codes["labels"])) == [0, 9, 3, 255]


def test_a_decoder_with_other_layers_is_refused():
    model = build_model(make_config("digits").model, seed=0)
    model.decoder.append(torch.nn.Tanh())
    with pytest.raises(ValueError, match="ReLU"):
        decoder_layers(model)
