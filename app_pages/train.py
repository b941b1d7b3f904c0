"""Train: start or stop a run of the sidebar's settings and watch it learn.

The run is a background job shared by every browser on this server; this page only polls its
snapshot, and only while it runs: progress, metrics and curves every second, the model views
every three. While it runs its charts are the canvas of ``live_chart`` (Streamlit 1.67 mounts a
plotly chart anew whose figure changed: a third of a 2-core machine that also trains the run,
bench/README.md "Session 8"); once it has ended they are plotly's, drawn once.
"""

import streamlit as st
import torch

from app_pages.codes_chart import codes_chart_ui
from app_pages.common import (
    SIDEBAR_SAW_TRAINED,
    cached_models_ui,
    chart_ui,
    images_ui,
    registry,
    start_button_ui,
    stored_ref,
    test_set,
)
from app_pages.live_chart import live_chart_ui
from app_pages.room import room, seat
from app_pages.settings import BETAS
from vae_core.store.jobs import KEPT, JobSnapshot
from vae_core.vae.evaluate import encode_dataset
from vae_core.vae.train import EpochInfo
from vae_core.views.arrays import prior_samples
from vae_core.views.export import codes_csv, epochs_csv, model_bytes, model_file_name
from vae_core.views.latent_figures import codes_payload, data_space_figure, latent_limit
from vae_core.views.live import beta_payload, curves_payload, kl_payload, live_model_views
from vae_core.views.training_figures import beta_schedule_figure, kl_bars, training_curves
from vae_core.views.wording import (
    collapse_warning,
    describe,
    describe_optimiser,
    first_run_text,
    queue_text,
    schedule_text,
)

POLL_SECONDS = 1.0  # progress, metrics and curves
MODEL_POLL_SECONDS = 3.0  # KL per dimension, reconstructions and the scatter: heavier (in the browser too)
N_SHOWN = 10  # test images in the originals-vs-reconstructions grid

config = st.session_state.run_config
reg = registry()
job = reg.get(config)
running = job is not None and job.alive  # looked at first: a run that ends after this has its model below
trained = reg.trained(config)

st.title("Train")
st.markdown(
    "A **variational autoencoder** learns to squeeze each image into a few numbers z (the encoder) and "
    "to draw the image back from them (the decoder), while keeping the codes close to a standard normal "
    "N(0, I), so that any z from it decodes to a plausible image. **Start here:** choose the data, the "
    "latent dimension and β in the sidebar, press **Start training**, then open **Latent space**."
)
st.caption(f"Settings: {describe(config)}  \nTraining: {describe_optimiser(config)}")

cached = trained is not None and trained.metrics.get("status") == "completed"
if cached and not st.session_state.get(SIDEBAR_SAW_TRAINED, True):
    st.rerun()  # the run ended between the sidebar's look and this one: draw the sidebar again
start_col, stop_col, note_col = st.columns([1, 1, 4], vertical_alignment="center")
with start_col:  # the dataset is loaded here, once per server, with a spinner
    start = {"type": "primary", "disabled": running or cached, "icon": ":material/play_arrow:"}
    if start_button_ui(config, "Start training", key="start", **start):
        st.rerun()
stop = {"disabled": not running or not room().may_manage(seat()), "icon": ":material/stop:"}
if stop_col.button("Stop", key="stop", **stop):
    reg.stop(config)
if cached and trained.save_error:
    note_col.warning(
        f"Trained, but {trained.save_error}. The model stays in this server's memory while it is among "
        f"the {KEPT} most recent runs, so nobody needs to train it again until then.",
        icon=":material/warning:",
    )
elif cached:
    stored_ref(trained, test_set(config.dataset, config.train.binarize)[0])  # its views, built in the background
    note_col.success(
        "Trained and cached: opening these settings is instant. Change a setting to train anew.",
        icon=":material/check_circle:",
    )
elif running and job.snapshot().status == "queued":
    note_col.info(
        "Waiting for a free worker: runs train a few at a time on this server, first come first served. "
        "It starts by itself and keeps its place if you switch pages or close the tab.",
        icon=":material/hourglass_top:",
    )
elif running:
    note_col.info("Training in the background — it keeps going if you switch pages or close the tab.")
elif job is not None and job.result is not None and job.result.config != config:  # β was moved live
    note_col.info(
        f"β changed while this run trained (β {schedule_text(job.result.config)}): it is saved as a model of "
        "its own β schedule, not as the constant-β model of these settings.",
        icon=":material/timeline:",
    )


def live_beta_ui() -> None:
    """β for the rest of the run: the loop takes it at its next step and records the change. One
    widget per job (its key), so that the next run starts at the sidebar's β."""
    key, changes = f"live_beta_{id(job)}", job.beta_changes
    now = changes[-1][1] if changes else config.train.beta
    st.session_state.setdefault(key, now if now in BETAS else config.train.beta)
    st.select_slider(
        "β now — moves the weight of the KL term for the rest of this run",
        BETAS,
        key=key,
        format_func=lambda b: f"{b:g}",
        on_change=move_beta,
        args=(job, key),
        disabled=not room().may_manage(seat()),
        help="The run is then saved under its own β schedule, never as a constant-β model.",
    )


def move_beta(job, key: str) -> None:
    value = st.session_state.get(key)
    if value is not None and job.alive:  # a callback can come after the run has ended
        job.control(beta=value)


def status_text(snap: JobSnapshot) -> str:
    if snap.status == "waiting":
        return f"waiting · {snap.message}"
    if snap.status == "queued":
        return queue_text(snap.ahead, snap.wait)
    if snap.status == "starting":
        return "starting a worker process and loading the data …"
    epoch = snap.epochs[-1].epoch if snap.epochs else 0
    text = f"{snap.status} · step {snap.step}/{snap.total_steps} · epoch {epoch}/{config.train.epochs}"
    text += f" · {snap.seconds:.1f} s"
    return text + (f" · about {snap.eta:.0f} s left" if snap.eta is not None else "")


def progress_view(polling: bool, queued: bool = False) -> None:
    snap = job.snapshot() if job is not None else JobSnapshot.from_trained(trained)
    if polling and snap.running and snap.total_steps and snap.step >= snap.total_steps:
        job.wait(POLL_SECONDS)  # stepped out, being evaluated and written: drawn the moment it ends, not a poll later
        snap = job.snapshot()
    if polling and (not snap.running or queued != (snap.status == "queued")):
        st.rerun()  # the run just ended (or left the line): redraw the whole page once
    st.progress(snap.progress, text=status_text(snap))
    if snap.status == "failed":
        st.error(f"Training failed: {snap.message}")
    elif snap.status in ("stopped", "diverged"):
        st.warning(f"Run {snap.status}: {snap.message}. The model is viewable but not cached.")
    if snap.epochs:
        last = snap.epochs[-1]
        cols = st.columns(5)
        cols[0].metric("Test ELBO", f"{last.test_elbo:.2f} nats")
        cols[1].metric("Reconstruction", f"{last.test_recon:.2f} nats")
        cols[2].metric("KL", f"{last.test_kl:.2f} nats")
        cols[3].metric("Active units", f"{last.active_units} of {config.model.latent_dim}")
        cols[4].metric("Training time", f"{snap.seconds:.1f} s")
    changes = job.beta_changes if job is not None else trained.config.train.beta_schedule
    scheduled = changes or config.train.warmup_epochs > 0  # β is a schedule: draw it
    if snap.steps and polling:  # redrawn every second: the canvas chart
        live_chart_ui(curves_payload(snap.steps, snap.epochs), "live_curves", 620, curves_label(snap))
        if scheduled:
            live_chart_ui(beta_payload(snap.steps, changes), "live_beta_schedule", 240, "β by optimizer step")
    elif snap.steps:
        chart_ui(training_curves(snap.steps, snap.epochs), key="curves")
        if scheduled:
            chart_ui(beta_schedule_figure(snap.steps, changes), key="beta_schedule")


def curves_label(snap: JobSnapshot) -> str:
    """What a screen reader says of the live curves: the run's latest numbers."""
    text = f"Training curves: reconstruction, KL and ELBO by optimizer step, up to step {snap.step}"
    if snap.epochs:
        text += f"; test ELBO {snap.epochs[-1].test_elbo:.2f} nats after epoch {snap.epochs[-1].epoch}"
    return text


def model_view() -> None:
    """KL per dimension, reconstructions and the latent scatter, in a fragment that polls less
    often: redrawing them is the heaviest part of a poll, in the server and in the browser."""
    last = last_epoch()
    if last is not None:
        kl_view_ui(last)
    model = job.live_model() if job is not None else trained.model
    if model is not None:
        model_views_ui(model)
    else:
        st.caption("Reconstructions appear after the first half second of training.")


def last_epoch() -> EpochInfo | None:
    if job is not None:
        epochs = job.snapshot().epochs
        return epochs[-1] if epochs else None
    stored = trained.history.get("epochs", [])
    return EpochInfo(**stored[-1]) if stored else None


def kl_view_ui(last: EpochInfo) -> None:
    if running:
        label = f"KL per latent dimension after epoch {last.epoch}: {last.active_units} units active"
        live_chart_ui(kl_payload(last.kl_per_dim, last.active_units), "live_kl_bars", 300, label)
    else:
        chart_ui(kl_bars(last.kl_per_dim, last.active_units), key="kl_bars")
    text = collapse_warning(last.active_units, config.model.latent_dim)
    if text:
        st.warning(text, icon=":material/warning:")


def model_views_ui(model) -> None:
    x, y = test_set(config.dataset, config.train.binarize)
    images = config.info.image_shape is not None
    if running:  # made once per publish of the weights, for every viewer of the run
        live = live_model_views(model, x, y, config.info.class_names, n_shown=N_SHOWN, images=images)
    with torch.inference_mode():
        if not images:
            fig = data_space_figure(x.numpy(), y, prior_samples(model, len(x), seed=0).numpy(), height=320)
            chart_ui(fig, key="train_data_space")
        else:
            st.markdown("**Test images (top) and their reconstructions E[x | z = μ(x)] (bottom)**")
            recon = live.reconstructions if running else model(x[:N_SHOWN])
            images_ui(torch.cat([x[:N_SHOWN], recon]), config, N_SHOWN)
        if config.model.latent_dim == 2 and running:  # redrawn every poll: one picture, on the canvas chart
            label = f"The {len(x):,} test codes in the latent plane, coloured by label"
            live_chart_ui(live.codes, "live_scatter", 400, label)
            st.caption(
                f"All {len(x):,} test codes, drawn as one picture while it trains; "
                "hover over a code, or click a label to show its class alone, once it ends."
            )
        elif config.model.latent_dim == 2:
            mu = encode_dataset(model, x)[0].numpy()
            lim, names = latent_limit(mu), config.info.class_names
            codes_chart_ui(
                codes_payload(mu[:, 0], mu[:, 1], y, names, lim=lim, prior=True, height=400), key="train_scatter"
            )


def codes_file() -> str:
    x, y = test_set(config.dataset, config.train.binarize)
    mu, logvar = encode_dataset(trained.model, x)
    return codes_csv(mu.numpy(), logvar.numpy(), y, config.info.class_names)


def export_ui() -> None:
    """Files made only when their button is pressed (deferred), so reruns stay cheap."""
    st.subheader(":material/ios_share: Take it with you")
    name = model_file_name(trained).removesuffix(".pt")
    a, b, c = st.columns(3)
    kw = {"on_click": "ignore", "width": "stretch"}
    metrics = epochs_csv(trained.history.get("epochs", []))
    a.download_button(
        "Metrics per epoch (CSV)",
        metrics,
        f"{name}-epochs.csv",
        "text/csv",
        key="dl_epochs",
        icon=":material/show_chart:",
        **kw,
    )
    b.download_button(
        "Test-set codes μ, log σ² (CSV)",
        codes_file,
        f"{name}-codes.csv",
        "text/csv",
        key="dl_codes",
        icon=":material/scatter_plot:",
        **kw,
    )
    c.download_button(
        "The model file", lambda: model_bytes(trained), f"{name}.pt", key="dl_model", icon=":material/save:", **kw
    )
    st.caption(
        f"`python -m vae_core evaluate --model {name}.pt` evaluates the model file on the command line. "
        "The camera button over a chart saves it as a picture (PNG or SVG: see the sidebar)."
    )


if job is None and trained is None:
    if reg.lost(config):
        st.warning(
            "A run of these settings was queued or training when this server restarted. It did not finish "
            "and nothing of it was saved (a restart empties the queue): press **Start training** to run it again.",
            icon=":material/restart_alt:",
        )
    st.info(first_run_text(config))
    cached_models_ui(config)
else:
    queued = running and job.snapshot().status == "queued"  # once it leaves the line, the page says so
    if running and not queued:
        live_beta_ui()
    st.fragment(run_every=POLL_SECONDS if running else None)(progress_view)(running, queued)
    st.fragment(run_every=MODEL_POLL_SECONDS if running else None)(model_view)()
    if cached and not running:
        export_ui()
