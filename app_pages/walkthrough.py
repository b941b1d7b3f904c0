"""One sample through the VAE, step by step: the recipe of a lecture, each line with its live value
for one test image and one draw of ε (``vae_core.vae.derivation``), and the two SGVB estimators'
spread over 1,000 draws (Kingma & Welling, 2014, eqs. 6 and 7)."""

import numpy as np
import streamlit as st
import torch

from app_pages.codes_chart import codes_chart_ui
from app_pages.common import chart_ui, images_ui, model_id, model_or_stop_ui, page_intro_ui, test_codes, test_set
from vae_core.vae.derivation import one_sample, sgvb_estimates
from vae_core.views.derivation_figures import encoder_bars, sample_plane, sgvb_figure

SPREAD_DRAWS = 1000

config = page_intro_ui(
    "One sample, step by step",
    "Training a VAE repeats one recipe for every image: **encode** x to q(z|x) = N(μ, σ²), **draw** "
    "ε ~ N(0, I), **move** it to z* = μ + σ·ε (the reparameterization: the randomness is in ε, so "
    "gradients flow through μ and σ), **decode** z* to p(x|z*) and **score** it. Below, every line "
    "with its value for one test image; *Draw again* takes a new ε.",
)
D, info = config.model.latent_dim, config.info
trained = model_or_stop_ui(config)
model, mid = trained.model, model_id(trained)
x, y = test_set(config.dataset, config.train.binarize)
a, b = st.columns([1, 3])
i = a.number_input("Test image number", 0, len(x) - 1, 0, key="walk_image", persist_state="session")
draw = st.session_state.setdefault("walk_draw", 0)
b.button("Draw again (a new ε)", key="walk_again", on_click=st.session_state.update, kwargs={"walk_draw": draw + 1})


def pick(row: int) -> None:
    st.session_state.walk_image = row  # the number box's: a callback runs before it is drawn


@st.cache_data(show_spinner=False, max_entries=64)
def walk(mid: str, i: int, draw: int, _model, _x):
    """One sample (draw number ``draw``) and the SGVB spread of test image i; no element drawn here."""
    sample = one_sample(_model, _x[i], torch.Generator().manual_seed(draw))
    return sample, sgvb_estimates(_model, _x[i], SPREAD_DRAWS, torch.Generator().manual_seed(10_000 + i))


s, (est_a, est_b) = walk(mid, i, draw, model, x)
vec = lambda v: "(" + ", ".join(f"{t:+.2f}" for t in v[:6]) + (", …)" if len(v) > 6 else ")")  # noqa: E731
st.subheader(f"Test image #{i}, draw {draw + 1}")
left, right = st.columns([3, 2])
with left, st.container(key="walk_steps"):
    st.markdown(
        f"1. **Encode:** x → μ = {vec(s.mu)}, σ = {vec(s.sigma)}\n"
        f"2. **Draw** ε ~ N(0, I): ε = {vec(s.eps)}\n"
        f"3. **Reparameterize:** z\\* = μ + σ·ε = {vec(s.z)}\n"
        f"4. **log q(z\\*|x)** = {s.log_q:.3f} nats (how likely the encoder found this z\\*)\n"
        f"5. **log p(z\\*)** = {s.log_pz:.3f} nats (the prior N(0, I) at z\\*)\n"
        f"6. **Decode** z\\* → p(x|z\\*); **log p(x|z\\*)** = {s.log_px_z:.3f} nats (the image's likelihood)\n"
        f"7. **ELBO, one sample (A):** log p(x|z\\*) + log p(z\\*) − log q(z\\*|x) = **{s.estimate_a:.3f}** nats\n"
        f"8. **ELBO with the KL in closed form (B):** log p(x|z\\*) − KL(q ‖ p(z)) = "
        f"{s.log_px_z:.3f} − {s.kl:.3f} = **{s.estimate_b:.3f}** nats"
    )
with right:
    if info.image_shape:
        images_ui(np.stack([x[i].numpy(), s.x_mean]), config, 2, "x (left) and p(x|z*)'s Bernoulli means (right)", 112)
    else:
        st.metric("The test point x", f"({x[i][0]:.2f}, {x[i][1]:.2f})")
        st.metric("Decoder mean at z*", f"({s.x_mean[0]:.2f}, {s.x_mean[1]:.2f})")
left, right = st.columns([2, 3])
with left:
    chart_ui(encoder_bars(s), key="walk_bars")
    st.caption("The encoder's μ and σ per latent dimension, the draw ε and the point z* it gives.")
if D == 2:
    with right:
        plane = sample_plane(s, i, test_codes(mid, model, x), y, info.class_names)
        codes_chart_ui(plane, key="walk_plane", on_pick=pick)
        st.caption(
            "z* (red ✕) drawn from q(z|x) (red ellipses, 1σ and 2σ) around μ(x) (ringed: this image's code), "
            "over the test codes. Click a code to take its image; scroll to zoom."
        )

st.subheader(f"Estimators A and B over {SPREAD_DRAWS:,} draws")
with st.container(key="walk_sgvb", horizontal=True):
    st.metric("A: mean", f"{est_a.mean():.3f}", help="log p(x|z) + log p(z) − log q(z|x), all sampled")
    st.metric("A: spread (std)", f"{est_a.std():.3f}")
    st.metric("B: mean", f"{est_b.mean():.3f}", help="log p(x|z) − KL(q ‖ p(z)), the KL in closed form")
    st.metric("B: spread (std)", f"{est_b.std():.3f}")
chart_ui(sgvb_figure(est_a, est_b), key="walk_sgvb_chart")
lower = "B" if est_b.std() < est_a.std() else "A"
st.caption(
    f"Both are unbiased for the same ELBO: their means differ by {abs(est_a.mean() - est_b.mean()):.3f} nats over "
    f"{SPREAD_DRAWS:,} draws. Here {lower} has the smaller spread. B removes the noise of log p(z) − log q(z|x); "
    "but where q(z|x) is close to the true posterior, that noise cancels the noise of log p(x|z) in A "
    "(log w is nearly constant), and A can be the steadier one."
)
