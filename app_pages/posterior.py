"""Posterior view: the true posterior p(z|x) of one test image, by quadrature on a grid, against
the encoder's Gaussian q(z|x) — now and at the checkpoints the run kept.

    KL(q(z|x) ‖ p(z|x)) = Σ_g q(z_g) log(q(z_g) / p(z_g|x)) · cell = log p(x) − ELBO
(computed in ``vae_core.vae.posterior``, which the ELBO page draws too; here a 2-D latent space).
"""

import streamlit as st
import torch

from app_pages.common import chart_ui, images_ui, model_id, model_or_stop_ui, session_owner, stored_ref, test_set
from vae_core.vae.objectives import gaussian_kl
from vae_core.vae.posterior import PosteriorView, posterior_over_training
from vae_core.views import stored as S
from vae_core.views.estimate_figures import kl_over_training, posterior_figure, posterior_multiples
from vae_core.views.service import view_service
from vae_core.views.wording import posterior_story

config = st.session_state.run_config
D, info = config.model.latent_dim, config.info
st.title("Posterior view")
st.markdown(
    "The encoder proposes a Gaussian **q(z|x)** (red ellipses, 1σ and 2σ). The true posterior "
    "**p(z|x) ∝ p(x|z) p(z)** (blue) is computed here on a fine grid — possible because z has two "
    "dimensions. Their mismatch, **KL(q(z|x) ‖ p(z|x))**, is exactly the gap between log p(x) and the "
    "ELBO: the price of a Gaussian q."
)


def _switch_to_2d() -> None:
    st.session_state.latent_dim = 2  # the sidebar's widget; a callback runs before it is drawn


if D != 2:
    st.warning(
        f"The posterior view needs a **2-D latent space**: the true posterior is computed on a grid over "
        f"the plane. These settings have {D} latent dimension{'s' * (D > 1)}."
    )
    st.button("Switch to a 2-D latent space", key="post_switch", type="primary", on_click=_switch_to_2d)
    st.stop()

trained = model_or_stop_ui(config)
mid = model_id(trained)
x, y = test_set(config.dataset, config.train.binarize)
checkpoints = sorted(trained.checkpoints)
if checkpoints:
    model_at = trained.model_at
else:  # a stopped or live run keeps no checkpoints: only its current weights
    checkpoints = [int(trained.metrics.get("epochs_done") or config.train.epochs)]

    def model_at(epoch: int):
        return trained.model


a, b = st.columns(2)
i = a.number_input("Test image number", 0, len(x) - 1, 0, key="post_image", persist_state="session")
epoch = b.select_slider(
    "Weights after epoch", checkpoints, value=checkpoints[-1], key="post_epoch", persist_state="session"
)


@st.cache_data(show_spinner=False, max_entries=32)
def views(mid: str, i: int, epochs: tuple[int, ...], _model_at, _x) -> dict[int, PosteriorView]:
    """The posterior view of test image i at every checkpoint (a few decoder passes each)."""
    return posterior_over_training(_model_at, epochs, _x[i])


WAIT_SECONDS = 1.0  # for the view on screen, before the page says it is refining
ref = stored_ref(trained, x)
owner = session_owner("posterior")
order = [epoch] + [e for e in checkpoints if e != epoch]  # the one on screen first


def gather() -> tuple[dict[int, PosteriorView], bool]:
    """The views known so far, by epoch, and whether more are coming (from the view worker)."""
    if ref is None:  # a live or stopped run: computed here
        with st.spinner(f"Computing p(z|x) on a grid at {len(checkpoints)} checkpoints…"):
            return views(mid, i, tuple(checkpoints), model_at, x), False
    pieces = [S.posterior(i, S.posterior_epoch(trained, e)) for e in order]  # the last: the ELBO page's
    known = view_service().want(owner, ref, pieces)
    failed = view_service().errors(ref, pieces)
    if failed:
        st.error(f"The posterior could not be computed: {next(iter(failed.values()))}")
    got = {e: known[p.name] for e, p in zip(order, pieces, strict=True) if p.name in known}
    return got, len(got) + len(failed) < len(pieces)


_, pending_now = gather()


def posterior_ui() -> None:
    """This image's views; while checkpoints are still coming, this part alone reruns."""
    all_views, pending = gather()
    if ref is not None and epoch not in all_views and pending:  # due in a moment (a third of a second on MNIST)
        view_service().wait(ref, [S.posterior(i, S.posterior_epoch(trained, epoch))], timeout=WAIT_SECONDS)
        all_views, pending = gather()
    if pending_now and not pending:
        st.rerun()
    if epoch not in all_views:
        st.caption("Refining: computing p(z|x) on a grid for this image…")
        return
    drawn_ui({e: all_views[e] for e in checkpoints if e in all_views}, pending)


def drawn_ui(all_views: dict[int, PosteriorView], pending: bool) -> None:
    view = all_views[epoch]
    kl_prior = float(gaussian_kl(torch.from_numpy(view.mu), torch.from_numpy(view.logvar)).sum())
    with st.container(key="post_numbers", horizontal=True):
        st.metric("KL(q(z|x) ‖ p(z|x))", f"{view.kl:.3f}", help="Σ q log(q/p) · cell, on a grid over q")
        st.metric("log p(x), quadrature", f"{view.log_px:.3f}")
        st.metric("ELBO = log p(x) − KL", f"{view.log_px - view.kl:.3f}")
        st.metric("KL(q(z|x) ‖ p(z))", f"{kl_prior:.3f}", help="the ELBO's penalty term, in closed form")
    st.caption(f"Test image #{i}, weights after epoch {epoch}. All numbers in nats.")

    left, right = st.columns([3, 2])
    with left:
        chart_ui(posterior_figure(list(view.axes), view.density, view.mu, view.logvar), key="posterior_main")
    left.caption("True posterior p(z|x) (blue) under the encoder's q(z|x) (red, 1σ and 2σ).")
    if info.image_shape:
        with right, torch.inference_mode():
            model = model_at(epoch)
            both = torch.stack([x[i], model(x[i][None])[0]])
            images_ui(both, config, 2, "The test image (left) and its reconstruction E[x | z = μ(x)] (right)", 140)
    else:
        right.metric("The test point x", f"({x[i][0]:.2f}, {x[i][1]:.2f})")

    st.subheader("How q(z|x) and p(z|x) changed during training")
    if pending:
        st.caption(f"Refining: {len(all_views)} of {len(checkpoints)} checkpoints so far.")
    chart_ui(posterior_multiples(all_views), key="posterior_multiples")
    done = list(all_views)  # the checkpoints in so far, in order
    kls = [all_views[e].kl for e in done]
    priors = [float(gaussian_kl(torch.from_numpy(v.mu), torch.from_numpy(v.logvar)).sum()) for v in all_views.values()]
    chart_ui(kl_over_training(done, kls, priors), key="posterior_kl_curve")
    st.caption(posterior_story(done, kls, priors))


st.fragment(posterior_ui, run_every=0.5 if pending_now else None)()
