"""ELBO vs log p(x): how far below the log-likelihood the training objective sits, and why.

log p(x) = ELBO + KL(q(z|x) ‖ p(z|x)),    E[L_k] rises with k towards log p(x)  (Burda et al., 2016)
"""

import numpy as np
import streamlit as st

from app_pages.common import (
    chart_ui,
    images_ui,
    model_id,
    model_or_stop_ui,
    page_intro_ui,
    session_owner,
    stored_ref,
    test_set,
)
from vae_core.vae.evaluate import KS
from vae_core.views import stored as S
from vae_core.views.estimate_figures import log_k_figure, posterior_figure
from vae_core.views.export import estimates_csv
from vae_core.views.service import view_service

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


@st.cache_data(show_spinner=False, max_entries=1024)
def computed_here(mid: str, piece: S.Piece, _trained, _x):
    """A piece of a model that is not in the cache (a live or stopped run), computed on this thread."""
    return S.compute(_trained, _x, piece)


def gather(rows: tuple[int, int], repeats: int) -> tuple[dict, bool]:
    """Every piece this view wants, as far as it is known: (values by name, whether more is coming).

    The ELBO's terms and, for one image, L_1 … L_100 are cheap: computed here at once. The rest
    comes from the model's stored views or from the server's view worker, which computes what
    is missing off this thread (a new image drops the old image's queued pieces)."""
    one = rows[1] - rows[0] == 1
    cheap = [S.numbers(rows)] + ([c for c in S.curve_pieces(rows, repeats) if c.ks == S.STAGES[0]] if one else [])
    rest = [c for c in S.curve_pieces(rows, repeats) if c not in cheap]
    if D <= 2 and one:  # its log p(x) is the quadrature value: the window over p(z|x)'s mass, after L_5000's first
        rest.insert(min(len(rest), (len(S.STAGES) - 1) * len(S.SEEDS)), S.posterior(rows[0], None))
    elif D <= 2:  # one grid for all the images
        rest.append(S.quadrature(rows))
    if ref is None:  # not a cached model: everything here, with a bar
        bar = st.progress(0.0, text="Estimating log p(x)…")
        values = {}
        for done, piece in enumerate(cheap + rest, 1):
            values[piece.name] = computed_here(mid, piece, trained, x)
            bar.progress(done / len(cheap + rest), text="Estimating log p(x)…")
        bar.empty()
        return values, False
    service = view_service()
    values = {**service.known(ref, cheap), **service.want(owner, ref, rest)}
    for piece in cheap:
        if piece.name not in values:
            values[piece.name] = S.compute(trained, x, piece)
            service.put(ref, piece, values[piece.name])
    failed = service.errors(ref, rest)
    if failed:
        st.error(f"Some estimates could not be computed: {next(iter(failed.values()))}")
    return values, any(p.name not in values and p.name not in failed for p in rest)


def assemble(values: dict, rows: tuple[int, int], repeats: int) -> dict:
    """The page's numbers from the pieces known so far; curves (k, repeat) with NaN where unknown."""
    out = dict(values[S.numbers(rows).name])
    post = values.get(S.posterior(rows[0], None).name) if rows[1] - rows[0] == 1 else None
    q = values.get(S.quadrature(rows).name)
    out["quadrature"] = post.log_px if post is not None else q["quadrature"] if q else None
    out["quadrature_pending"] = D <= 2 and out["quadrature"] is None
    for sampler in S.SEEDS:
        table = np.full((len(KS), repeats), np.nan)
        for r in range(repeats):
            for ks in S.STAGES:
                piece = values.get(S.curve(rows, sampler, r, ks).name)
                if piece is not None:
                    table[[KS.index(k) for k in ks], r] = piece
        out[sampler] = table
    out["posterior"] = values.get(S.posterior(rows[0], None).name)
    return out


rows_ = (rows.start, rows.stop)
ref = stored_ref(trained, x)
owner = session_owner("elbo")
_, pending_now = gather(rows_, repeats)


def estimates_ui() -> None:
    """The numbers and charts; while pieces are still coming, this part alone reruns to draw them."""
    values, pending = gather(rows_, repeats)
    if pending_now and not pending:  # the last piece landed: once more without polling
        st.rerun()
    numbers_ui(assemble(values, rows_, repeats), pending)


def numbers_ui(result: dict, pending: bool) -> None:
    shown = ~np.isnan(result["importance"]).all(1)  # the k with at least one repeat in
    ks = [k for k, s in zip(KS, shown, strict=True) if s]
    importance, prior = result["importance"][shown], result["prior"][~np.isnan(result["prior"]).all(1)]
    if not ks:  # the terms are in; L_k is on its way
        with st.container(key="elbo_numbers", horizontal=True):
            terms_ui(result)
        st.caption("Refining the estimates: L_k is being computed (it is drawn as it lands).")
        return
    best = importance[-1][~np.isnan(importance[-1])]  # the largest k's estimates so far
    k_best = ks[-1]
    quadrature = result["quadrature"]
    log_px = quadrature if quadrature is not None else best.mean()
    with st.container(key="elbo_numbers", horizontal=True):
        terms_ui(result)
        spread = f"{len(best)} repeat{'s' * (len(best) > 1)} span {best.min():.3f} … {best.max():.3f}"
        st.metric(f"log p(x), importance k={k_best}", f"{best.mean():.3f}", help=spread)
        if len(prior):
            st.metric(f"naive prior estimate k={ks[len(prior) - 1]}", f"{np.nanmean(prior[-1]):.3f}")
        if quadrature is not None:
            st.metric("log p(x), quadrature", f"{quadrature:.3f}", help="exact up to the grid")
        gap = f"{log_px - result['elbo']:.3f}"
        if quadrature is not None:
            st.metric("gap = KL(q(z|x) ‖ p(z|x))", gap)
        elif not result["quadrature_pending"]:  # L_k ≤ log p(x): from L_k, the gap is a lower bound on the KL
            st.metric(f"gap L_{k_best} − ELBO ≤ KL(q(z|x) ‖ p(z|x))", gap, help="a lower bound on that KL")
    captions_ui(result, k_best, pending)
    charts_ui(result, ks, importance, prior, pending)


def captions_ui(result: dict, k_best: int, pending: bool) -> None:
    quadrature = result["quadrature"]
    if pending:
        missing = int(np.isnan(result["importance"]).sum() + np.isnan(result["prior"]).sum())
        st.caption(
            f"Refining the estimates: L_k up to k = {k_best} so far; {missing} more estimates"
            + (" and the quadrature" if result["quadrature_pending"] else "")
            + " on the way (they are drawn as they land)."
        )
    st.caption(
        "All numbers in nats per example, the ELBO with analytic KL. "
        + (
            "The gap uses the quadrature value as log p(x): it is KL(q(z|x) ‖ p(z|x))."
            if quadrature is not None
            else f"Without quadrature (it needs D ≤ 2) the gap is measured from L_{k_best}, which is below "
            "log p(x): it is a lower bound on KL(q(z|x) ‖ p(z|x)), the true gap."
            if not result["quadrature_pending"]
            else "The quadrature value of log p(x) is being computed."
        )
    )


def terms_ui(result: dict) -> None:
    st.metric("Reconstruction E_q[log p(x|z)]", f"{result['recon']:.3f}")
    st.metric("KL(q ‖ p(z)), analytic", f"{result['kl']:.3f}", help=f"Monte-Carlo: {result['kl_mc']:.3f}")
    st.metric("ELBO (analytic KL)", f"{result['elbo']:.3f}")
    st.metric("ELBO (Monte-Carlo KL)", f"{result['elbo_mc']:.3f}")


def charts_ui(result: dict, ks: list[int], importance: np.ndarray, prior: np.ndarray, pending: bool) -> None:
    show_posterior = scope == "one test image" and D <= 2
    left, right = st.columns([3, 2]) if show_posterior else (st.container(), None)
    both = len(prior) == len(ks)
    fig = log_k_figure(
        ks, importance, elbo=result["elbo"], prior=prior if both else None, quadrature=result["quadrature"]
    )
    with left:
        chart_ui(fig, key="log_k_chart")
        if not pending:
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
        view = result["posterior"]  # the Posterior page draws the same function
        with right:
            if view is None:
                st.caption("Computing the true posterior p(z|x) on a grid…")
            else:
                chart_ui(posterior_figure(list(view.axes), view.density, view.mu, view.logvar), key="posterior_chart")
                st.caption("True posterior p(z|x) (blue) under the encoder's q(z|x) (red, 1σ and 2σ).")
    elif D > 2:
        st.info(f"With {D} latent dimensions there is no exact reference; the best estimate is L_{ks[-1]}.")


st.fragment(estimates_ui, run_every=0.5 if pending_now else None)()
