"""The data: datasets as in-memory tensors, their files and verified downloads, and uploaded
pictures made into dataset images.

Import contract (``tests/core/test_layers.py``): torch, numpy, scikit-learn, Pillow and the
standard library; of this package ``vae_core.config``, ``vae_core.vae`` and ``vae_core.data``.
"""

from vae_core.data.datasets import Dataset, available, load_dataset
from vae_core.data.download import DatasetError

__all__ = ["Dataset", "DatasetError", "available", "load_dataset"]
