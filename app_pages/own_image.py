"""Your own image: a digit you draw on the page (the drawing pad, ``draw_pad.py``: encoded in the
browser while you draw) or photographed and uploaded, as the model sees it, what it makes of it,
and where it lands among the test images' codes.

The picture is prepared the way MNIST was (``vae_core.data.images``): ink as 1 on a background of
0, its box scaled to fit, centred by its centre of mass, then encoded to q(z|x) = N(μ, σ²) and
decoded from z = μ. Like every image in the app, it is drawn dark ink on white paper.
"""

import numpy as np
import streamlit as st
import torch

from app_pages.codes_chart import codes_chart_ui
from app_pages.common import collapse_warning_ui, images_ui, model_id, model_or_stop_ui, test_codes, test_set
from app_pages.draw_pad import draw_pad_ui, drawn_scores_ui
from vae_core.data.images import MAX_BYTES, ImageError, to_dataset_image
from vae_core.vae.objectives import elbo_terms
from vae_core.views.latent_figures import codes_payload, latent_limit
from vae_core.views.projection import pca_with

config = st.session_state.run_config
info, D = config.info, config.model.latent_dim
st.title("Your own image")
if info.image_shape is None:
    st.info("This page is for the image datasets: choose digits, MNIST or Fashion-MNIST in the sidebar.")
    st.stop()
h, w = info.image_shape
st.markdown(
    f"Draw a digit in the box below, or on paper (photograph it and upload it). Either way it is turned "
    f"into a {h}×{w} image like the training data — cropped to the ink, centred by its centre of mass, "
    "ink dark on white as every image here is drawn — then encoded and reconstructed."
)
trained = model_or_stop_ui(config)
model, mid = trained.model, model_id(trained)
x, y = test_set(config.dataset, config.train.binarize)
mu = test_codes(mid, model, x)

st.subheader("Draw a digit: how likely is it under the model?")
if D < 2:
    st.info("The drawing pad draws q(z|x) on the plane of z1 and z2: choose 2 or more latent dimensions.")
else:
    st.caption(
        f"Draw with the mouse, a finger or a pen. While you draw, your browser prepares the drawing as an upload "
        f"is prepared ({h}×{w}), encodes it with this model and moves its q(z|x) over the test codes."
    )
    draw_pad_ui(model, mid, config, mu, y, trained.metrics["test_elbo"])
    drawn_scores_ui(model, config)
st.subheader("…or upload a picture")


upload = st.file_uploader(
    f"A PNG or JPEG picture (at most {MAX_BYTES // 2**20} MB)",
    type=["png", "jpg", "jpeg"],
    key="own_upload",
    max_upload_size=MAX_BYTES // 2**20,
)
if upload is None:
    st.info("No picture yet. Tip: a thick felt pen on white paper works best.")
    st.stop()
try:
    pixels = to_dataset_image(upload.getvalue(), h)
except ImageError as e:
    st.error(str(e), icon=":material/block:")
    st.text(f"The file: {upload.name}")  # a file name is the sender's text: literal, never Markdown
    st.stop()

x_own = torch.from_numpy(pixels)[None]  # (1, x_dim)
with torch.inference_mode():
    mu_own, logvar_own = (t[0].numpy() for t in model.encode(x_own))
    recon = model(x_own)
    terms = elbo_terms(model, x_own, n_samples=1000, generator=torch.Generator().manual_seed(0))

left, right = st.columns([1, 2])
with left:
    st.image(upload.getvalue(), caption="What you sent", width=200)
    images_ui(torch.cat([x_own, recon]), config, 2, "As the model sees it (left) and its reconstruction (right)", 112)
with right, st.container(key="own_numbers", horizontal=True):
    st.metric("ELBO of your image", f"{terms.elbo.item():.2f} nats")
    st.metric("Test-set mean ELBO", f"{trained.metrics['test_elbo']:.2f} nats")
    st.metric("Reconstruction", f"{terms.recon.item():.2f} nats")
    st.metric("KL(q(z|x) ‖ p(z))", f"{terms.kl.item():.2f} nats")
    st.caption(
        "A much lower ELBO than the test images' says the model finds your picture unusual. "
        "Grey pixels count as the average over their binarizations."
    )

collapse_warning_ui(trained)
if D == 1:
    jitter = np.random.default_rng(0).uniform(-0.3, 0.3, len(y))
    sx, sy, point, titles = mu[:, 0], y + jitter, (mu_own[0], -1.0), ("z1", "label (jittered); ✕ your image")
elif D == 2:
    sx, sy, point, titles = mu[:, 0], mu[:, 1], (mu_own[0], mu_own[1]), ("z1", "z2")
else:
    view = st.radio("Show the codes in", ["two latent dimensions", "PCA"], key="own_view", horizontal=True)
    if view == "PCA":
        xy, own = pca_with(mu, mu_own[None])
        sx, sy, point, titles = xy[:, 0], xy[:, 1], tuple(own[0]), ("PCA 1", "PCA 2")
    else:
        a, b = st.columns(2)
        fmt = {"format_func": lambda d: f"z{d + 1}"}
        i = a.selectbox("Horizontal axis", range(D), index=0, key="own_dim_a", **fmt)
        j = b.selectbox("Vertical axis", range(D), index=1, key="own_dim_b", **fmt)
        sx, sy, point, titles = mu[:, i], mu[:, j], (mu_own[i], mu_own[j]), (f"z{i + 1}", f"z{j + 1}")
latent = titles[0].startswith("z")  # PCA keeps the latent scale too (a rotation): fixed axes either way
lim = latent_limit(sx, *([] if D == 1 else [sy]), np.asarray(point[: 1 if D == 1 else 2]))
marker = (float(point[0]), float(point[1]))
payload = codes_payload(
    sx,
    sy,
    y,
    info.class_names,
    marker=marker,
    titles=titles,
    lim=lim,
    prior=latent and D > 1,
    one_d=D == 1,
)
codes_chart_ui(payload, "own_scatter")
st.caption("Test images at their codes μ(x), coloured by label; the large red ✕ on top is your image's μ.")
