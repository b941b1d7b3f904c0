"""The drawing pad's payload and its references: the encoder as plain data, and its scores, which
must be the existing estimators on the same draws."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vae_core import build_model, make_config
from vae_core.vae.objectives import elbo_terms, log_px_importance
from vae_core.views.canvas import SCORE_DRAWS, canvas_scores, canvas_weights, encode_layers, score_draws
from vae_core.views.pad import decode_f32


@pytest.mark.parametrize(("dataset", "shape"), [("digits", (8, 8)), ("mnist", (28, 28))])
def test_the_payload_holds_both_networks_and_the_preparations_constants(dataset, shape):
    config = make_config(dataset, latent_dim=3, hidden=(64,))
    model = build_model(config.model, 0)
    w = canvas_weights(model, shape)
    assert [layer["shape"] for layer in w["encoder"]] == [[64, config.model.x_dim], [6, 64]]
    assert w["decoder"]["latent_dim"] == 3 and w["image_shape"] == list(shape)
    assert w["box"] == {8: 8, 28: 20}[shape[0]] and w["work"] == 10 * w["box"]
    np.testing.assert_array_equal(decode_f32(w["eps"], (SCORE_DRAWS, 3)), score_draws(3))
    x = torch.rand(5, config.model.x_dim, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        mu, logvar = model.encode(x)
    out = encode_layers(w["encoder"], x.numpy())
    np.testing.assert_allclose(out, torch.cat([mu, logvar], 1).numpy(), atol=1e-5)


def test_the_pads_scores_are_elbo_terms_and_log_px_importance_on_the_same_draws():
    config = make_config("digits", latent_dim=2, hidden=(32,))
    model = build_model(config.model, 3)
    x = (torch.rand(64, generator=torch.Generator().manual_seed(2)) > 0.6).float()
    k, seed = 100, 5
    scores = canvas_scores(model, x.numpy(), score_draws(2, k, seed))
    with torch.inference_mode():
        elbo = elbo_terms(model, x[None], n_samples=k, generator=torch.Generator().manual_seed(seed)).elbo.item()
    l_k = log_px_importance(model, x[None], k, generator=torch.Generator().manual_seed(seed)).item()
    assert scores["elbo"] == pytest.approx(elbo, abs=1e-4)
    assert scores["l_k"] == pytest.approx(l_k, abs=1e-4)
    assert scores["kl"] > 0 and scores["elbo"] <= scores["l_k"]
