"""How far apart a palette's colours stay for a reader with a colour-vision deficiency.

Each colour (sRGB) is linearised, multiplied by Machado, Oliveira & Fernandes' (2009) matrix for
full (severity 1.0) protanopia, deuteranopia or tritanopia, encoded back to sRGB and taken to
CIELAB (D65); two colours differ by their Euclidean distance there, ΔE*ab (CIE 1976). A ΔE
near 2 is barely visible side by side; points of two classes in a scatter need far more.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

MACHADO = {  # linear RGB -> simulated linear RGB, severity 1.0 (Machado et al., 2009, table 1)
    "protanopia": np.array(
        [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]]
    ),
    "deuteranopia": np.array(
        [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]]
    ),
    "tritanopia": np.array(
        [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]]
    ),
}
SRGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)
WHITE = SRGB_TO_XYZ.sum(1)  # D65, the XYZ of sRGB white


def rgb(colours: Sequence[str]) -> np.ndarray:
    """ "#RRGGBB" strings -> sRGB in [0, 1]: (N, 3)."""
    return np.array([[int(c.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)] for c in colours])


def to_linear(srgb: np.ndarray) -> np.ndarray:
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def to_srgb(linear: np.ndarray) -> np.ndarray:
    c = np.clip(linear, 0, 1)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)


def simulate(srgb: np.ndarray, deficiency: str | None) -> np.ndarray:
    """sRGB (..., 3) as seen with ``deficiency`` (a key of MACHADO; None: unchanged)."""
    if deficiency is None:
        return srgb
    return to_srgb(to_linear(srgb) @ MACHADO[deficiency].T)


def to_lab(srgb: np.ndarray) -> np.ndarray:
    """sRGB (..., 3) -> CIELAB (..., 3)."""
    xyz = to_linear(srgb) @ SRGB_TO_XYZ.T / WHITE
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def min_delta_e(colours: Sequence[str], deficiency: str | None = None) -> tuple[float, int, int]:
    """The closest pair of a palette under a simulated deficiency: (ΔE*ab, i, j)."""
    lab = to_lab(simulate(rgb(colours), deficiency))
    return min(
        (float(np.linalg.norm(lab[i] - lab[j])), i, j) for i, j in itertools.combinations(range(len(colours)), 2)
    )
