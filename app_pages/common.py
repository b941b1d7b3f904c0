"""What every page shares: the sidebar that makes the config, the server-wide job registry,
cached datasets, and the "no model yet" state. Not a page itself (``app.py`` lists the pages)."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from vae_core import DATASETS, RunConfig, TrainedModel, make_config
from vae_core.cache import cached_configs, config_key
from vae_core.config import DEFAULT_DATASET, ModelConfig, TrainConfig
from vae_core.data import Dataset, available, fixed_binarization, load_dataset
from vae_core.download import missing_message
from vae_core.figures import tile
from vae_core.jobs import JobRegistry, describe

TRAIN_PAGE = "app_pages/train.py"
BETAS = [round(0.05 * i, 2) for i in range(41)] + [2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
LRS = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]
KLS = {"analytic": "analytic (closed form)", "mc": "Monte-Carlo (sampled)"}


def dataset_defaults(name: str) -> dict:
    """The settings a dataset brings along (its recommended epochs, learning rate, layers)."""
    config = make_config(name)
    return {"epochs": config.train.epochs, "lr": config.train.lr, "hidden": config.model.hidden}


HIDDENS = sorted({(64,), (128,), (64, 64), (128, 128), (512, 512)} | {dataset_defaults(n)["hidden"] for n in DATASETS})
DEFAULTS = {
    "dataset": DEFAULT_DATASET,
    "latent_dim": ModelConfig().latent_dim,
    "beta": TrainConfig().beta,
    "kl": TrainConfig().kl,
    "seed": TrainConfig().seed,
    **dataset_defaults(DEFAULT_DATASET),
}


@st.cache_resource(show_spinner="Loading the dataset…")
def dataset(name: str) -> Dataset:
    return load_dataset(name, download_missing=False)  # the app never downloads


@st.cache_resource(show_spinner=False)
def registry() -> JobRegistry:
    """One registry per server: every browser session sees the same jobs."""
    return JobRegistry()


@st.cache_resource(show_spinner=False)
def test_set(name: str, binarize: bool) -> tuple[torch.Tensor, np.ndarray]:
    """The test images as every reported number sees them, and their labels."""
    data = dataset(name)
    return (fixed_binarization(data.x_test) if binarize else data.x_test), data.y_test.numpy()


def config_from(values: dict) -> RunConfig:
    """The RunConfig for a set of sidebar values."""
    return make_config(values["dataset"], **{k: values[k] for k in DEFAULTS if k != "dataset"})


def values_of(config: RunConfig) -> dict | None:
    """Sidebar values that give back exactly this config, or None if the sidebar can't."""
    m, t = config.model, config.train
    values = dict(dataset=config.dataset, latent_dim=m.latent_dim, beta=t.beta, kl=t.kl, seed=t.seed)
    values.update(epochs=t.epochs, lr=t.lr, hidden=m.hidden)
    fits = t.beta in BETAS and t.lr in LRS and m.hidden in HIDDENS and 1 <= m.latent_dim <= 32
    fits = fits and 1 <= t.epochs <= 500 and 0 <= t.seed <= 9999
    return values if fits and config_from(values) == config else None


def _dataset_changed() -> None:
    st.session_state.update(dataset_defaults(st.session_state.dataset))


def sidebar_ui() -> RunConfig:
    """The shared settings. Keys are stable; values live in session state across pages."""
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)
    names = [n for n in DATASETS if available(n)]
    with st.sidebar:
        st.selectbox(
            "Dataset", names, key="dataset", format_func=lambda n: DATASETS[n].title, on_change=_dataset_changed
        )
        missing = [n for n in DATASETS if n not in names]
        if missing:
            with st.expander(f"📥 How to add {', '.join(missing)}"):
                for name in missing:
                    st.code(missing_message(name), language=None)
        st.slider("Latent dimension", 1, 32, key="latent_dim", help="How many numbers z has per image.")
        st.select_slider("β, the weight of the KL term", BETAS, key="beta", format_func=lambda b: f"{b:g}")
        with st.expander("Advanced"):
            st.number_input("Epochs", 1, 500, key="epochs")
            st.select_slider("Learning rate", LRS, key="lr", format_func=lambda v: f"{v:g}")
            st.selectbox("Hidden layers", HIDDENS, key="hidden", format_func=lambda h: " × ".join(map(str, h)))
            st.radio("KL estimator", list(KLS), key="kl", format_func=KLS.get, horizontal=True)
            st.number_input("Random seed", 0, 9999, key="seed")
        running = registry().running()
        if running:
            st.caption(f"⏳ {len(running)} training run(s) in progress on this server.")
    return config_from({k: st.session_state[k] for k in DEFAULTS})


def apply_config(config: RunConfig) -> None:
    """Set the sidebar to a config (a button callback: runs before the widgets are drawn)."""
    values = values_of(config)
    if values is not None:
        st.session_state.update(values)


def model_id(trained: TrainedModel) -> str:
    """A key for st.cache_data that changes when the weights can have changed."""
    return f"{config_key(trained.config)}:{trained.metrics.get('status')}:{trained.metrics.get('steps_done')}"


def images_ui(x: torch.Tensor | np.ndarray, config: RunConfig, ncols: int, caption: str | None = None, size=56) -> None:
    """Pixel vectors (N, x_dim) as one sharp PNG grid, each image at least ``size`` pixels."""
    pixels = x.detach().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    picture = tile(pixels.reshape(-1, *config.info.image_shape), ncols, min_size=size)
    st.image(picture, caption=caption, output_format="PNG")


def cached_models_ui(config: RunConfig) -> None:
    """A picker of models already in the cache that the sidebar can express."""
    others = [c for c in cached_configs() if c != config and values_of(c) is not None]
    if not others:
        return
    choice = st.selectbox("…or open a model from the cache", others, format_func=describe, key="cached_pick")
    st.button("📂 Open this model", key="open_cached", on_click=apply_config, args=(choice,))


def model_or_stop_ui(config: RunConfig) -> TrainedModel:
    """The model for the sidebar's config; else say what to do and stop the page here."""
    reg = registry()
    trained = reg.trained(config)
    if trained is not None:
        status = trained.metrics.get("status")
        if status != "completed":
            st.warning(f"This model's run {status}: {trained.metrics.get('reason')}. It is shown but not cached.")
        return trained
    job = reg.get(config)
    if job is not None and job.alive:
        wait_for_job_ui(job)
    else:
        st.info("No model has been trained with these settings yet.")
        if st.button("🚀 Train it now", key="train_now", type="primary"):
            reg.start(config, dataset(config.dataset))
            st.switch_page(TRAIN_PAGE)
        st.page_link(TRAIN_PAGE, label="Go to the Train page to watch it learn", icon="🏋️")
        cached_models_ui(config)
    st.stop()


@st.fragment(run_every=1.0)
def wait_for_job_ui(job) -> None:
    snap = job.snapshot()
    st.progress(snap.progress, text=f"⏳ Training these settings: {snap.progress:.0%}. This page fills in when done.")
    if not snap.running:
        st.rerun()
