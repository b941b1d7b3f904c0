"""VAE Latent Lab: train a VAE live, explore its latent space, compare the ELBO with log p(x).

Run with ``streamlit run app.py``. This file is the frame around the pages: the URL's preset
(read once per session), the shared sidebar (which turns its widgets into a RunConfig), the
navigation, and presenter mode.
"""

import streamlit as st
from PIL import Image

from app_pages.common import builds_wait_for_training, registry, sidebar_ui, view_ui
from app_pages.room import bound_uploads
from app_pages.url import go_to_url_page, presenter_ui, read_url_once, url_problems_ui, write_url
from vae_core.views.arrays import app_icon
from vae_core.views.service import view_service

st.set_page_config(page_title="VAE Latent Lab", page_icon=Image.fromarray(app_icon(), "RGBA"), layout="wide")
bound_uploads()
read_url_once()
if __name__ == "__main__":  # not where a child process imports this script as its __main__ (AppTest leaves it so)
    view_service()  # once per server: its worker process starts now, not at the first view that needs it
    registry().pool.warm()  # and the training workers' forkserver, which imports torch once
    builds_wait_for_training()

pages = [
    st.Page("app_pages/train.py", title="Train", icon=":material/model_training:", default=True),
    st.Page("app_pages/latent.py", title="Latent space", icon=":material/scatter_plot:"),
    st.Page("app_pages/walkthrough.py", title="One sample, step by step", icon=":material/footprint:"),
    st.Page("app_pages/elbo.py", title="ELBO vs log p(x)", icon=":material/functions:"),
    st.Page("app_pages/jensen.py", title="Jensen's inequality", icon=":material/bar_chart:"),
    st.Page("app_pages/posterior.py", title="Posterior view", icon=":material/blur_on:"),
    st.Page("app_pages/gradients.py", title="Gradient estimators", icon=":material/casino:"),
    st.Page("app_pages/compare.py", title="Compare two runs", icon=":material/compare:"),
    st.Page("app_pages/sweep.py", title="β sweep", icon=":material/linear_scale:"),
    st.Page("app_pages/replay.py", title="Replay training", icon=":material/replay:"),
    st.Page("app_pages/own_image.py", title="Your own image", icon=":material/draw:"),
]
page = st.navigation(pages, position="top" if st.session_state.get("presenter") else "sidebar")
go_to_url_page(pages, page)
st.session_state.run_config = sidebar_ui()
view_ui(page)
presenter_ui()
url_problems_ui()
write_url(page)  # the address bar follows the view, so copying it shares it; before the page runs,
try:  # since after a page's st.stop() no message reaches the browser any more
    page.run()
finally:  # what the page itself changed (a picked point moves the sliders)
    write_url(page)
