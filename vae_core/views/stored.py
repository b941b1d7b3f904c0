"""The expensive views of a trained model, as pieces that are computed once and kept beside it.

A ``Piece`` names one unit of work a page shows: the ELBO's terms for some test rows, one
repeat of the L_k curve over a stage of k, the grid value of log p(x), the posterior grid of
one test image at one checkpoint, the Jensen page's log weights and identity of one test image,
the Gradient estimators page's study of one test image, the test set's codes, their t-SNE. ``compute`` is the one
implementation of each (the pages' fresh computations and the stored ones are the same call on
the same seeded draws). ``standard_pieces`` is what a completed model keeps: every view of a
fixed panel of test images and of the default test-set average, so that opening any page of a
cached model reads numbers instead of computing them. They live in ``<entry>/views.pt``,
versioned with ``VIEWS_VERSION``; a file that does not load, or is of another version, counts
as empty, and its pieces are computed again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vae_core.config import RunConfig
from vae_core.store.cache import TrainedModel, config_key
from vae_core.vae.derivation import Identity, JensenView, jensen_view
from vae_core.vae.evaluate import KS, SEEDS, curve_piece, elbo_numbers, encode_dataset
from vae_core.vae.gradients import STUDY_NS, STUDY_REPEATS, GradientStudy, gradient_studies
from vae_core.vae.objectives import log_px_quadrature_with_error
from vae_core.vae.posterior import PosteriorView, posterior_view
from vae_core.views.projection import project

log = logging.getLogger(__name__)

VIEWS_VERSION = 2
VIEWS_FILE = "views.pt"
PANEL = 10  # test images 0 .. PANEL - 1 keep every view
AVERAGE = 50  # the ELBO page's default test-set average: rows 0 .. AVERAGE - 1
REPEATS = 5  # the ELBO page's default number of repeats
STAGES = (KS[:7], KS[7:10], KS[10:11], KS[11:])  # k <= 100 first (instant), then 1000, 2000, 5000


@dataclass(frozen=True)
class Piece:
    """One unit of work. ``rows`` are test-set rows [a, b); ``epoch`` None is the final weights."""

    kind: str  # numbers | curve | quadrature | posterior | jensen | gradients | codes | projection
    rows: tuple[int, int] = (0, 0)
    sampler: str = ""
    repeat: int = 0
    ks: tuple[int, ...] = ()
    epoch: int | None = None
    method: str = ""

    @property
    def name(self) -> str:
        parts = [self.kind, f"{self.rows[0]}-{self.rows[1]}"]
        if self.kind == "curve":
            parts += [self.sampler, f"r{self.repeat}", ",".join(map(str, self.ks))]
        if self.kind == "gradients":
            parts.append(f"x{self.repeat}")  # repeats of each n
        if self.kind == "posterior":
            parts.append(f"e{self.epoch}")
        if self.kind == "projection":
            parts.append(self.method)
        return "/".join(parts)

    @property
    def cost(self) -> float:
        """Decoder passes, roughly: what it takes, to order and to decide where to run it."""
        n = self.rows[1] - self.rows[0]
        if self.kind == "curve":
            return n * sum(self.ks)
        if self.kind in ("quadrature", "posterior", "jensen", "gradients", "projection"):
            return 40_000.0
        return float(n)


def numbers(rows: tuple[int, int]) -> Piece:
    return Piece("numbers", rows)


def curve(rows: tuple[int, int], sampler: str, repeat: int, ks: tuple[int, ...]) -> Piece:
    return Piece("curve", rows, sampler, repeat, tuple(ks))


def quadrature(rows: tuple[int, int]) -> Piece:
    return Piece("quadrature", rows)


def posterior(i: int, epoch: int | None) -> Piece:
    return Piece("posterior", (i, i + 1), epoch=epoch)


def jensen(i: int) -> Piece:
    return Piece("jensen", (i, i + 1))


def gradients(i: int, repeats: int = STUDY_REPEATS) -> Piece:
    return Piece("gradients", (i, i + 1), repeat=repeats)


def codes() -> Piece:
    return Piece("codes")


def projection(method: str) -> Piece:
    return Piece("projection", method=method)


def curve_pieces(rows: tuple[int, int], repeats: int, start: int = 0) -> list[Piece]:
    """Every curve piece of repeats start .. repeats - 1, in the order that shows most soonest:
    each stage for one repeat of each sampler, before the next stage; later repeats after."""
    order = []
    for r in range(start, repeats):
        for ks in STAGES:
            order += [curve(rows, sampler, r, ks) for sampler in SEEDS]
    return order


def checkpoint_epochs(trained: TrainedModel) -> list[int]:
    return sorted(trained.checkpoints)


def posterior_epoch(trained: TrainedModel, epoch: int | None) -> int | None:
    """The epoch a posterior piece of ``epoch``'s weights goes by: None (the final weights, the
    ELBO page's) for the checkpoint that holds exactly the final weights (a completed run's last),
    so that the Posterior page and the ELBO page share one computation and one stored value."""
    if epoch is None or epoch != max(trained.checkpoints, default=None):
        return epoch
    final = trained.model.state_dict()
    kept = trained.checkpoints[epoch]
    same = kept.keys() == final.keys() and all(torch.equal(kept[k], final[k]) for k in final)
    return None if same else epoch


def standard_pieces(trained: TrainedModel) -> list[Piece]:
    """What a completed model keeps: the ELBO page's numbers for each panel image and for the
    default average (with the default repeats), the grid posterior of each panel image (D <= 2;
    in 2-D at every checkpoint too; its log p(x) is the image's quadrature value), the codes, and
    their t-SNE (more than two dimensions), and the Jensen and Gradient estimators pages' numbers
    for each panel image."""
    d = trained.config.model.latent_dim
    out = [codes()]
    if d > 2:
        out.append(projection("t-SNE"))
    for rows in [(i, i + 1) for i in range(PANEL)] + [(0, AVERAGE)]:
        out.append(numbers(rows))
        out += curve_pieces(rows, REPEATS)
        if d <= 2 and rows[1] - rows[0] > 1:  # one image's log p(x) is its grid posterior's
            out.append(quadrature(rows))
    out += [jensen(i) for i in range(PANEL)] + [gradients(i) for i in range(PANEL)]
    if d <= 2:  # the ELBO page's (final weights) and, in 2-D, the Posterior page's (each checkpoint)
        epochs = [None] + (checkpoint_epochs(trained) if d == 2 else [])
        epochs = list(dict.fromkeys(posterior_epoch(trained, e) for e in epochs))
        out += [posterior(i, e) for i in range(PANEL) for e in epochs]
    return out


def fits(piece: Piece, n_test: int) -> bool:
    return piece.rows[1] <= n_test


def compute(trained: TrainedModel, x: torch.Tensor, piece: Piece) -> Any:
    """The value of one piece for a model and its test set x (as every reported number sees it)."""
    model = trained.model
    xs = x[piece.rows[0] : piece.rows[1]]
    with torch.inference_mode():
        if piece.kind == "numbers":
            return elbo_numbers(model, xs)
        if piece.kind == "curve":
            return curve_piece(model, xs, piece.ks, piece.repeat, sampler=piece.sampler)  # type: ignore[arg-type]
        if piece.kind == "quadrature":
            value, error = log_px_quadrature_with_error(model, xs)
            return {"quadrature": value.mean().item(), "quadrature_error": error.mean().item()}
        if piece.kind == "posterior":
            kept = piece.epoch is not None and piece.epoch in trained.checkpoints
            return posterior_view(trained.model_at(piece.epoch) if kept else model, xs[0])
        if piece.kind == "jensen":
            return jensen_view(model, xs[0], piece.rows[0])
        if piece.kind == "gradients":
            with torch.inference_mode(False):  # the estimators differentiate through the decoder
                return gradient_studies(model, xs[0], STUDY_NS, piece.repeat)
        mu = encode_dataset(model, x)[0].numpy()
        if piece.kind == "codes":
            return mu
        if piece.kind == "projection":
            return project(mu, piece.method)  # type: ignore[arg-type]
    raise ValueError(f"unknown piece kind {piece.kind!r}")


# -- on disk: plain tensors, lists and numbers, read back with weights_only=True ---------------


KINDS = {  # the dataclasses stored, by their tag
    "__posterior__": PosteriorView,
    "__jensen__": JensenView,
    "__identity__": Identity,
    "__study__": GradientStudy,
}


def _encode(value: Any) -> Any:
    for tag, kind in KINDS.items():
        if isinstance(value, kind):
            return {tag: {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v) for v in value]}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.numpy()
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in KINDS:
        ((tag, fields),) = value.items()
        return KINDS[tag](**{k: _decode(v) for k, v in fields.items()})
    if isinstance(value, dict) and "__tuple__" in value:
        return tuple(_decode(v) for v in value["__tuple__"])
    if isinstance(value, dict):
        return {k: _decode(v) for k, v in value.items()}
    return value


def read_views(entry: Path, config: RunConfig) -> dict[str, Any]:
    """The stored pieces of a cache entry by name; empty where there are none, where the file is
    damaged or of another version (then they are computed again: never an error)."""
    path = Path(entry) / VIEWS_FILE
    if not path.exists():
        return {}
    try:
        stored = torch.load(path, weights_only=True)
        if stored.get("version") != VIEWS_VERSION or stored.get("key") != config_key(config):
            return {}
        return {name: _decode(value) for name, value in stored["pieces"].items()}
    except Exception as e:  # a damaged file is a cache miss
        log.warning("stored views %s unreadable (%s: %s); they will be computed again", path, type(e).__name__, e)
        return {}


def write_views(entry: Path, config: RunConfig, pieces: dict[str, Any]) -> str:
    """Store pieces (merged with what is there) through a temp file and a rename, so a reader
    sees the old file or the new one. Returns "" or why it could not (a read-only, full folder)."""
    entry = Path(entry)
    merged = {**read_views(entry, config), **pieces}
    tmp = entry / f".{VIEWS_FILE}.{uuid.uuid4().hex}.tmp"
    encoded = {k: _encode(v) for k, v in merged.items()}
    payload = {"version": VIEWS_VERSION, "key": config_key(config), "pieces": encoded}
    try:
        torch.save(payload, tmp)
        os.replace(tmp, entry / VIEWS_FILE)
        return ""
    except (OSError, RuntimeError) as e:  # torch reports a full disk or a missing folder as RuntimeError
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e).splitlines()[0]
        return f"the views could not be stored in {entry} ({why}); they stay in memory"
