"""The "Jensen's inequality" page (AppTest): the histogram's marks are the estimators on the same
draws, the k slider moves L_k up, and the identity's three numbers add up against quadrature."""

from __future__ import annotations

import pytest
import torch
from app_helpers import array, plotly_specs, pretrained, settled

from vae_core import get_or_train
from vae_core.vae.objectives import elbo_terms, log_px_importance, log_px_prior, log_px_quadrature


def numbers(at) -> dict[str, float]:
    return {m.label: float(m.value) for m in at.metric}


def marks(spec: dict) -> dict[str, float]:
    """Vertical lines by the start of their legend name ("ELBO", "L_5000", "mean L_10", ...): their x."""
    out = {}
    for t in spec["data"]:
        xs = array(t.get("x", []))
        if t["type"] == "scatter" and len(xs) == 2 and xs[0] == xs[1]:
            out.setdefault(t["name"].split(" = ")[0], xs[0])
    return out


def test_the_histogram_marks_the_elbo_l_k_and_the_naive_estimate_on_the_same_draws(open_app):
    config = pretrained(epochs=8)
    model = get_or_train(config).model
    from app_pages.common import test_set

    x = test_set("digits", True)[0]
    at = settled(open_app("jensen", epochs=8))
    settled(at.number_input(key="jensen_image").set_value(2).run())
    hist = plotly_specs(at)["jensen_hist"]
    found = marks(hist)
    g = lambda: torch.Generator().manual_seed(2)  # noqa: E731  (the page seeds the draws by the image)
    with torch.inference_mode():
        mc = elbo_terms(model, x[2:3], kl_estimator="mc", n_samples=5000, generator=g()).elbo.item()
    assert found["ELBO"] == pytest.approx(mc, abs=1e-3)
    assert found["L_5000"] == pytest.approx(log_px_importance(model, x[2:3], 5000, generator=g()).item(), abs=1e-3)
    prior_g = torch.Generator().manual_seed(10_002)
    assert found["naive"] == pytest.approx(log_px_prior(model, x[2:3], 5000, generator=prior_g).item(), abs=1e-3)
    exact = log_px_quadrature(model, x[2:3]).item()
    assert found["log p(x)"] == pytest.approx(exact, abs=1e-3)
    assert found["ELBO"] < found["mean L_10"] < found["L_5000"] < exact + 0.05

    settled(at.select_slider(key="jensen_k").set_value(100).run())
    after = marks(plotly_specs(at)["jensen_hist"])
    assert found["mean L_10"] < after["mean L_100"] <= after["L_5000"] + 1e-9
    names = [t["name"] for t in plotly_specs(at)["jensen_hist"]["data"]]
    assert "L_100 of 50 groups of 100" in names
    climb = plotly_specs(at)["jensen_climb"]["data"]
    assert next(t for t in climb if t["name"] == "k = 100")["x"] == [100]


def test_the_identity_adds_up_against_quadrature(open_app):
    config = pretrained(epochs=8)
    at = settled(open_app("jensen", epochs=8))
    n = numbers(at)
    from app_pages.common import test_set

    exact = log_px_quadrature(get_or_train(config).model, test_set("digits", True)[0][:1]).item()
    assert n["log p(x) (quadrature)"] == pytest.approx(exact, abs=0.006)
    assert n["ELBO + KL"] == pytest.approx(n["log p(x) (quadrature)"], abs=0.011)
    assert n["ELBO + KL"] == pytest.approx(n["ELBO"] + n["KL(q(z|x) ‖ p(z|x))"], abs=0.011)
    assert n["KL(q(z|x) ‖ p(z|x))"] >= 0
    assert "the identity holds to the two decimals shown" in at.success[0].value


def test_without_quadrature_the_kl_is_a_lower_bound_from_l_5000(open_app):
    pretrained(latent_dim=5, epochs=3)
    at = settled(open_app("jensen", latent_dim=5, epochs=3))
    n = numbers(at)
    assert "log p(x) (L_5000)" in n and not at.success
    assert "lower bound" in at.info[0].value
    assert "log p(x)" not in marks(plotly_specs(at)["jensen_hist"])


@pytest.mark.parametrize(("dataset", "latent_dim"), [("two-moons", 2), ("digits", 1)])
def test_the_identity_holds_for_a_gaussian_decoder_and_a_1d_latent(open_app, dataset, latent_dim):
    pretrained(dataset=dataset, latent_dim=latent_dim, epochs=3)
    at = settled(open_app("jensen", dataset=dataset, latent_dim=latent_dim, epochs=3))
    n = numbers(at)
    assert n["ELBO + KL"] == pytest.approx(n["log p(x) (quadrature)"], abs=0.011)
    assert "the identity holds to the two decimals shown" in at.success[0].value
