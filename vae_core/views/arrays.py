"""The arrays behind the pages' pictures: decoded grids over the prior's quantiles, decoded points,
interpolations, traversals, prior samples, pixel vectors tiled into one image, and a grey
picture as a PNG (for a chart that shows one).

Computed here so that they can be tested without a browser; the pages only draw them. Images
are the decoder's mean E[x|z] (pixel probabilities). Pure torch and numpy.
"""

from __future__ import annotations

import base64
import math
import struct
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from vae_core.vae.snapshots import manifold_codes, prior_quantiles  # the grid's one definition

__all__ = ["manifold_codes", "prior_quantiles"]  # re-exported: the pages take them from here
GUTTER = 0.2  # light grey lines between tiled images


def as_images(x: torch.Tensor | np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(N, H*W) or (H*W,) pixel vectors -> (N, H, W) float array."""
    x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    return x.reshape(-1, *shape)


def tile(images: np.ndarray, ncols: int, *, pad: int = 1, min_size: int = 56) -> np.ndarray:
    """Images (N, H, W) in [0, 1] -> one uint8 picture, ``ncols`` a row, each image scaled up
    by a whole factor (nearest neighbour, so pixels stay sharp) to at least ``min_size``."""
    n, h, w = images.shape
    s = max(1, math.ceil(min_size / max(h, w)))
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    big = np.kron(np.clip(images, 0, 1), np.ones((1, s, s)))  # (N, hs, ws)
    out = np.full((nrows * (h * s + pad) - pad, ncols * (w * s + pad) - pad), GUTTER)
    for i, img in enumerate(big):
        r, c = divmod(i, ncols)
        out[r * (h * s + pad) : r * (h * s + pad) + h * s, c * (w * s + pad) : c * (w * s + pad) + w * s] = img
    return (255 * (1 - out)).round().astype(np.uint8)  # ink is dark on white paper


@torch.inference_mode()
def decode_at(model: Any, base: torch.Tensor, dims: Sequence[int], values: Sequence[float]) -> torch.Tensor:
    """E[x|z] at z = base with z[dims] = values: base (D,) -> (x_dim,)."""
    z = base.clone().float()
    z[list(dims)] = torch.tensor(values, dtype=torch.float32)
    return model.mean(z)


@torch.inference_mode()
def manifold(model: Any, n: int, dims: Sequence[int], base: torch.Tensor) -> torch.Tensor:
    """Decoded means over an n (x n) grid of prior quantiles in ``dims``, others at ``base``.

    Two dims: (n*n, x_dim) in reading order, z1 rising to the right and z2 rising upwards
    (row 0 is the largest z2), so the picture matches a scatter of the codes. One dim: (n, x_dim).
    """
    grid = manifold_codes(n, len(dims))  # (N, len(dims))
    z = base.repeat(len(grid), 1)
    z[:, list(dims)] = grid
    return model.mean(z)


@torch.inference_mode()
def interpolate(model: Any, x_a: torch.Tensor, x_b: torch.Tensor, n: int) -> torch.Tensor:
    """Decoded means along the straight line between the codes mu(x_a) and mu(x_b): (n, x_dim)."""
    mu = model.encode(torch.stack([x_a, x_b]))[0]  # (2, D)
    t = torch.linspace(0, 1, n)[:, None]
    return model.mean((1 - t) * mu[0] + t * mu[1])


@torch.inference_mode()
def prior_samples(model: Any, n: int, seed: int) -> torch.Tensor:
    """z ~ p(z), then E[x|z] for images (Bernoulli) or x ~ p(x|z) for points: (n, x_dim)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn((n, model.latent_dim), generator=g)
    if model.config.likelihood == "bernoulli":
        return model.mean(z)
    mean, std = model.mean(z), model.decoder_std()
    return mean + std * torch.randn(mean.shape, generator=g)


@torch.inference_mode()
def traversals(model: Any, dims: Sequence[int], n: int) -> torch.Tensor:
    """Decoded means as each of ``dims`` moves over n prior quantiles, the others at 0:
    (len(dims) * n, x_dim), one row per dimension."""
    base = torch.zeros(model.latent_dim)
    return torch.cat([manifold(model, n, [d], base) for d in dims])


def png_data_uri(picture: np.ndarray, level: int = 9) -> str:
    """A uint8 picture, grey (H, W) or RGBA (H, W, 4), as a ``data:image/png`` URI (PNG written
    with zlib at ``level``)."""
    h, w = picture.shape[:2]
    colour = 6 if picture.ndim == 3 else 0  # PNG colour types: 8-bit RGBA, 8-bit grey
    flat = np.ascontiguousarray(picture, dtype=np.uint8).reshape(h, -1)
    rows = np.concatenate([np.zeros((h, 1), np.uint8), flat], axis=1).tobytes()  # filter 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0)  # no interlace
    idat = zlib.compress(rows, level)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def app_icon(size: int = 64) -> np.ndarray:
    """The app's own favicon, drawn here (an emoji needs an emoji font; a Material icon would be
    fetched from Google): a Gaussian cloud in the palette's blue with a crimson ✕. (size, size, 4) uint8."""
    t = (np.arange(size) + 0.5) / size * 2 - 1  # (size,), -1 … 1
    xx, yy = np.meshgrid(t, t)
    alpha = np.exp(-(xx**2 + yy**2) / (2 * 0.45**2))  # a 2-D Gaussian
    icon = np.zeros((size, size, 4))
    icon[..., :3], icon[..., 3] = (0, 114, 178), 255 * alpha  # PALETTE[0]
    cross = (np.abs(np.abs(xx - 0.2) - np.abs(yy + 0.2)) < 0.12) & (
        np.maximum(np.abs(xx - 0.2), np.abs(yy + 0.2)) < 0.4
    )
    icon[cross] = (220, 20, 60, 255)  # crimson
    return icon.round().astype(np.uint8)
