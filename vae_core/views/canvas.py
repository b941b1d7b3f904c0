"""What the drawing pad needs from Python: the encoder and the decoder as plain data, the test codes,
the fixed draws of its ELBO / L_k, and how it turns a canvas into a dataset image.

The pad (``app_pages/draw_pad.js``) encodes the drawing in JavaScript while the stroke is drawn:
the canvas's alpha is the ink, prepared exactly as an upload is
(``vae_core.data.images.ink_to_dataset_image``: cropped, its box fitted with Lanczos, thin strokes
thickened, centred by its centre of mass), then the encoder's MLP gives q(z|x) = N(mu, sigma^2),
whose ellipse is drawn over the test codes, and the decoder gives the reconstruction E[x | z = mu].
With the ``k`` fixed draws eps_i sent here, z_i = mu + sigma * eps_i, it scores the drawing:

    ELBO ~ 1/k sum_i log p(x|z_i) - KL(q || p(z)),   L_k = log 1/k sum_i p(x|z_i) p(z_i) / q(z_i|x)

``encode_layers`` and ``canvas_scores`` are the same computations in numpy and torch: the
references the JavaScript must match. Nothing here knows about Streamlit.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from vae_core.data.images import BOX, STROKE, WORK
from vae_core.vae.model import ACTIVATIONS, VAE
from vae_core.vae.objectives import gaussian_kl, log_lik, log_standard_normal
from vae_core.views.pad import decode_f32, encode_f32, pad_weights

SCORE_DRAWS = 100  # the k of the pad's L_k, and the draws of its ELBO


def encoder_layers(model: VAE) -> list[dict[str, Any]]:
    """The encoder's linear layers in order: ``{"shape": [out, in], "w": b64, "b": b64}``."""
    layers = [m for m in model.encoder if isinstance(m, nn.Linear)]
    between = ACTIVATIONS[model.config.activation]
    if len(layers) != sum(not isinstance(m, between) for m in model.encoder):
        raise ValueError(f"the pad encodes Linear layers with {between.__name__} between them only")
    return [{"shape": list(m.weight.shape), "w": encode_f32(m.weight), "b": encode_f32(m.bias)} for m in layers]


def score_draws(latent_dim: int, k: int = SCORE_DRAWS, seed: int = 0) -> np.ndarray:
    """The pad's fixed eps ~ N(0, I): (k, latent_dim) float32, the same for every drawing."""
    return torch.randn((k, latent_dim), generator=torch.Generator().manual_seed(seed)).numpy()


def canvas_weights(model: VAE, image_shape: tuple[int, int], seed: int = 0) -> dict[str, Any]:
    """Everything the pad needs once per model: both networks, the draws, the preparation's constants."""
    size = image_shape[0]
    return {
        "encoder": encoder_layers(model),
        "decoder": pad_weights(model),
        "eps": encode_f32(score_draws(model.config.latent_dim, seed=seed)),
        "k": SCORE_DRAWS,
        "image_shape": list(image_shape),
        "box": BOX[size],
        "work": WORK * BOX[size],
        "stroke": STROKE * WORK * BOX[size],
    }


def encode_layers(layers: list[dict[str, Any]], x: np.ndarray, activation: str = "relu") -> np.ndarray:
    """What the pad computes for x (N, x_dim): the encoder's output [mu, logvar] (N, 2 D), float32."""
    h = np.asarray(x, dtype=np.float32)
    for i, layer in enumerate(layers):
        h = h @ decode_f32(layer["w"], layer["shape"]).T + decode_f32(layer["b"])
        if i < len(layers) - 1:
            h = np.tanh(h) if activation == "tanh" else np.maximum(h, 0)
    return h


@torch.inference_mode()
def canvas_scores(model: VAE, x: np.ndarray, eps: np.ndarray) -> dict[str, float]:
    """The pad's ELBO and L_k of one image x (x_dim,) with the fixed draws eps (k, D), in nats."""
    xt = torch.as_tensor(x, dtype=torch.float32)[None]
    mu, logvar = model.encode(xt)  # (1, D)
    e = torch.as_tensor(eps, dtype=torch.float32)[:, None]  # (k, 1, D)
    z = mu + (0.5 * logvar).exp() * e
    rec = log_lik(model, xt, z)[:, 0]  # (k,)
    log_w = (
        rec + log_standard_normal(z).sum(-1)[:, 0] + 0.5 * (e.square() + logvar + math.log(2 * math.pi)).sum(-1)[:, 0]
    )
    kl = float(gaussian_kl(mu, logvar).sum())
    return {
        "elbo": float(rec.mean()) - kl,
        "l_k": float(torch.logsumexp(log_w.double(), 0) - math.log(len(eps))),
        "kl": kl,
    }
