"""What the in-browser latent pad needs from Python: the decoder as plain data, and the codes.

The pad (``app_pages/latent_pad.js``) decodes in JavaScript while the pointer moves, so it gets the
decoder's weights once per model: each ``nn.Linear`` as little-endian float32 in base64
(``w`` row-major (out, in), ``b`` (out,)), ReLU or tanh between layers, then the output map
(``sigmoid`` for a Bernoulli decoder's pixel probabilities, ``identity`` for a Gaussian's mean).
``decode_layers`` is the same computation in numpy: the reference the JavaScript must match.
The test codes go along as float32 (x, y) pairs in the two chosen latent dimensions and uint8
labels. Nothing here knows about Streamlit.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from vae_core.vae.model import ACTIVATIONS, VAE


def encode_f32(values: np.ndarray | torch.Tensor) -> str:
    """Any array as little-endian float32 bytes in base64 (flattened row-major)."""
    array = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    return base64.b64encode(np.ascontiguousarray(array, dtype="<f4").tobytes()).decode("ascii")


def decode_f32(text: str, shape: Sequence[int] | None = None) -> np.ndarray:
    """The inverse of ``encode_f32``."""
    flat = np.frombuffer(base64.b64decode(text), dtype="<f4")
    return flat.reshape(shape) if shape is not None else flat


def decoder_layers(model: VAE) -> list[dict[str, Any]]:
    """The decoder's linear layers in order: ``{"shape": [out, in], "w": b64, "b": b64}``."""
    layers = [m for m in model.decoder if isinstance(m, nn.Linear)]
    between = ACTIVATIONS[model.config.activation]  # what the browser applies between layers
    if len(layers) != sum(not isinstance(m, between) for m in model.decoder):
        raise ValueError(f"the pad decodes Linear layers with {between.__name__} between them only")
    return [
        {"shape": list(m.weight.shape), "w": encode_f32(m.weight), "b": encode_f32(m.bias)}  # (out, in), (out,)
        for m in layers
    ]


def pad_weights(model: VAE) -> dict[str, Any]:
    """Everything the pad needs to decode: layers, output map, latent and data dimensions."""
    config = model.config
    return {
        "layers": decoder_layers(model),
        "output": "sigmoid" if config.likelihood == "bernoulli" else "identity",
        "activation": config.activation,
        "latent_dim": config.latent_dim,
        "x_dim": config.x_dim,
    }


def pad_codes(mu: np.ndarray, labels: np.ndarray, dims: Sequence[int]) -> dict[str, Any]:
    """Test codes mu (N, D) in ``dims`` (two of them) as float32 pairs, and uint8 labels (N,)."""
    xy = np.asarray(mu)[:, list(dims)]  # (N, 2)
    label = np.clip(np.asarray(labels), 0, 255).astype(np.uint8)
    return {"n": len(xy), "xy": encode_f32(xy), "labels": base64.b64encode(label.tobytes()).decode("ascii")}


def decode_layers(
    layers: Sequence[dict[str, Any]], z: np.ndarray, output: str = "sigmoid", activation: str = "relu"
) -> np.ndarray:
    """What the pad computes for z (N, D): the decoder's mean E[x|z] (N, x_dim), in float32."""
    h = np.asarray(z, dtype=np.float32)
    for i, layer in enumerate(layers):
        w = decode_f32(layer["w"], layer["shape"])
        h = h @ w.T + decode_f32(layer["b"])
        if i < len(layers) - 1:
            h = np.tanh(h) if activation == "tanh" else np.maximum(h, 0)
    return 1 / (1 + np.exp(-h)) if output == "sigmoid" else h


def payload_bytes(payload: dict[str, Any]) -> int:
    """Characters of base64 text in a payload (what crosses the websocket, roughly)."""
    total = 0
    for value in payload.values():
        if isinstance(value, str):
            total += len(value)
        elif isinstance(value, dict):
            total += payload_bytes(value)
        elif isinstance(value, list):
            total += sum(payload_bytes(v) for v in value if isinstance(v, dict))
    return total
