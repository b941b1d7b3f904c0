"""2-D views of codes with more than two dimensions: PCA and t-SNE (scikit-learn)."""

from __future__ import annotations

from typing import Literal

import numpy as np


def project(
    mu: np.ndarray, method: Literal["PCA", "t-SNE"], *, max_points: int = 2000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A 2-D view of codes mu (N, D): (row indices used (M,), coordinates (M, 2)).

    t-SNE is quadratic in the points, so at most ``max_points`` rows (a seeded subset) go in.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    rng = np.random.default_rng(seed)
    idx = np.arange(len(mu)) if len(mu) <= max_points else np.sort(rng.choice(len(mu), max_points, replace=False))
    if method == "PCA":
        return idx, PCA(2, random_state=seed).fit_transform(mu[idx])
    perplexity = min(30.0, (len(idx) - 1) / 3)
    return idx, TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(mu[idx])


def pca_with(mu: np.ndarray, extra: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PCA fitted on codes mu (N, D), applied to them and to more codes extra (M, D):
    ((N, 2), (M, 2)), so that a new point lands in the same picture as the test set."""
    from sklearn.decomposition import PCA

    pca = PCA(2, random_state=0).fit(mu)
    return pca.transform(mu), pca.transform(extra)
