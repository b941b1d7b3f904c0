"""Binary pixels for a Bernoulli likelihood: a fresh draw per epoch in training, one fixed draw for tests.

Dynamic binarization (a fresh Bernoulli draw of each pixel, with its intensity as the
probability, every time an image is used) makes the Bernoulli likelihood a proper likelihood
of binary data; the test set is binarized once with a fixed seed, so that test log-likelihoods
are comparable across runs and models.
"""

from __future__ import annotations

import torch

TEST_BINARIZATION_SEED = 0


def binarize(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One Bernoulli draw per pixel, with the pixel intensity as its probability."""
    return torch.bernoulli(x, generator=generator)


def fixed_binarization(x: torch.Tensor, seed: int = TEST_BINARIZATION_SEED) -> torch.Tensor:
    """The fixed binarization used for every test-set number."""
    return binarize(x, torch.Generator().manual_seed(seed))
