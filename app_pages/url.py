"""The shareable URL and presenter mode: every view is a link.

``?dataset=mnist&latent_dim=2&beta=4`` (plus any advanced setting that differs from the
dataset's default, the latent page's slider positions, and ``presenter=1``) reproduces a view.
The page is the URL path (``/latent?…``); ``?page=latent`` is accepted too. A value that does
not parse is reported and left at its default, never raised.
"""

from __future__ import annotations

import streamlit as st

from app_pages.settings import BETAS, DEFAULTS, HIDDENS, KL_ESTIMATORS, LRS, RANGES, Z_RANGE, dataset_defaults
from vae_core import DATASETS
from vae_core.data import available

PAGE_KEYS = {"latent": ("z1", "z2")}  # page (URL path) -> its widget keys that travel in the URL


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
    "latent_dim": (_int_in(*RANGES["latent_dim"]), str),
    "beta": (_one_of(BETAS), lambda v: f"{v:g}"),
    "epochs": (_int_in(*RANGES["epochs"]), str),
    "lr": (_one_of(LRS), lambda v: f"{v:g}"),
    "hidden": (_one_of(HIDDENS, fmt=lambda h: "x".join(map(str, h)), parse=_hidden), lambda h: "x".join(map(str, h))),
    "kl_estimator": (_one_of(list(KL_ESTIMATORS), fmt=str, parse=str), str),
    "seed": (_int_in(*RANGES["seed"]), str),
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
    """What the link had wrong. The values are shown as literal text (st.text), never as Markdown:
    ``?dataset=[click here](https://…)`` must not become a live link, nor ``![t](http://…)`` an
    image that every viewer's browser fetches."""
    problems = st.session_state.get("url_problems")
    if problems:
        st.warning("The link had values this app can't use; they are at their defaults:")
        st.text("\n".join(f"• {p}" for p in problems))
        st.button("OK", key="url_problems_ok", on_click=st.session_state.update, kwargs={"url_problems": []})


PRESENTER_CSS = """<style>
html { font-size: 22px; }
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stMainMenu"],
[data-testid="stToolbarActions"], [data-testid="stDecoration"], .modebar-container { display: none !important; }
.block-container { max-width: 100%; padding-top: 4.5rem; }
</style>"""


PRESENTER_SCALE = 1.75  # images, the latent pad, markers and charts in presenter mode


def presenter_scale() -> float:
    """How much larger what a class must see is drawn: PRESENTER_SCALE in presenter mode, else 1."""
    return PRESENTER_SCALE if st.session_state.get("presenter") else 1.0


def presenter_ui() -> None:
    """Presenter mode: large type, the settings sidebar and chart toolbars hidden, pages on top."""
    if st.session_state.get("presenter"):
        st.html(PRESENTER_CSS)
        st.button(
            "Leave presenter mode",
            key="presenter_off",
            icon=":material/close:",
            on_click=st.session_state.update,
            kwargs={"presenter": False},
        )


def share_ui(page) -> None:
    """The link to this view, ready to copy."""
    base = (st.context.url or "").split("?")[0].rsplit("/", 1)[0] if st.context.url else ""
    query = "&".join(f"{k}={v}" for k, v in url_of(st.session_state.to_dict(), page_name(page)).items())
    st.markdown(":material/link: **Link to this view** (the address bar holds the same)")
    st.code(f"{base}/{page.url_path}?{query}", language=None)
