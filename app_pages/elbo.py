"""ELBO vs log p(x): how far below the log-likelihood the training objective sits, and why.

log p(x) = ELBO + KL(q(z|x) ‖ p(z|x)),    E[L_k] rises with k towards log p(x)  (Burda et al., 2016)
"""

import numpy as np
import streamlit as st
import torch

from app_pages.common import chart_ui, images_ui, model_id, model_or_stop_ui, page_intro_ui, test_set
from vae_core.vae.evaluate import estimate_curve
from vae_core.vae.objectives import elbo_terms, log_px_quadrature_with_error
from vae_core.vae.posterior import posterior_view
from vae_core.views.estimate_figures import log_k_figure, posterior_figure
from vae_core.views.export import estimates_csv

KS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000]
SET_SIZES = [20, 50, 100, 200, 500]

config = page_intro_ui(
    "ELBO vs log p(x)",
    "The ELBO is a lower bound: **log p(x) = ELBO + KL(q(z|x) ‖ p(z|x))**. Importance sampling with "
    "k draws from q tightens it (L₁ is an ELBO sample, L_k → log p(x)); the gap that k closes is the "
    "KL between the encoder's q(z|x) and the true posterior. Drawing z from the prior instead is the "
    "naive estimate: unbiased in p(x), but it almost never hits the z that explain x.",
)
D = config.model.latent_dim
trained = model_or_stop_ui(config)
model, mid = trained.model, model_id(trained)
x, y = test_set(config.dataset, config.train.binarize)

a, b = st.columns(2)
scope = a.radio("Look at", ["one test image", "a test-set average"], key="elbo_scope", persist_state="session")
repeats = b.slider("Repeats of each estimate (its spread)", 2, 20, 5, key="elbo_repeats", persist_state="session")
if scope == "one test image":
    i = a.number_input("Test image number", 0, len(x) - 1, 0, key="elbo_image", persist_state="session")
    rows = slice(i, i + 1)
    if config.info.image_shape:
        images_ui(x[i], config, 1, f"Test image #{i} ({config.info.class_names[y[i]]})", 112)
else:
    sizes = [n for n in SET_SIZES if n < len(x)] + [len(x)]
    n = a.select_slider("Test images in the average", sizes, value=sizes[1], key="elbo_n", persist_state="session")
    rows = slice(0, n)


SEEDS = {"importance": 0, "prior": 1000}  # repeat r of an estimator draws with seed SEEDS[...] + r


# No element is drawn inside a cached function: a cached result is replayed in every other
# session, and an element made outside it (a progress bar) does not exist there.
@st.cache_data(show_spinner=False, max_entries=64)
def elbo_numbers(mid: str, rows: tuple[int, int], _model, _x) -> dict:
    """The ELBO's terms (analytic and Monte-Carlo KL) and the quadrature for x[rows], nats per example."""
    xs = _x[rows[0] : rows[1]]
    g = torch.Generator().manual_seed(0)
    samples = 1000 if len(xs) == 1 else 100  # z draws per example for the ELBO terms
    with torch.inference_mode():
        analytic = elbo_terms(_model, xs, kl_estimator="analytic", n_samples=samples, generator=g)
        mc = elbo_terms(_model, xs, kl_estimator="mc", n_samples=samples, generator=g)
    out = {
        "recon": analytic.recon.mean().item(),
        "kl": analytic.kl.mean().item(),
        "kl_mc": mc.kl.mean().item(),
        "elbo": analytic.elbo.mean().item(),
        "elbo_mc": mc.elbo.mean().item(),
        "quadrature": None,
    }
    if D <= 2:
        value, error = log_px_quadrature_with_error(_model, xs)
        out["quadrature"], out["quadrature_error"] = value.mean().item(), error.mean().item()
    return out


@st.cache_data(show_spinner=False, max_entries=512)
def curve(mid: str, rows: tuple[int, int], sampler: str, r: int, _model, _x) -> np.ndarray:
    """Repeat r of one estimator's mean over x[rows], for each k in KS: (len(KS),)."""
    xs = _x[rows[0] : rows[1]]
    return estimate_curve(_model, xs, KS, 1, sampler=sampler, seed=SEEDS[sampler] + r)[:, 0]


def estimates_ui(rows: tuple[int, int], repeats: int) -> dict:
    """Every number on this page, piece by piece, with a progress bar between the pieces."""
    bar = st.progress(0.0, text="Estimating log p(x)…")
    out = elbo_numbers(mid, rows, model, x)
    pieces = [(sampler, r) for sampler in SEEDS for r in range(repeats)]
    curves: dict[str, list[np.ndarray]] = {sampler: [] for sampler in SEEDS}
    for done, (sampler, r) in enumerate(pieces, 1):
        curves[sampler].append(curve(mid, rows, sampler, r, model, x))
        bar.progress(done / len(pieces), text="Estimating log p(x)…")
    bar.empty()
    return {**out, **{sampler: np.stack(c, 1) for sampler, c in curves.items()}}  # (K, repeats) each


result = estimates_ui((rows.start, rows.stop), repeats)

best = result["importance"][-1]  # the k = 5000 estimates over the repeats
log_px = result["quadrature"] if result["quadrature"] is not None else best.mean()
with st.container(key="elbo_numbers", horizontal=True):
    st.metric("Reconstruction E_q[log p(x|z)]", f"{result['recon']:.3f}")
    st.metric("KL(q ‖ p(z)), analytic", f"{result['kl']:.3f}", help=f"Monte-Carlo: {result['kl_mc']:.3f}")
    st.metric("ELBO (analytic KL)", f"{result['elbo']:.3f}")
    st.metric("ELBO (Monte-Carlo KL)", f"{result['elbo_mc']:.3f}")
    spread = f"repeats span {best.min():.3f} … {best.max():.3f}"
    st.metric(f"log p(x), importance k={KS[-1]}", f"{best.mean():.3f}", help=spread)
    st.metric(f"naive prior estimate k={KS[-1]}", f"{result['prior'][-1].mean():.3f}")
    if result["quadrature"] is not None:
        st.metric("log p(x), quadrature", f"{result['quadrature']:.3f}", help="exact up to the grid")
    gap = f"{log_px - result['elbo']:.3f}"
    if result["quadrature"] is not None:
        st.metric("gap = KL(q(z|x) ‖ p(z|x))", gap)
    else:  # L_k ≤ log p(x): measured from L_k, the gap is a lower bound on the KL
        st.metric(f"gap L_{KS[-1]} − ELBO ≤ KL(q(z|x) ‖ p(z|x))", gap, help="a lower bound on that KL")
st.caption(
    "All numbers in nats per example, the ELBO with analytic KL. "
    + (
        "The gap uses the quadrature value as log p(x): it is KL(q(z|x) ‖ p(z|x))."
        if result["quadrature"] is not None
        else f"Without quadrature (it needs D ≤ 2) the gap is measured from L_{KS[-1]}, which is below log p(x): "
        "it is a lower bound on KL(q(z|x) ‖ p(z|x)), the true gap."
    )
)

show_posterior = scope == "one test image" and D <= 2
left, right = st.columns([3, 2]) if show_posterior else (st.container(), None)
fig = log_k_figure(
    KS, result["importance"], elbo=result["elbo"], prior=result["prior"], quadrature=result["quadrature"]
)
with left:
    chart_ui(fig, key="log_k_chart")
    table = estimates_csv(KS, {"importance": result["importance"], "prior": result["prior"]})
    st.download_button(
        "These estimates (CSV)",
        table,
        "log-px-estimates.csv",
        "text/csv",
        key="dl_estimates",
        on_click="ignore",
        icon=":material/download:",
    )
if show_posterior:
    with right, torch.inference_mode():
        view = posterior_view(model, x[i])  # the Posterior page draws the same function
        chart_ui(posterior_figure(list(view.axes), view.density, view.mu, view.logvar), key="posterior_chart")
        st.caption("True posterior p(z|x) (blue) under the encoder's q(z|x) (red, 1σ and 2σ).")
elif D > 2:
    st.info(f"With {D} latent dimensions there is no exact reference; the best estimate is L_{KS[-1]}.")
