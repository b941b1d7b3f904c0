"""Storage and jobs: the on-disk cache of trained models keyed by config, what the cache folder
holds (and why an entry is skipped), background training jobs shared by every viewer, the zoo that
fills the cache before a lecture, and the rules for serving a room (who may start runs).

Import contract (``tests/core/test_layers.py``): torch, filelock and the standard library; of
this package ``vae_core.config``, ``vae_core.vae``, ``vae_core.data`` and ``vae_core.store``.
"""
