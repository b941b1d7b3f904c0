"""What every chart shares: the label palette, the grey of a collapsed unit, the hover text for
nats, one field of a run's records as an array, and q(z|x)'s ellipse."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from plotly.colors import qualitative

PALETTE = qualitative.T10
COLLAPSED = "#bbbbbb"
NATS = "%{y:.3f} nats"


def column(rows: Sequence[Any], name: str, dtype: type = float) -> np.ndarray:
    """One field of step or epoch records (dataclasses or their dicts) as an array (N,)."""
    get = (lambda r: r[name]) if rows and isinstance(rows[0], dict) else (lambda r: getattr(r, name))
    return np.fromiter((get(r) for r in rows), dtype=dtype, count=len(rows))


def ellipse(mu: np.ndarray, logvar: np.ndarray, k: float = 1.0, n: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """The k-sigma ellipse of N(mu, diag(exp(logvar))) in the plane: (x (n,), y (n,))."""
    t = np.linspace(0, 2 * np.pi, n)
    sigma = np.exp(0.5 * np.asarray(logvar))
    return mu[0] + k * sigma[0] * np.cos(t), mu[1] + k * sigma[1] * np.sin(t)
