"""Storage and jobs: the on-disk cache of trained models keyed by config, background training
jobs shared by every viewer, and the zoo that fills the cache before a lecture.

Import contract (``tests/core/test_layers.py``): torch, filelock and the standard library; of
this package ``vae_core.config``, ``vae_core.vae``, ``vae_core.data`` and ``vae_core.store``.
"""
