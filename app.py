"""VAE Latent Lab: train a VAE live, explore its latent space, compare the ELBO with log p(x).

Run with ``streamlit run app.py``. This file is the frame around the pages: the shared sidebar
(which turns its widgets into a RunConfig) and the navigation.
"""

import streamlit as st

from app_pages.common import sidebar_ui

st.set_page_config(page_title="VAE Latent Lab", page_icon="🧪", layout="wide")

pages = [
    st.Page("app_pages/train.py", title="Train", icon="🏋️", default=True),
    st.Page("app_pages/latent.py", title="Latent space", icon="🗺️"),
    st.Page("app_pages/elbo.py", title="ELBO vs log p(x)", icon="📐"),
]
page = st.navigation(pages)
st.session_state.run_config = sidebar_ui()
page.run()
