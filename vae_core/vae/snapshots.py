"""Snapshots of a run for its replay: the test codes and the decoder's map at ~40 moments.

A run of a 1- or 2-D latent keeps, at ``FRAMES + 1`` evenly spaced optimizer steps (the start
included), the posterior means mu(x) of the first ``REPLAY_ROWS`` test images and, for image data,
the decoder's means over a ``GRID`` x ``GRID`` grid of prior quantiles (as uint8 pixels). That is a
few kB a frame for digits and under 100 kB for MNIST, against ~1 MB for the weights, so a replay
can scrub through the embedding as it formed without keeping the weights of every moment. The
file is versioned (``FORMAT``); one that is missing or fails ``check`` means: no replay.

The grid is the one the latent page draws: quantiles (i + 1/2) / n of N(0, 1), z1 rising to the
right and z2 rising upwards (row 0 holds the largest z2).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from vae_core.config import RunConfig
from vae_core.vae.binarize import fixed_binarization

FORMAT = "vae-latent-lab/snapshots/1"
FRAMES = 40  # moments after the start; a replay at 8 frames a second takes 5 s
REPLAY_ROWS = 2000  # test images whose codes each frame keeps
GRID = 10  # the decoder's map per frame: GRID x GRID images for a 2-D latent, GRID for 1-D
MAX_LATENT_DIM = 2  # beyond, the plane of the codes is a projection: no replay


def prior_quantiles(n: int) -> torch.Tensor:
    """n points of N(0, 1) at the quantiles (i + 1/2) / n, ascending: (n,)."""
    return torch.distributions.Normal(0.0, 1.0).icdf((torch.arange(n) + 0.5) / n)


def manifold_codes(n: int, n_dims: int) -> torch.Tensor:
    """The values of the moving dims at each image of the decoder's map, in its order: (n, 1) for
    one dim, (n*n, 2) for two (z1 rising to the right, z2 rising upwards)."""
    q = prior_quantiles(n)
    if n_dims == 1:
        return q[:, None]
    z2, z1 = torch.meshgrid(q.flip(0), q, indexing="ij")
    return torch.stack([z1.reshape(-1), z2.reshape(-1)], 1)


def snapshot_steps(total_steps: int, frames: int = FRAMES) -> list[int]:
    """The optimizer steps (0 = before the first) whose moment a run keeps."""
    return sorted({round(i * total_steps / frames) for i in range(frames + 1)})


class Recorder:
    """Collects the snapshots of one run through the trainer's hooks; does nothing where the
    latent has more than ``MAX_LATENT_DIM`` dimensions."""

    def __init__(self, config: RunConfig, x_test: torch.Tensor | None) -> None:
        self.config = config
        self.x = x_test[:REPLAY_ROWS] if x_test is not None else None
        self.model: Any = None
        self.steps: list[int] = []
        self.codes: list[torch.Tensor] = []
        self.images: list[torch.Tensor] = []
        self._keep: set[int] | None = None

    @classmethod
    def of(cls, config: RunConfig, data: Any) -> Recorder:
        """A recorder for a run of ``config`` on ``data`` (a ``Splits``)."""
        if config.model.latent_dim > MAX_LATENT_DIM:
            return cls(config, None)
        x = fixed_binarization(data.x_test) if config.train.binarize else data.x_test  # as the pages see it
        return cls(config, x)

    def start(self, model: Any, then: Callable[[Any], None] | None = None) -> None:
        """The model before its first step (frame 0); ``then`` is the caller's own on_model."""
        self.model = model
        if self.x is not None:
            self._take(0)
        if then is not None:
            then(model)

    def wrap(self, on_step: Callable[[Any], None] | None) -> Callable[[Any], None] | None:
        """An on_step that records the moments of ``snapshot_steps`` and then calls ``on_step``."""
        if self.x is None:
            return on_step

        def hook(info: Any) -> None:
            if self._keep is None:
                self._keep = set(snapshot_steps(info.total_steps))
            if info.step in self._keep:
                self._take(info.step)
            if on_step is not None:
                on_step(info)

        return hook

    @torch.no_grad()
    def _take(self, step: int) -> None:
        mu = self.model.encode(self.x)[0]  # (N, D); the model has no train-time layers
        self.steps.append(step)
        self.codes.append(mu.half())
        if self.config.info.image_shape is not None:
            grid = manifold_codes(GRID, self.config.model.latent_dim)
            self.images.append(pixels(self.model.mean(grid)))

    def result(self) -> dict[str, Any] | None:
        """The snapshot file's content, or None where nothing was recorded."""
        if not self.steps:
            return None
        out: dict[str, Any] = {"format": FORMAT, "steps": torch.tensor(self.steps), "codes": torch.stack(self.codes)}
        if self.images:
            out["images"] = torch.stack(self.images)  # (S, G, x_dim) uint8
        return out


def pixels(means: torch.Tensor) -> torch.Tensor:
    """Pixel probabilities in [0, 1] as uint8 0..255 (how a frame keeps the decoder's map)."""
    return (means * 255).round().to(torch.uint8)


def check(snapshots: Any, config: RunConfig) -> dict[str, torch.Tensor]:
    """The snapshots if they are whole and fit this model; else ValueError saying what is wrong."""
    if not isinstance(snapshots, dict) or snapshots.get("format") != FORMAT:
        raise ValueError("not a snapshot file of this version")
    steps, codes = snapshots.get("steps"), snapshots.get("codes")
    if not isinstance(steps, torch.Tensor) or not isinstance(codes, torch.Tensor) or steps.ndim != 1:
        raise ValueError("the snapshot file lacks its steps or codes")
    if codes.ndim != 3 or codes.shape[0] != len(steps) or codes.shape[2] != config.model.latent_dim:
        raise ValueError(f"the codes have shape {tuple(codes.shape)}, not (frames, rows, latent dim)")
    if len(steps) < 2 or not bool((steps[1:] > steps[:-1]).all()) or not torch.isfinite(codes.float()).all():
        raise ValueError("the snapshot steps or codes are not usable")
    images = snapshots.get("images")
    if images is not None and (images.dtype != torch.uint8 or images.shape[::2] != (len(steps), config.model.x_dim)):
        raise ValueError("the snapshot images do not fit the model")
    return snapshots
