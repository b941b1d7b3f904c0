"""The math and the model: the VAE, its objectives and estimators, the grid posterior, the
gradient estimators, the training step and loop, and test-set evaluation.

Import contract (``tests/core/test_layers.py``): torch, numpy and the standard library only,
and of this package only ``vae_core.config`` and ``vae_core.vae``.
"""
