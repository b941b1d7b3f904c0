"""What the pages show, computed without a browser: arrays for pictures, 2-D projections,
plotly figures, the latent pad's payload, download files, and a config in words.

Import contract (``tests/core/test_layers.py``): the only layer that imports plotly; also
torch, numpy, scikit-learn and the standard library, and every lower layer of ``vae_core``.
"""
