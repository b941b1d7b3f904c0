"""The Posterior view page, driven through AppTest on small cached digits models."""

from __future__ import annotations

import torch
from app_helpers import array, plotly_specs, pretrained, settled

from vae_core import get_or_train
from vae_core.vae.objectives import elbo_terms, log_px_quadrature
from vae_core.vae.train import checkpoint_epochs


def numbers(at) -> dict[str, float]:
    return {m.label: float(m.value) for m in at.metric}


def test_other_dimensions_are_told_and_offered_a_switch(open_app, empty_cache):
    at = open_app("posterior", latent_dim=5)
    assert any("2-D latent space" in w.value for w in at.warning)
    assert not at.get("plotly_chart")
    at.button(key="post_switch").click().run()
    assert at.session_state["latent_dim"] == 2
    assert at.button(key="train_now"), "no 2-D model yet: the page offers to train one"


def test_the_numbers_are_the_quadrature_and_the_elbo(open_app):
    config = pretrained(epochs=8)
    model = get_or_train(config).model
    at = open_app("posterior", epochs=8)
    n = numbers(at)
    kl, log_px, elbo = n["KL(q(z|x) ‖ p(z|x))"], n["log p(x), quadrature"], n["ELBO = log p(x) − KL"]
    assert kl >= 0
    x = at.session_state["post_image"]
    from app_pages.common import test_set

    xs = test_set("digits", True)[0][x : x + 1]
    # An independent check: the objectives' own grid, and a 20,000-sample ELBO (std error < 0.01 here).
    assert abs(log_px - log_px_quadrature(model, xs).item()) < 0.01
    g = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        mc = elbo_terms(model, xs, n_samples=20_000, generator=g).elbo.item()
    assert abs(elbo - mc) < 0.05, (elbo, mc)


def test_checkpoints_and_image_change_what_is_shown(open_app):
    pretrained(epochs=8)
    at = open_app("posterior", epochs=8)
    assert at.select_slider(key="post_epoch").options == [str(e) for e in checkpoint_epochs(8)]
    specs = plotly_specs(at)
    heatmaps = [t for t in specs["posterior_multiples"]["data"] if t["type"] == "heatmap"]
    assert len(heatmaps) == len(checkpoint_epochs(8))
    assert [t["type"] for t in specs["posterior_main"]["data"]] == ["heatmap", "scatter", "scatter"]
    final = numbers(at)
    settled(at.select_slider(key="post_epoch").set_value(0).run())
    at_start = numbers(at)
    assert at_start["KL(q(z|x) ‖ p(z|x))"] != final["KL(q(z|x) ‖ p(z|x))"]
    assert plotly_specs(at)["posterior_main"] != specs["posterior_main"]
    settled(at.number_input(key="post_image").set_value(3).run())
    assert numbers(at)["log p(x), quadrature"] != at_start["log p(x), quadrature"]
    assert "weights after epoch 0" in at.caption[0].value


def test_the_elbo_page_and_the_posterior_page_draw_the_same_posterior(open_app):
    pretrained(epochs=8)
    post = open_app("posterior", epochs=8)
    elbo = open_app("elbo", epochs=8)
    assert post.session_state["post_image"] == elbo.session_state["elbo_image"] == 0
    heat = {
        name: next(t for t in plotly_specs(at)[key]["data"] if t["type"] == "heatmap")
        for name, at, key in (("posterior", post, "posterior_main"), ("elbo", elbo, "posterior_chart"))
    }
    for axis in ("x", "y", "z"):
        assert array(heat["posterior"][axis]) == array(heat["elbo"][axis]), axis


def test_the_training_story_is_told_in_this_images_numbers(open_app):
    """It said "at epoch 0 the posterior is nearly the prior" beside KL 5.09 (MNIST)."""
    pretrained(epochs=8)
    at = open_app("posterior", epochs=8)
    titles = [a["text"] for a in plotly_specs(at)["posterior_multiples"]["layout"]["annotations"]]
    first, last = titles[0].split("KL ")[1], titles[-1].split("KL ")[1]
    story = at.main.caption[-1].value
    assert "nearly the prior" not in story
    assert f"{first} nats from the untrained decoder's true posterior" in story
    assert f"After epoch 8 the gap is {last} nats" in story
