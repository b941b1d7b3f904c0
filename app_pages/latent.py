"""Latent space: where the test images land, what each point of z decodes to, and what the
model draws from its prior."""

import numpy as np
import streamlit as st
import torch

from app_pages.codes_chart import codes_chart_ui
from app_pages.common import (
    chart_ui,
    collapse_warning_ui,
    images_ui,
    model_id,
    model_or_stop_ui,
    model_owned_state_ui,
    session_owner,
    stored_ref,
    test_codes,
    test_set,
)
from app_pages.latent_pad import STEP, latent_pad_ui, place_sliders
from app_pages.url import write_url
from vae_core.views import stored as S
from vae_core.views.arrays import as_images, decode_at, interpolate, manifold, manifold_codes, prior_samples
from vae_core.views.latent_figures import codes_payload, data_space_figure, latent_limit, manifold_figure
from vae_core.views.projection import project
from vae_core.views.service import view_service

OWN = ("picked", "z1", "z2", "dim_a", "dim_b", "held", "held_image", "interp_from", "interp_to")  # per model

config = st.session_state.run_config
D, info = config.model.latent_dim, config.info
st.title("Latent space")
trained = model_or_stop_ui(config)
model_owned_state_ui(config, OWN)
collapse_warning_ui(trained)
model, mid = trained.model, model_id(trained)
x, y = test_set(config.dataset, config.train.binarize)


@st.cache_data(show_spinner="Projecting the codes to 2-D…", max_entries=16)
def projection(mid: str, method: str, _mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return project(_mu, method)


mu = test_codes(mid, model, x)
dims, base = [0, 1][: min(D, 2)], torch.zeros(D)
if D > 2:
    a, b, c = st.columns(3)
    busiest = [int(d) for d in np.argsort(-mu.var(0))[:2]]  # the two dims the codes spread most in
    for key, d in zip(("dim_a", "dim_b"), busiest, strict=True):
        if st.session_state.get(key) not in range(D):
            st.session_state[key] = d
    fmt = {"format_func": lambda d: f"z{d + 1}", "persist_state": "session"}
    dims = [a.selectbox("Slider z₁ moves dimension", range(D), key="dim_a", **fmt)]
    dims.append(b.selectbox("Slider z₂ moves dimension", range(D), key="dim_b", **fmt))
    held = c.radio("Other dimensions held at", ["zero", "a test image's code"], key="held", persist_state="session")
    if held != "zero":
        i = c.number_input("Test image number", 0, len(x) - 1, key="held_image", persist_state="session")
        base = torch.from_numpy(mu[i]).float()
bound = latent_limit(mu[:, dims])  # the prior's ±3 at least: a collapsed model shows as a dot
# a new model can have a smaller range than the stored slider value (or the link's)
place_sliders([st.session_state.get(key, 0.0) for key in ("z1", "z2")], bound)


def pick(row: int) -> None:
    """A click on a code (of test-set row ``row``): show that image, move the sliders to its code."""
    if 0 <= row < len(x):
        st.session_state.picked = row
        place_sliders(mu[row, dims], bound)


@st.fragment
def explorer_ui() -> None:
    """The part a slider move reruns: the sliders and the pad (it decodes in the browser), or
    the server's decoded image where there is no pad (one latent dimension)."""
    left, right = st.columns([3, 2])
    pad = len(dims) == 2
    with right:
        values = [st.slider("z₁", -bound, bound, step=STEP, key="z1", persist_state="session")]
        if pad:
            values.append(st.slider("z₂", -bound, bound, step=STEP, key="z2", persist_state="session"))
        decoded = decode_at(model, base, dims, values) if not (pad and info.image_shape) else None
        with st.container(key="decoded"):
            if decoded is not None and info.image_shape:
                images_ui(decoded, config, 1, f"E[x | z] at the slider (z{dims[0] + 1} = {values[0]:+.2f})", 210)
            elif decoded is not None:
                st.metric("Decoded point E[x | z]", f"({decoded[0]:.2f}, {decoded[1]:.2f})")
    with left:
        if pad:
            st.markdown("**Latent pad** — move the pointer over the plane (or focus it and use the arrow keys).")
            points = None if info.image_shape else x.numpy()
            latent_pad_ui(model, mid, config, (mu, y, points), dims, base, bound, values)
        else:
            st.caption("The latent pad needs two latent dimensions; the slider decodes z₁ on the server.")
    if not info.image_shape:
        chart_ui(data_space_figure(x.numpy(), y, samples(16 * 64), point=tuple(decoded.tolist())), key="latent_data")
    write_url()  # a fragment rerun skips app.py: keep z1/z2 in the address bar here


def scatter_ui() -> None:
    """The codes as a clickable chart (outside the fragment: a slider move does not redraw it)."""
    left, right = st.columns([3, 2])
    picked = st.session_state.get("picked")
    picked = picked if picked is not None and picked < len(x) else None
    jitter = y + np.random.default_rng(0).uniform(-0.3, 0.3, len(y))
    sy = mu[:, dims[1]] if len(dims) == 2 else jitter
    titles = (f"z{dims[0] + 1}", f"z{dims[1] + 1}" if len(dims) == 2 else "label (jittered)")
    two = len(dims) == 2
    payload = codes_payload(
        mu[:, dims[0]],
        sy,
        y,
        info.class_names,
        picked=picked,
        titles=titles,
        lim=bound,
        prior=two,
        one_d=not two,
    )
    with left:
        codes_chart_ui(payload, "latent_scatter", on_pick=pick)
    left.caption(
        "Test images at their posterior means μ(x), on the prior's scale (dotted: its 1, 2 and 3σ circles). "
        "Click a point to show that image and move the sliders there; click a label to show that class alone. "
        "Scroll to zoom, drag to pan, double-click for the whole plane."
    )
    if picked is not None and info.image_shape:
        with right, torch.inference_mode():
            both = torch.stack([x[picked], model(x[picked][None])[0]])
            images_ui(both, config, 2, f"Test image #{picked}: original (left) and reconstruction (right)", 112)


def samples(n: int) -> np.ndarray:
    return prior_samples(model, n, seed=st.session_state.get("sample_seed", 0)).numpy()


def manifold_ui() -> None:
    n = st.slider("Grid size", 5, 25, 12, key="grid_n", persist_state="session")
    images = as_images(manifold(model, n, dims, base), info.image_shape)
    names = [f"z{d + 1}" for d in dims]
    chart_ui(manifold_figure(images, manifold_codes(n, len(dims)).numpy(), names), key="manifold", width="content")
    st.caption(f"Decoded over the prior's quantiles in {' and '.join(names)}: hover a tile for its z.")


def interpolation_ui() -> None:
    a, b, c = st.columns(3)
    i = a.number_input("From test image", 0, len(x) - 1, 0, key="interp_from", persist_state="session")
    j = b.number_input("To test image", 0, len(x) - 1, 1, key="interp_to", persist_state="session")
    n = c.slider("Steps", 3, 16, 10, key="interp_steps", persist_state="session")
    strip = torch.cat([x[i][None], interpolate(model, x[i], x[j], n), x[j][None]])
    images_ui(strip, config, n + 2, "Original, decoded points on the straight line between their codes, original")


def prior_ui() -> None:
    n = st.slider("How many samples", 8, 64, 32, step=8, key="n_samples", persist_state="session")
    if st.button("Draw new samples", key="resample", icon=":material/casino:"):
        st.session_state.sample_seed = st.session_state.get("sample_seed", 0) + 1
    images_ui(samples(n), config, 16, "E[x | z] for z drawn from the prior N(0, I)")


explorer_ui()
scatter_ui()


def projected(method: str) -> tuple[np.ndarray, np.ndarray] | None:
    """PCA here (instant); t-SNE from the model's stored views or the view worker (None: on its way)."""
    ref = stored_ref(trained, x) if method == "t-SNE" else None
    if ref is None:
        return projection(mid, method, mu)
    piece = S.projection(method)
    got = view_service().want(session_owner("latent"), ref, [piece]).get(piece.name)
    failed = view_service().errors(ref, [piece])
    if failed:
        st.error(f"The t-SNE could not be computed: {failed[piece.name]}")
        return projection(mid, method, mu)
    return got


def projection_ui(method: str, polling: bool) -> None:
    result = projected(method)
    if result is None:
        st.caption("Refining: t-SNE of the codes is being computed (it is kept with the model).")
        return
    if polling:
        st.rerun()
    idx, xy = result
    lim = latent_limit(xy) if method == "PCA" else None  # a rotation of the codes: the prior's scale still holds
    titles = (f"{method} 1", f"{method} 2")
    payload = codes_payload(xy[:, 0], xy[:, 1], y[idx], info.class_names, rows=idx, titles=titles, lim=lim)
    codes_chart_ui(payload, "projection_chart")  # hover names a code; a pick is the z-plane's


if D > 2:
    method = st.radio("A 2-D view of all codes", ["PCA", "t-SNE"], key="projection", horizontal=True)
    waiting = projected(method) is None
    st.fragment(projection_ui, run_every=0.5 if waiting else None)(method, waiting)
if info.image_shape:
    st.subheader("The decoder's map of the latent space")
    manifold_ui()
    st.subheader("Interpolation between two test images")
    interpolation_ui()
    st.subheader("Samples from the prior")
    prior_ui()
