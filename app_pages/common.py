"""What every page shares: the sidebar that makes the config, the server-wide job registry,
cached datasets and test codes, the "no model yet" state, the one button that starts a run (it
asks the room's rules), images, and the one chart helper (every chart goes through
``chart_ui``, so every chart has its export button). Not a page itself (``app.py`` lists the
pages; ``url.py`` holds the shareable URL and presenter mode, ``settings.py`` the sliders' stops
and defaults, ``room.py`` the lecturer's code, the runs panel and the cache problems note)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import streamlit as st
import torch

from app_pages.room import lecturer_ui, room, seat
from app_pages.settings import (
    BETAS,
    DEFAULTS,
    HIDDENS,
    KL_ESTIMATORS,
    LRS,
    RANGES,
    config_from,
    dataset_defaults,
    values_of,
)
from app_pages.url import presenter_scale, share_ui
from vae_core import DATASETS, RunConfig, TrainedModel
from vae_core.data import Dataset, DatasetError, load_dataset
from vae_core.data.download import dataset_problem
from vae_core.store.cache import config_key, default_cache_root, usable
from vae_core.store.inventory import CacheScan, scan_cache
from vae_core.store.jobs import JobRegistry, TrainingJob
from vae_core.store.pool import pool_from_env
from vae_core.vae.binarize import fixed_binarization
from vae_core.vae.evaluate import encode_dataset
from vae_core.views.arrays import tile
from vae_core.views.service import ModelRef, model_ref, view_service
from vae_core.views.stored import Piece
from vae_core.views.style import enlarged
from vae_core.views.wording import collapse_warning, describe_apart, queue_text

TRAIN_PAGE = "app_pages/train.py"
# Sidebar widgets keep their values when they go unseen for a run: st.switch_page (the "Train it
# now" button) starts the next page without the browser's widget states.
KEEP = {"persist_state": "session"}


@st.cache_resource(show_spinner="Loading the dataset…")
def dataset(name: str) -> Dataset:
    return load_dataset(name, download_missing=False)  # the app never downloads


@st.cache_resource(show_spinner=False)
def registry() -> JobRegistry:
    """One registry per server: every browser session sees the same jobs, and one training queue
    (worker processes, ``--workers``; or a Ray cluster, ``--ray``) takes every run."""
    return JobRegistry(pool=pool_from_env())


def builds_wait_for_training() -> None:
    """The stored views' background build holds while a run trains on this machine's cores: the
    run after a run is not slowed by its predecessor's build (a 10-epoch MNIST run's training loop
    took 17–19 s beside it against 13 s). Runs on a Ray cluster use other machines' cores."""
    pool = registry().pool
    if pool.backend.local:
        view_service().hold_builds(lambda: pool.counts()[0] > 0)


@st.cache_resource(show_spinner=False)
def test_set(name: str, binarize: bool) -> tuple[torch.Tensor, np.ndarray]:
    """The test images as every reported number sees them, and their labels."""
    data = dataset(name)
    return (fixed_binarization(data.x_test) if binarize else data.x_test), data.y_test.numpy()


def _dataset_changed() -> None:
    st.session_state.update(dataset_defaults(st.session_state.dataset))


def sidebar_ui() -> RunConfig:
    """The shared settings. Keys are stable; values live in session state across pages."""
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)
    problems = {n: dataset_problem(n) for n in DATASETS}
    names = [n for n in DATASETS if problems[n] is None]
    with st.sidebar:
        st.selectbox(
            "Dataset", names, key="dataset", format_func=lambda n: DATASETS[n].title, on_change=_dataset_changed, **KEEP
        )
        unavailable = [n for n in DATASETS if n not in names]
        if unavailable:
            with st.expander(f"Not available here: {', '.join(unavailable)}", icon=":material/download:"):
                for name in unavailable:  # greyed out: the reason, and the files to put or replace
                    st.caption(f"{DATASETS[name].title} — not offered")
                    st.code(problems[name], language=None)
        latent_help = {"help": "How many numbers z has per image.", **KEEP}
        st.slider("Latent dimension", *RANGES["latent_dim"], key="latent_dim", **latent_help)
        st.select_slider("β, the weight of the KL term", BETAS, key="beta", format_func=lambda b: f"{b:g}", **KEEP)
        with st.expander("Advanced"):
            st.number_input("Epochs", *RANGES["epochs"], key="epochs", **KEEP)
            st.select_slider("Learning rate", LRS, key="lr", format_func=lambda v: f"{v:g}", **KEEP)
            st.selectbox("Hidden layers", HIDDENS, key="hidden", format_func=lambda h: " × ".join(map(str, h)), **KEEP)
            kl_names = {"format_func": KL_ESTIMATORS.get, "horizontal": True, **KEEP}
            st.radio("KL estimator", list(KL_ESTIMATORS), key="kl_estimator", **kl_names)
            st.number_input("Random seed", *RANGES["seed"], key="seed", **KEEP)
        config = config_from({k: st.session_state[k] for k in DEFAULTS})
        cache_status_ui(config)
        lecturer_ui(registry(), cache_scan().problems)
    return config


def page_intro_ui(title: str, text: str) -> RunConfig:
    """A page's title and its lesson in a few sentences; returns the sidebar's config."""
    st.title(title)
    st.markdown(text)
    return st.session_state.run_config


SIDEBAR_SAW_TRAINED = "_sidebar_saw_trained"  # what the sidebar's status line said, for a page drawn after it


def cache_status_ui(config: RunConfig) -> None:
    """Whether this config's model opens instantly, and which β stops of this latent dimension do.
    The first answer is the pages' own (the registry's full read, which moves a damaged entry
    aside), the others the store's cheap check: the sidebar and the page agree."""
    trained = registry().trained(config)
    values = values_of(config) or {k: st.session_state[k] for k in DEFAULTS}
    cached = [b for b in BETAS if usable(config_from({**values, "beta": b}))]
    st.session_state[SIDEBAR_SAW_TRAINED] = done = trained is not None and trained.metrics.get("status") == "completed"
    if done:
        saved = "in memory only (not saved)" if trained.save_error else "opens instantly"
        here = f":material/check_circle: trained, {saved}"
    else:
        here = ":material/circle: not trained yet"
    others = ", ".join(f"{b:g}" for b in cached) or "none yet (python -m vae_core zoo trains a grid)"
    st.caption(f"{here}. Cached β for latent dimension {values['latent_dim']}: {others}.")


def cache_scan() -> CacheScan:
    """What the cache holds that this server can open, and what is wrong with the rest; read again
    only when the cache folder changes (an entry written or moved aside) or a dataset does."""
    root = default_cache_root()
    try:
        stamp = root.stat().st_mtime_ns
    except OSError:
        stamp = 0
    return _scan(str(root), stamp, tuple(n for n in DATASETS if dataset_problem(n) is None))


@st.cache_data(show_spinner=False, max_entries=4)
def _scan(root: str, stamp: int, datasets: tuple[str, ...]) -> CacheScan:
    return scan_cache(root, datasets)


def view_ui(page) -> None:
    """Sidebar: presenter mode, the figure download format, the link to this view."""
    with st.sidebar, st.expander("Present, share and export", icon=":material/co_present:"):
        st.toggle("Presenter mode (large type, no sidebar)", key="presenter", **KEEP)
        formats = {"format_func": FIGURE_FORMATS.get, **KEEP}
        st.radio("A chart's camera button saves it as", list(FIGURE_FORMATS), key="figure_format", **formats)
        st.toggle("Show the latent pad's decode timings", key="pad_timings", **KEEP)
        share_ui(page)


def apply_config(config: RunConfig) -> None:
    """Set the sidebar to a config (a button callback: runs before the widgets are drawn); never
    half of one: a config whose dataset is not offered here is left alone."""
    values = values_of(config)
    if values is not None and dataset_problem(config.dataset) is None:
        st.session_state.update(values)


def model_id(trained: TrainedModel) -> str:
    """A key for st.cache_data that changes when the weights can have changed."""
    return f"{config_key(trained.config)}:{trained.metrics.get('status')}:{trained.metrics.get('steps_done')}"


def images_ui(x: torch.Tensor | np.ndarray, config: RunConfig, ncols: int, caption: str | None = None, size=56) -> None:
    """Pixel vectors (N, x_dim) as one sharp PNG grid, each image at least ``size`` pixels (larger
    in presenter mode)."""
    pixels = x.detach().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    picture = tile(pixels.reshape(-1, *config.info.image_shape), ncols, min_size=round(size * presenter_scale()))
    st.image(picture, caption=caption, output_format="PNG")


def cached_models_ui(config: RunConfig) -> None:
    """A picker of models already in the cache that the sidebar can express."""
    others = [c for c in cache_scan().configs if c != config and values_of(c) is not None]
    if not others:
        return
    labels = describe_apart(others)
    choice = st.selectbox("…or open a model from the cache", others, format_func=labels.get, key="cached_pick")
    st.button(
        "Open this model", key="open_cached", on_click=apply_config, args=(choice,), icon=":material/folder_open:"
    )


def model_owned_state_ui(config: RunConfig, keys: tuple[str, ...]) -> None:
    """Session-state ``keys`` (picks, slider positions) belong to the model they were set on: when
    the sidebar opens another model, put them away, bring back that model's own, and say so."""
    owner, key = st.session_state.get("state_owner"), config_key(config)
    st.session_state.state_owner = key
    if owner is None or owner == key:  # the first model a session sees keeps its link's values
        return
    kept = st.session_state.setdefault("state_of_model", {})
    kept[owner] = {k: st.session_state[k] for k in keys if st.session_state.get(k) is not None}
    for k in keys:
        st.session_state.pop(k, None)
    st.session_state.update(kept.get(key, {}))
    again = "are where you left them on it" if key in kept else "start afresh"
    st.info(f"Another model: its sliders and picked image {again} (each model keeps its own).", icon=":material/info:")


def model_or_stop_ui(config: RunConfig) -> TrainedModel:
    """The model for the sidebar's config; else say what to do and stop the page here."""
    reg = registry()
    job = reg.get(config)
    alive = job is not None and job.alive  # looked at first: a run that ends after this has its model below
    trained = reg.trained(config)
    if trained is not None:
        status = trained.metrics.get("status")
        if status != "completed":
            st.warning(f"This model's run {status}: {trained.metrics.get('reason')}. It is shown but not cached.")
        return trained
    if alive:
        wait_for_job_ui(job)
    else:
        st.info("No model has been trained with these settings yet.")
        if start_button_ui(config, "Train it now", key="train_now", type="primary", icon=":material/rocket_launch:"):
            st.switch_page(TRAIN_PAGE)
        st.page_link(TRAIN_PAGE, label="Go to the Train page to watch it learn", icon=":material/model_training:")
        cached_models_ui(config)
    st.stop()


def start_button_ui(config: RunConfig, label: str, key: str, disabled: bool = False, start=None, **kwargs) -> bool:
    """The one button that starts a run: greyed out, with the reason, where the room's rules say
    this session may not (the lecturer's code, the limit per session). True once it started one.
    ``start()`` starts something else on the config's dataset (a β sweep) instead."""
    reason = room().why_not_start(seat())
    pressed = st.button(label, key=key, disabled=disabled or bool(reason), help=reason or None, **kwargs)
    if reason and not disabled:
        st.caption(f":material/lock: {reason}")
    if not pressed or reason:
        return False
    try:
        dataset(config.dataset)  # its files are checked here, once per server (the pages draw from it)
        if start is not None:  # e.g. a β sweep, which trains its members together
            start()
        else:
            registry().start(config)
    except DatasetError as e:  # its files broke after the sidebar offered it
        st.error(f"{config.dataset} cannot be loaded here; nothing was started.", icon=":material/block:")
        st.code(str(e), language=None)
        return False
    room().started(seat())
    return True


def collapse_warning_ui(trained: TrainedModel) -> None:
    """The posterior-collapse warning, on every page that draws a model's codes."""
    m = trained.metrics
    text = collapse_warning(int(m.get("active_units", 0)), trained.config.model.latent_dim)
    if text and m.get("epochs_done"):
        st.warning(text, icon=":material/warning:")


@st.fragment(run_every=1.0)
def wait_for_job_ui(job: TrainingJob, text: str = "Training these settings") -> None:
    """A progress bar that polls a running job and reruns the page once the job has ended."""
    snap = job.snapshot()
    if snap.status == "waiting":
        text = f"{text}: {snap.message}"
    elif snap.status == "queued":
        text = f"These settings are {queue_text(snap.ahead, snap.wait)}"
    st.progress(snap.progress, text=f"{text}: {snap.progress:.0%}. This fills in when done.")
    if not snap.running:
        st.rerun()


# -- charts with an export button -----------------------------------------------------------------
FIGURE_FORMATS = {"png": "PNG (picture)", "svg": "SVG (vector, for slides and papers)"}


def chart_ui(fig, key: str, **kwargs):
    """st.plotly_chart whose camera button saves the figure as PNG or SVG (the sidebar's choice);
    ``kwargs`` go to st.plotly_chart (``on_select=...``). The only caller of st.plotly_chart."""
    fmt = st.session_state.get("figure_format", "png")
    config = {"displaylogo": False, "toImageButtonOptions": {"format": fmt, "filename": key, "scale": 2}}
    if st.session_state.get("presenter"):
        enlarged(fig, presenter_scale())
    return st.plotly_chart(fig, key=key, config=config, **kwargs)


def stored_ref(trained: TrainedModel, x: torch.Tensor) -> ModelRef | None:
    """The model's reference for the view service, having asked it to build the stored views the
    model lacks (in the background, behind every page's own requests); None where the model is
    not a completed cached one (its page computes its views itself)."""
    ref = model_ref(trained)
    if ref is not None and os.environ.get("VAE_LAB_BUILD_VIEWS", "1") != "0":  # 0: only what pages ask for
        view_service().build(ref, trained, len(x))
    return ref


def one_piece_ui(
    ref: ModelRef | None,
    view: str,
    piece: Piece,
    fresh: Callable[[], Any],
    drawn_ui: Callable[[Any], None],
    *,
    refining: str,
    failure: str,
    wait: float = 1.0,
) -> None:
    """The part of a page that shows one view piece (``view`` names it for this session): stored,
    or from the view worker, waited for up to ``wait`` seconds, else a "Refining: …" caption
    while this part alone polls until it lands (then the page is drawn once more, no longer
    polling); ``fresh()`` computes it here for a live or stopped run (``ref`` None). A failed
    piece says ``failure`` and why, and is not polled for."""
    owner = session_owner(view)

    def known(wait: float) -> Any:
        if ref is None:
            return fresh()
        values = view_service().want(owner, ref, [piece])
        if piece.name not in values and wait and view_service().wait(ref, [piece], timeout=wait):
            values = view_service().known(ref, [piece])
        return values.get(piece.name)

    def failed() -> dict[str, str]:
        return {} if ref is None else view_service().errors(ref, [piece])

    pending_now = known(wait) is None and not failed()

    def part() -> None:
        value = known(0)
        if value is None:
            errors = failed()
            if errors:
                st.error(f"{failure}: {next(iter(errors.values()))}")
            else:
                st.caption(f"Refining: {refining}")
            return
        if pending_now:
            st.rerun()  # in: the whole page once more, no longer polling
        drawn_ui(value)

    st.fragment(part, run_every=0.5 if pending_now else None)()


def session_owner(view: str) -> str:
    """Who asks the view service for pieces: this browser session's view (a new request of the
    same owner replaces its old one)."""
    if "view_owner" not in st.session_state:
        st.session_state.view_owner = uuid.uuid4().hex[:12]
    return f"{st.session_state.view_owner}:{view}"


@st.cache_data(show_spinner=False, max_entries=16)
def test_codes(mid: str, _model, _x) -> np.ndarray:
    """The test set's posterior means, (N, D), cached per model id ``mid``."""
    return encode_dataset(_model, _x)[0].numpy()
