"""Compare two runs side by side (e.g. β = 1 against β = 4): test curves overlaid, then the
latent codes and the decoder's traversals of each latent dimension, next to each other."""

import dataclasses

import numpy as np
import streamlit as st

from app_pages.codes_chart import codes_chart_ui
from app_pages.common import (
    cache_scan,
    chart_ui,
    collapse_warning_ui,
    images_ui,
    model_id,
    page_intro_ui,
    registry,
    start_button_ui,
    test_codes,
    test_set,
    wait_for_job_ui,
)
from vae_core import RunConfig, TrainedModel
from vae_core.views.arrays import prior_samples, traversals
from vae_core.views.latent_figures import codes_payload, data_space_figure, latent_limit
from vae_core.views.projection import project
from vae_core.views.training_figures import compare_curves
from vae_core.views.wording import describe_apart

STEPS = 9  # images per traversal row
MAX_ROWS = 6  # traversal rows: the most active latent dimensions

config = page_intro_ui(
    "Compare two runs",
    "Pick two trained runs — by default the sidebar's settings at **β = 1** and **β = 4**. A larger β "
    "buys a simpler, more prior-like code with a worse reconstruction; here both are side by side.",
)


def with_beta(c: RunConfig, beta: float) -> RunConfig:
    return dataclasses.replace(c, train=dataclasses.replace(c.train, beta=beta))


defaults = [with_beta(config, 1.0), with_beta(config, 4.0)]
options = list(dict.fromkeys([*defaults, config, *cache_scan().configs]))
labels = describe_apart(options)  # unique: two runs that read alike get the details that differ
cols = st.columns(2)
picked = [
    col.selectbox(f"Run {name}", options, index=k, format_func=labels.get, key=f"cmp_{name.lower()}")
    for k, (col, name) in enumerate(zip(cols, "AB", strict=True))
]


def short(a: RunConfig, b: RunConfig) -> str:
    """What sets run a apart from run b, e.g. "β 4"."""
    theirs = set(labels[b].split(", "))
    return ", ".join(p for p in labels[a].split(", ") if p not in theirs) or labels[a]


def model_or_offer_ui(c: RunConfig, side: str) -> TrainedModel | None:
    trained = registry().trained(c)
    if trained is not None:
        return trained
    job = registry().get(c)
    if job is not None and job.alive:
        wait_for_job_ui(job, f"Training run {side}")
    elif start_button_ui(
        c, f"Train run {side}", key=f"cmp_train_{side.lower()}", type="primary", icon=":material/rocket_launch:"
    ):
        st.rerun()
    else:
        st.info("Not trained yet.")
    return None


@st.cache_data(show_spinner=False, max_entries=16)
def codes_2d(key: str, _trained: TrainedModel, _x) -> np.ndarray:
    """Test codes in 2-D: the latent itself, or a PCA of it (1-D: z against the label)."""
    mu = test_codes(key, _trained.model, _x)
    if mu.shape[1] == 2:
        return mu
    return project(mu, "PCA")[1] if mu.shape[1] > 2 else np.c_[mu[:, 0], np.zeros(len(mu))]


names = {s: f"{s}: {short(c, other)}" for s, c, other in (("A", *picked), ("B", *picked[::-1]))}
models = {}
for col, side, c in zip(cols, "AB", picked, strict=True):
    with col:
        models[side] = model_or_offer_ui(c, side)
        if models[side] is not None:
            m = models[side].metrics
            with st.container(key=f"cmp_numbers_{side.lower()}", horizontal=True):
                st.metric("Test ELBO", f"{m['test_elbo']:.2f}")
                st.metric("Reconstruction", f"{m['test_recon']:.2f}")
                st.metric("KL", f"{m['test_kl']:.2f}")
                st.metric("Active units", f"{m['active_units']} of {c.model.latent_dim}")
            collapse_warning_ui(models[side])
if not all(models.values()):
    st.stop()

runs = {names[s]: models[s].history.get("epochs", []) for s in "AB"}
chart_ui(compare_curves(runs), key="cmp_curves")
xys = {}
for side, c in zip("AB", picked, strict=True):
    x, y = test_set(c.dataset, c.train.binarize)
    xys[side] = codes_2d(model_id(models[side]), models[side], x)  # the config's hash: words are no key
lim = latent_limit(*xys.values())  # one scale, the prior's at least: collapse shows
cols = st.columns(2)
for col, side, c in zip(cols, "AB", picked, strict=True):
    trained, info, xy, d = models[side], c.info, xys[side], c.model.latent_dim
    x, y = test_set(c.dataset, c.train.binarize)
    titles = ("z1", "z2") if d == 2 else (("PCA 1", "PCA 2") if d > 2 else ("z1", "—"))
    payload = codes_payload(
        xy[:, 0],
        xy[:, 1],
        y,
        info.class_names,
        titles=titles,
        lim=lim,
        prior=d == 2,
        height=380,
    )
    with col:
        codes_chart_ui(payload, f"cmp_scatter_{side.lower()}")
    if info.image_shape:
        kl = np.asarray(trained.history["epochs"][-1]["kl_per_dim"]) if trained.history.get("epochs") else np.ones(d)
        dims = [int(k) for k in np.argsort(-kl)[:MAX_ROWS]]
        with col:
            grid = traversals(trained.model, dims, STEPS)
            rows = ", z".join(str(k + 1) for k in dims)
            images_ui(grid, c, STEPS, f"Run {side}: the rows move z{rows} in turn, from −1.6 to +1.6", 44)
    else:
        samples = prior_samples(trained.model, 1000, seed=0).numpy()
        with col:
            chart_ui(data_space_figure(x.numpy(), y, samples, height=300), key=f"cmp_data_{side.lower()}")
st.caption(
    "Traversals: one latent dimension at a time over the prior's quantiles, the others at 0; "
    "the most-used dimensions (largest KL) first."
)
