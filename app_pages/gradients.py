"""Gradient estimators: why VAEs train with the reparameterization trick.

Two unbiased single-sample estimators of ∂ELBO/∂(μ, log σ²) for one x (``vae_core.vae.gradients``):
    score function:      f(z) ∇ log q(z)          (Williams, 1992)
    reparameterization:  ∇_z f(z) ∂z/∂θ,  z = μ + σ ε   (Kingma & Welling, 2014)
Averaging n samples divides the variance by n; the estimators start orders of magnitude apart.
"""

import numpy as np
import streamlit as st

from app_pages.common import (
    chart_ui,
    images_ui,
    model_id,
    model_or_stop_ui,
    one_piece_ui,
    page_intro_ui,
    stored_ref,
    test_set,
)
from vae_core.vae.gradients import STUDY_NS, GaussianToy, GradientStudy, gradient_studies
from vae_core.views import stored as S
from vae_core.views.estimate_figures import gradient_means_figure, variance_figure

NS = list(STUDY_NS)
REPEATS = [20, 50, 100]

config = page_intro_ui(
    "Gradient estimators",
    "Training needs **∂ELBO/∂(μ, log σ²)** of an expectation over z ~ q(z|x). The **score-function** "
    "estimator multiplies f(z) = log p(x|z) by ∇ log q(z); the **reparameterization** estimator writes "
    "z = μ + σε and differentiates through the decoder. Both are unbiased — their means agree — but "
    "their variances differ by orders of magnitude. Averaging n samples divides either by n.",
)
D = config.model.latent_dim
trained = model_or_stop_ui(config)
mid = model_id(trained)
x, y = test_set(config.dataset, config.train.binarize)

a, b, c = st.columns(3)
i = a.number_input("Test image number", 0, len(x) - 1, 0, key="grad_image", persist_state="session")
repeats = b.select_slider("Repeats per n (more: smoother)", REPEATS, value=50, key="grad_repeats")
labels = [f"∂/∂μ{d + 1}" for d in range(D)] + [f"∂/∂log σ²{d + 1}" for d in range(D)]
coords = [None, *range(2 * D)]
coord = c.selectbox(
    "Variance of", coords, key="grad_coord", format_func=lambda k: "all coordinates (sum)" if k is None else labels[k]
)


@st.cache_data(show_spinner=False, max_entries=32)
def fresh(mid: str, i: int, repeats: int, _model, _x) -> dict[str, GradientStudy]:
    """A live or stopped run's studies (no view worker for it); no element drawn here."""
    return gradient_studies(_model, _x[i], NS, repeats)


def computed_here() -> dict[str, GradientStudy]:
    with st.spinner(f"Drawing {repeats * NS[-1]:,} gradient samples of each estimator…"):
        return fresh(mid, i, repeats, trained.model, x)


def ratio_ui(result: dict[str, GradientStudy]) -> None:
    ratio = result["score"].per_sample_var.sum() / result["reparam"].per_sample_var.sum()
    st.metric("Per-sample variance, score function ÷ reparameterization", f"{ratio:,.0f}×")


def drawn_ui(result: dict[str, GradientStudy]) -> None:
    left, right = st.columns([3, 2])
    with left:
        chart_ui(variance_figure(result, coord), key="grad_variance")
    left.caption(
        f"Each point: the variance, over {repeats} repeats, of the mean of n single-sample estimates. "
        "Dashed: the per-sample variance divided by n — the 1/n law."
    )
    with right:
        if config.info.image_shape:
            images_ui(x[i], config, 1, f"Test image #{i}", 112)
        ratio_ui(result)
    chart_ui(gradient_means_figure(result, labels), key="grad_means")
    st.caption(f"Means over all {repeats * NS[-1]:,} samples with ±2 standard errors: the estimators agree.")


one_piece_ui(
    stored_ref(trained, x),
    "gradients",
    S.gradients(i, repeats),
    computed_here,
    drawn_ui,
    refining=f"drawing {repeats * NS[-1]:,} gradient samples of each estimator…",
    failure="The gradient samples could not be drawn",
    wait=1.5,  # 0.8 s of one core on MNIST at 50 repeats
)

st.subheader("A 1-D toy with the exact gradient")
st.markdown(
    "p(z) = N(0, 1), p(x|z) = N(x; z, s²), q = N(μ, σ²). Here the ELBO is known in closed form, so is "
    "its gradient: **∂/∂μ = (x − μ)/s² − μ** and **∂/∂log σ² = −σ²/(2s²) − (σ² − 1)/2**."
)
a, b, c, d = st.columns(4)
toy_x = a.slider("Observed x", -3.0, 3.0, 1.5, 0.1, key="toy_x")
toy_s = b.slider("Likelihood std s", 0.2, 2.0, 0.5, 0.1, key="toy_s")
toy_mu = c.slider("q's mean μ", -3.0, 3.0, 0.0, 0.1, key="toy_mu")
toy_logvar = d.slider("q's log σ²", -4.0, 2.0, 0.0, 0.1, key="toy_logvar")
toy = GaussianToy(toy_x, toy_s)
exact = toy.exact_gradient(toy_mu, toy_logvar)
toy_result = toy.studies(toy_mu, toy_logvar, NS, repeats)
post_mu, post_logvar = (float(t[0]) for t in toy.encode(toy.x_tensor))
with st.container(key="toy_numbers", horizontal=True):
    st.metric("exact ∂ELBO/∂μ", f"{exact[0]:.4f}")
    st.metric("exact ∂ELBO/∂log σ²", f"{exact[1]:.4f}")
    for name, s in toy_result.items():
        st.metric(f"{name} mean ∂/∂μ", f"{s.mean[0]:.4f}", help=f"± {2 * s.sem[0]:.4f} (2 standard errors)")
left, right = st.columns(2)
with left:
    chart_ui(variance_figure(toy_result), key="toy_variance")
with right:
    chart_ui(gradient_means_figure(toy_result, ["∂/∂μ", "∂/∂log σ²"], np.asarray(exact)), key="toy_means")
st.caption(
    f"The exact posterior is N({post_mu:.3f}, {np.exp(post_logvar):.3f}): put μ and log σ² = "
    f"{post_logvar:.2f} there and the exact gradient is zero — yet single samples of either estimator are not."
)
