"""β sweep: the sidebar's setting at seven β, trained together, as points on the rate-distortion
plane (Alemi et al., 2018). Cached members (the zoo's grid) are drawn at once; the rest train in
one job, in the server's training queue like any run, while the page polls it.
A click on a point opens that run on the Train page."""

import streamlit as st

from app_pages.common import TRAIN_PAGE, apply_config, chart_ui, registry, start_button_ui
from vae_core import RunConfig
from vae_core.store.cache import default_cache_root
from vae_core.store.jobs import SweepJob
from vae_core.store.sweeps import MemberView, SweepSnapshot, cached_members, sweep_configs
from vae_core.views.rate_distortion import rate_distortion, rate_distortion_figure
from vae_core.views.wording import queue_text

POLL_SECONDS = 1.0


@st.cache_data(show_spinner=False, max_entries=8)
def cached_now(_configs: list[RunConfig], keys: tuple[str, ...], stamp: int) -> list[MemberView]:
    return cached_members(_configs)  # read again when the cache folder changes (``stamp``)


config = st.session_state.run_config
configs = sweep_configs(config)
if st.session_state.pop("sweep_open", False):  # a point was clicked: its β is in the sidebar now
    st.switch_page(TRAIN_PAGE)
st.title("β sweep: the rate–distortion plane")
st.markdown(
    "Each point is one model of these settings, trained with a different weight β on the KL term. "
    "Across: the **distortion** D (how many nats the reconstruction misses by), up: the **rate** R "
    "(how many nats the code carries about the image, the KL). The ELBO is −(D + R): on a dotted line "
    "every model has the same ELBO. A small β buys reconstruction with rate, a large β squeezes the "
    "code. **Click a point** to open that run."
)
job: SweepJob | None = registry().sweep(configs)
running = job is not None and job.alive


def members_now() -> list[MemberView]:
    """Each β's latest view: the job's where it has trained epochs, else the cache's."""
    try:
        stamp = default_cache_root().stat().st_mtime_ns
    except OSError:
        stamp = 0
    keys = tuple(c.to_json() for c in configs)
    cached = {m.beta: m for m in cached_now(configs, keys, stamp)}
    live = {m.beta: m for m in job.snapshot().members if m.epochs} if job is not None else {}
    return [live.get(c.train.beta) or cached.get(c.train.beta) for c in configs if c.train.beta in {**cached, **live}]


def open_member() -> None:
    """A click on the plane: the member's β into the sidebar, then to its Train page."""
    points = [p for p in st.session_state.rd_plane.selection.points if "customdata" in p]
    if points:
        apply_config(configs[int(points[0]["customdata"][0])])
        st.session_state.sweep_open = True


def sweep_state_ui(snap: SweepSnapshot) -> None:
    """Where the sweep job stands: in line, starting, training, or why it ended without its β."""
    if snap.status == "queued":
        st.info(f"This sweep is {queue_text(snap.ahead, snap.wait)}.", icon=":material/hourglass_top:")
    elif snap.status == "starting":
        st.progress(0.0, text=f"starting a training worker for the {len(configs)} β…")
    elif snap.running:
        st.progress(snap.progress, text=f"training {len(configs)} β together · {snap.seconds:.1f} s")
    elif snap.status == "failed":
        st.error(f"The sweep failed: {snap.message}")
    elif snap.status == "stopped":
        st.warning("The sweep was stopped: the β it was training were not cached.", icon=":material/stop:")


def plane_view(polling: bool) -> None:
    if st.session_state.get("sweep_open"):
        st.rerun()  # a click reruns this fragment only: the sidebar and the page switch need the app
    snap = job.snapshot() if job is not None else None
    if polling and snap is not None and not snap.running:
        st.rerun()  # the sweep just ended: redraw once, without polling
    if snap is not None:
        sweep_state_ui(snap)
    members = members_now()
    fig = rate_distortion_figure([(m.beta, m.epochs, m.status) for m in members], picked=config.train.beta)
    chart_ui(fig, key="rd_plane", on_select=open_member, selection_mode="points")
    rows = []
    for m in members:
        d, r = rate_distortion(m.epochs)
        rows.append({"β": m.beta, "D (nats)": d[-1], "R (nats)": r[-1], "ELBO (nats)": -(d[-1] + r[-1])})
        rows[-1].update({"active units": m.epochs[-1].active_units, "epochs": len(m.epochs), "status": m.status})
    if rows:
        st.dataframe(rows, hide_index=True)


missing = len(configs) - sum(m.status in ("cached", "completed") for m in members_now())
left, right = st.columns([2, 1], vertical_alignment="center")
with left:
    label = f"Train the {missing} missing β together" if missing else "Every β of this sweep is trained"
    label = "Training the missing β together…" if running else label
    start = {"type": "primary", "icon": ":material/play_arrow:", "disabled": running or not missing}
    if start_button_ui(config, label, key="start_sweep", start=lambda: registry().start_sweep(configs), **start):
        st.rerun()
if right.button("Stop the sweep", key="stop_sweep", disabled=not running, icon=":material/stop:"):
    job.stop()
st.caption(
    f"β ∈ {{{', '.join(f'{c.train.beta:g}' for c in configs)}}} of this setting (the zoo's grid: "
    "`python -m vae_core zoo` trains it ahead of a lecture). One data pass drives all of them: their "
    "layers are stacked and run as one batched matrix product per layer. Each finished β is an "
    "ordinary cached model of its own settings."
)
st.fragment(run_every=POLL_SECONDS if running else None)(plane_view)(running)
