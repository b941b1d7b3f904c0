"""What every page shares: the sidebar that makes the config, the server-wide job registry,
cached datasets, the "no model yet" state, the shareable URL and presenter mode, and charts
with an export button. Not a page itself (``app.py`` lists the pages)."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from vae_core import DATASETS, RunConfig, TrainedModel, make_config
from vae_core.cache import cached_configs, config_key, entry_dir
from vae_core.config import DEFAULT_DATASET, ModelConfig, TrainConfig
from vae_core.data import Dataset, available, fixed_binarization, load_dataset
from vae_core.download import missing_message
from vae_core.evaluate import encode_dataset
from vae_core.figures import tile
from vae_core.jobs import JobRegistry, describe

TRAIN_PAGE = "app_pages/train.py"
BETAS = [round(0.05 * i, 2) for i in range(41)] + [2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
KLS = {"analytic": "analytic (closed form)", "mc": "Monte-Carlo (sampled)"}


def dataset_defaults(name: str) -> dict:
    """The settings a dataset brings along (its recommended epochs, learning rate, layers)."""
    config = make_config(name)
    return {"epochs": config.train.epochs, "lr": config.train.lr, "hidden": config.model.hidden}


# Every dataset's own defaults are stops of these sliders, or its default config would snap to another.
HIDDENS = sorted({(64,), (128,), (64, 64), (128, 128), (512, 512)} | {dataset_defaults(n)["hidden"] for n in DATASETS})
LRS = sorted({1e-4, 3e-4, 1e-3, 3e-3, 1e-2} | {dataset_defaults(n)["lr"] for n in DATASETS})
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
        cache_status_ui()
        running = registry().running()
        if running:
            st.caption(f"⏳ {len(running)} training run(s) in progress on this server.")
    return config_from({k: st.session_state[k] for k in DEFAULTS})


def cache_status_ui() -> None:
    """Which β stops of this latent dimension open instantly (their model is in the cache)."""
    values = {k: st.session_state[k] for k in DEFAULTS}
    cached = [b for b in BETAS if entry_dir(config_from({**values, "beta": b})).is_dir()]
    here = "✅ trained: opens instantly" if values["beta"] in cached else "⚪ not trained yet"
    others = ", ".join(f"{b:g}" for b in cached) or "none yet (python -m vae_core zoo trains a grid)"
    st.caption(f"{here}. Cached β for latent dimension {values['latent_dim']}: {others}.")


def view_ui(page) -> None:
    """Sidebar: presenter mode, the figure download format, the link to this view."""
    with st.sidebar, st.expander("🎤 Present, share and export"):
        st.toggle("Presenter mode (large type, no sidebar)", key="presenter")
        st.radio("📷 on a chart saves it as", list(FIGURE_FORMATS), format_func=FIGURE_FORMATS.get, key="figure_format")
        share_ui(page)


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


# -- the shareable URL and presenter mode ---------------------------------------------------------
# ``?dataset=mnist&latent_dim=2&beta=4`` (plus any advanced setting that differs from the
# dataset's default, the latent page's slider positions, and ``presenter=1``) reproduces a view.
# The page is the URL path (``/latent?…``); ``?page=latent`` is accepted too. A value that does
# not parse is reported and left at its default, never raised.

PAGE_KEYS = {"latent": ("z1", "z2")}  # page (URL path) -> its widget keys that travel in the URL
Z_RANGE = 10.0


def _int_in(lo: int, hi: int):
    def parse(text: str) -> int:
        value = int(text)
        if not lo <= value <= hi:
            raise ValueError(f"must be a whole number from {lo} to {hi}")
        return value

    return parse


def _one_of(options: list, fmt=lambda v: f"{v:g}", parse=float):
    def parse_one(text: str):
        value = parse(text)
        if value not in options:
            raise ValueError(f"must be one of {', '.join(fmt(o) for o in options)}")
        return value

    return parse_one


def _flag(text: str) -> bool:
    if text not in ("0", "1", "true", "false"):
        raise ValueError("must be 1 or 0")
    return text in ("1", "true")


def _z(text: str) -> float:
    value = float(text)
    if not -Z_RANGE <= value <= Z_RANGE:
        raise ValueError(f"must be a number from {-Z_RANGE:g} to {Z_RANGE:g}")
    return value


def _hidden(text: str) -> tuple[int, ...]:
    return tuple(int(h) for h in text.replace("×", "x").split("x"))


URL_FORMATS = {  # key -> (parse, format); parse raises ValueError with the reason
    "dataset": (str, str),
    "latent_dim": (_int_in(1, 32), str),
    "beta": (_one_of(BETAS), lambda v: f"{v:g}"),
    "epochs": (_int_in(1, 500), str),
    "lr": (_one_of(LRS), lambda v: f"{v:g}"),
    "hidden": (_one_of(HIDDENS, fmt=lambda h: "x".join(map(str, h)), parse=_hidden), lambda h: "x".join(map(str, h))),
    "kl": (_one_of(list(KLS), fmt=str, parse=str), str),
    "seed": (_int_in(0, 9999), str),
    "z1": (_z, lambda v: f"{v:g}"),
    "z2": (_z, lambda v: f"{v:g}"),
    "presenter": (_flag, lambda b: "1" if b else "0"),
}


def parse_url(params: dict[str, str], datasets: list[str]) -> tuple[dict, list[str]]:
    """Query parameters -> (session-state values, what was wrong). Unknown keys are ignored."""
    values, problems = {}, []
    name = params.get("dataset")
    if name is not None and name not in datasets:
        problems.append(f"dataset={name} is not available here (choose one of {', '.join(datasets)})")
    elif name is not None:
        values.update(dataset=name, **dataset_defaults(name))
    for key, (parse, _) in URL_FORMATS.items():
        if key == "dataset" or key not in params:
            continue
        text = params[key]
        try:
            values[key] = parse(text.strip())
        except ValueError as e:
            reason = str(e) if str(e).startswith("must") else "must be a number"
            problems.append(f"{key}={text} {reason}")
    return values, problems


def url_of(state: dict, page: str) -> dict[str, str]:
    """The query parameters for a view: always dataset, latent_dim, beta; the rest when not default."""
    defaults = {**DEFAULTS, **dataset_defaults(state["dataset"])}
    keys = ["dataset", "latent_dim", "beta"] + [k for k in DEFAULTS if k not in ("dataset", "latent_dim", "beta")]
    out = {k: URL_FORMATS[k][1](state[k]) for k in keys if k in state and (k in keys[:3] or state[k] != defaults[k])}
    out.update({k: URL_FORMATS[k][1](state[k]) for k in PAGE_KEYS.get(page, ()) if state.get(k) is not None})
    if state.get("presenter"):
        out["presenter"] = "1"
    return out


def page_name(page) -> str:
    return page.url_path or "train"


def read_url_once() -> None:
    """On a session's first run: the URL's values into session state (before any widget)."""
    if st.session_state.get("url_read"):
        return
    st.session_state.url_read = True
    params = {k: st.query_params.get(k) for k in st.query_params}
    values, problems = parse_url(params, [n for n in DATASETS if available(n)])
    st.session_state.update(values)
    st.session_state.url_page = params.get("page")
    st.session_state.url_problems = problems


def go_to_url_page(pages: list, page) -> None:
    """Honour ``?page=NAME`` once (the URL path already chose the page otherwise)."""
    wanted = st.session_state.pop("url_page", None)
    if wanted is None or wanted == page_name(page):
        return
    target = next((p for p in pages if page_name(p) == wanted), None)
    if target is None:
        names = ", ".join(page_name(p) for p in pages)
        st.session_state.url_problems.append(f"page={wanted} is not a page (choose one of {names})")
    else:
        st.switch_page(target)


def write_url(page=None) -> None:
    """Keep the address bar equal to the view, so that copying it shares it. A fragment that
    moves a slider named in PAGE_KEYS calls ``write_url()`` itself (app.py does not rerun)."""
    if page is not None:
        st.session_state.url_page_name = page_name(page)
    wanted = url_of(st.session_state.to_dict(), st.session_state.get("url_page_name", "train"))
    if {k: st.query_params.get(k) for k in st.query_params} != wanted:
        st.query_params.from_dict(wanted)


def url_problems_ui() -> None:
    problems = st.session_state.get("url_problems")
    if problems:
        st.warning("The link had values this app can't use; they are at their defaults:\n- " + "\n- ".join(problems))
        st.button("OK", key="url_problems_ok", on_click=st.session_state.update, kwargs={"url_problems": []})


PRESENTER_CSS = """<style>
html { font-size: 22px; }
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stMainMenu"],
[data-testid="stToolbarActions"], [data-testid="stDecoration"], .modebar-container { display: none !important; }
.block-container { max-width: 100%; padding-top: 4.5rem; }
</style>"""


def presenter_ui() -> None:
    """Presenter mode: large type, the settings sidebar and chart toolbars hidden, pages on top."""
    if st.session_state.get("presenter"):
        st.html(PRESENTER_CSS)
        st.button(
            "✖ Leave presenter mode", key="presenter_off", on_click=st.session_state.update, kwargs={"presenter": False}
        )


def share_ui(page) -> None:
    """The link to this view, ready to copy."""
    base = (st.context.url or "").split("?")[0].rsplit("/", 1)[0] if st.context.url else ""
    query = "&".join(f"{k}={v}" for k, v in url_of(st.session_state.to_dict(), page_name(page)).items())
    st.markdown("🔗 **Link to this view** (the address bar holds the same)")
    st.code(f"{base}/{page.url_path}?{query}", language=None)


# -- charts with an export button -----------------------------------------------------------------
FIGURE_FORMATS = {"png": "PNG (picture)", "svg": "SVG (vector, for slides and papers)"}


def chart_ui(fig, key: str, **kwargs):
    """st.plotly_chart whose 📷 button saves the figure as PNG or SVG (the sidebar's choice)."""
    fmt = st.session_state.get("figure_format", "png")
    config = {"displaylogo": False, "toImageButtonOptions": {"format": fmt, "filename": key, "scale": 2}}
    if st.session_state.get("presenter"):
        fig.update_layout(font_size=18)
    return st.plotly_chart(fig, key=key, config=config, **kwargs)


@st.cache_data(show_spinner=False, max_entries=16)
def test_codes(mid: str, _model, _x) -> np.ndarray:
    """The test set's posterior means, (N, D), cached per model id ``mid``."""
    return encode_dataset(_model, _x)[0].numpy()
