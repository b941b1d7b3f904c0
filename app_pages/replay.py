"""Replay training: scrub (or play) through the run's saved moments and watch the latent space
form again — the test codes, the decoder's map and the curves' cursor, all at that moment."""

import numpy as np
import streamlit as st

from app_pages.codes_chart import codes_chart_ui
from app_pages.common import chart_ui, collapse_warning_ui, model_id, model_or_stop_ui, test_set
from vae_core.store.jobs import JobSnapshot
from vae_core.store.replay import replay_of
from vae_core.vae.snapshots import GRID, manifold_codes
from vae_core.views.latent_figures import codes_payload, latent_limit, manifold_figure
from vae_core.views.training_figures import training_curves, with_cursor

FRAME_SECONDS = 0.3  # one saved moment per poll while playing

config = st.session_state.run_config
st.title("Replay training")
st.markdown(
    "A run keeps about forty moments of its training. Drag the slider, or press **Play**, to watch the "
    "test images' codes spread out from the prior's centre into classes, the decoder's map learn to draw, "
    "and the cursor on the curves say where in the run that was."
)
trained = model_or_stop_ui(config)
collapse_warning_ui(trained)


@st.cache_data(show_spinner=False, max_entries=4)
def replay(mid: str, _trained) -> dict | str:
    """The snapshots as numpy arrays, or why there are none."""
    snaps = replay_of(_trained)
    return snaps if isinstance(snaps, str) else {k: v.numpy() if hasattr(v, "numpy") else v for k, v in snaps.items()}


mid = model_id(trained)
snaps = replay(mid, trained)
if isinstance(snaps, str):
    st.info(f"Replay isn't available for this model: {snaps}.", icon=":material/history_toggle_off:")
    st.stop()
steps, codes = snaps["steps"], snaps["codes"].astype(np.float32)  # (S,), (S, N, D)
history = JobSnapshot.from_trained(trained)
_, y = test_set(config.dataset, config.train.binarize)
y = y[: codes.shape[1]]
lim, D = latent_limit(codes.reshape(-1, codes.shape[2])), codes.shape[2]
last = len(steps) - 1
st.session_state.setdefault("replay_frame", last)


def play() -> None:
    if st.session_state.replay_frame >= last:
        st.session_state.replay_frame = 0  # from the start again
    st.session_state.replay_playing = True


play_col, pause_col, _ = st.columns([1, 1, 6])
play_col.button("Play", key="replay_play", on_click=play, icon=":material/play_arrow:")
pause_col.button(
    "Pause", key="replay_pause", on_click=lambda: st.session_state.update(replay_playing=False), icon=":material/pause:"
)
playing = st.session_state.get("replay_playing", False)


def moment_view() -> None:
    if st.session_state.get("replay_playing"):
        if st.session_state.replay_frame >= last:
            st.session_state.replay_playing = False
            st.rerun()  # the end: stop polling
        st.session_state.replay_frame += 1
    i = st.select_slider(
        "Moment of training", range(len(steps)), key="replay_frame", format_func=lambda f: f"step {steps[f]}"
    )
    left, right = st.columns([3, 2])
    sy = codes[i, :, 1] if D == 2 else y + np.random.default_rng(0).uniform(-0.3, 0.3, len(y))
    titles = ("z1", "z2" if D == 2 else "label (jittered)")
    payload = codes_payload(
        codes[i, :, 0],
        sy,
        y,
        config.info.class_names,
        lim=lim,
        prior=D == 2,
        one_d=D == 1,
        titles=titles,
        view_id=mid,  # one chart for the whole run: a zoom or a class shown alone stays while it plays
    )
    with left:
        st.markdown(f"**Test codes μ(x) at step {steps[i]}**")
        codes_chart_ui(payload, key="replay_scatter")
    if "images" in snaps:
        images = snaps["images"][i].reshape(-1, *config.info.image_shape) / 255.0
        names = ["z1", "z2"][:D]
        with right:
            fig = manifold_figure(images, manifold_codes(GRID, D).numpy(), names)
            chart_ui(fig, key="replay_manifold", width="content")
            st.caption(f"The decoder's map at step {steps[i]}, over the prior's quantiles.")
    if history.steps:
        chart_ui(with_cursor(training_curves(history.steps, history.epochs), int(steps[i])), key="replay_curves")


st.fragment(run_every=FRAME_SECONDS if playing else None)(moment_view)()
