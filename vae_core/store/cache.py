"""A disk cache of trained models keyed by their config, and the one-file model format.

An entry is a folder ``<root>/<key>/`` holding ``config.json``, ``weights.pt``,
``checkpoints.pt`` (the weights at a few epochs), ``history.json`` and ``metrics.json``,
where ``key`` hashes the canonical JSON of the config together with ``CACHE_VERSION``. An
entry is written into a temporary folder and renamed into place, so a reader sees either
nothing or a whole entry. A file lock per key makes a second process that asks for the same
config wait for the first one's result instead of training it again. An entry that fails to
load is moved aside (kept as ``.damaged-<key>-<id>`` for a post-mortem) and retrained.
Tensors are read with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import shutil
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock

from vae_core.config import RunConfig
from vae_core.data.datasets import Dataset, load_dataset
from vae_core.data.download import user_folder
from vae_core.vae.fast_step import time_step
from vae_core.vae.model import VAE, build_model
from vae_core.vae.precision import PrecisionChooser
from vae_core.vae.train import EpochInfo, StepInfo, train

CACHE_VERSION = 4  # 2: entries keep checkpoints; 3: the hand-written (bf16) step; 4: TrainConfig.kl_estimator
MODEL_FORMAT = "vae-latent-lab/model/1"
ENTRY_FILES = ("config.json", "weights.pt", "checkpoints.pt", "history.json", "metrics.json")


@dataclass
class TrainedModel:
    """A model with the config that made it, its training history and final metrics."""

    model: VAE
    config: RunConfig
    history: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    from_cache: bool = False
    path: Path | None = None
    checkpoints: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)  # epoch -> weights

    def model_at(self, epoch: int) -> VAE:
        """The model as it was at the end of ``epoch`` (0: initial weights); see ``checkpoints``."""
        return _load_weights(self.config, self.checkpoints[epoch])


def default_cache_root() -> Path:
    """``$VAE_LAB_CACHE``, else a per-user cache folder."""
    return user_folder("VAE_LAB_CACHE", "models")


PRECISION_FILE = ".precision.json"  # this machine's measured fp32/bf16 decisions (vae/precision.py)


@functools.cache
def _chooser(path: Path) -> PrecisionChooser:
    return PrecisionChooser(time_step, path)


def machine_chooser(root: str | Path | None = None) -> PrecisionChooser:
    """How ``precision="auto"`` trains on this machine: measured once, kept beside the models in
    ``<cache root>/.precision.json`` so that a config trains the same way every time here."""
    return _chooser((Path(root) if root is not None else default_cache_root()) / PRECISION_FILE)


def config_key(config: RunConfig) -> str:
    payload = f"{CACHE_VERSION}:{config.to_json()}".encode()
    return hashlib.sha256(payload).hexdigest()[:20]


def entry_dir(config: RunConfig, root: str | Path | None = None) -> Path:
    return (Path(root) if root is not None else default_cache_root()) / config_key(config)


def lookup(config: RunConfig, root: str | Path | None = None) -> TrainedModel | None:
    """The cached model for this config, or None (a damaged entry is moved aside)."""
    folder = entry_dir(config, root)
    if not folder.exists():
        return None
    try:
        return _read_entry(folder, config)
    except Exception:  # any damage at all means: not cached
        _discard(folder)
        return None


def get_or_train(
    config: RunConfig,
    root: str | Path | None = None,
    *,
    data: Dataset | None = None,
    data_root: str | Path | None = None,
    on_step: Callable[[StepInfo], None] | None = None,
    on_epoch: Callable[[EpochInfo], None] | None = None,
    on_model: Callable[[VAE], None] | None = None,
    stop_event: threading.Event | None = None,
) -> TrainedModel:
    """The cached model for ``config``, training and storing it first if needed.

    ``on_model`` receives the model before training starts, for viewers of the changing
    weights. Only a run that completed is stored; a stopped or diverged run is returned (see
    ``metrics["status"]``) and leaves the cache as it was.
    """
    cached = lookup(config, root)
    if cached is not None:
        return cached
    folder = entry_dir(config, root)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        cached = lookup(config, root)  # another process may have finished it while we waited
        if cached is not None:
            return cached
        if data is None:
            data = load_dataset(config.dataset, data_root)
        model = build_model(config.model, config.train.seed)
        if on_model is not None:
            on_model(model)
        auto = machine_chooser(root)  # how precision="auto" trains on this machine
        result = train(
            model, data, config.train, on_step=on_step, on_epoch=on_epoch, chooser=auto, stop_event=stop_event
        )
        trained = TrainedModel(model, config, result.history(), result.metrics(), checkpoints=result.checkpoints)
        if result.status == "completed":
            _write_entry(folder, trained)
            trained.path = folder
        return trained


def cached_configs(root: str | Path | None = None) -> list[RunConfig]:
    """Configs with a model in the cache, newest first (unreadable entries are skipped)."""
    folder = Path(root) if root is not None else default_cache_root()
    found: list[tuple[float, RunConfig]] = []
    for path in folder.glob("*/config.json") if folder.is_dir() else ():
        if path.parent.name.startswith("."):
            continue
        try:
            found.append((path.stat().st_mtime, RunConfig.from_dict(json.loads(path.read_text()))))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return [c for _, c in sorted(found, key=lambda t: -t[0])]


def _write_entry(folder: Path, trained: TrainedModel) -> None:
    tmp = folder.with_name(f".tmp-{folder.name}-{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    try:
        (tmp / "config.json").write_text(json.dumps(trained.config.to_dict(), indent=1))
        torch.save(trained.model.state_dict(), tmp / "weights.pt")
        torch.save({str(e): w for e, w in trained.checkpoints.items()}, tmp / "checkpoints.pt")
        (tmp / "history.json").write_text(json.dumps(trained.history))
        (tmp / "metrics.json").write_text(json.dumps(trained.metrics, indent=1))
        if folder.exists():  # a damaged entry we could not read; make room
            _discard(folder)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _read_entry(folder: Path, config: RunConfig) -> TrainedModel:
    stored = RunConfig.from_dict(json.loads((folder / "config.json").read_text()))
    if stored != config:
        raise ValueError(f"{folder} holds a different config")
    metrics = json.loads((folder / "metrics.json").read_text())
    if metrics.get("status") != "completed" or not math.isfinite(metrics.get("test_elbo", math.nan)):
        raise ValueError(f"{folder} holds an unfinished or diverged run")
    model = _load_weights(config, torch.load(folder / "weights.pt", weights_only=True))
    history = json.loads((folder / "history.json").read_text())
    checkpoints = _checkpoints(config, torch.load(folder / "checkpoints.pt", weights_only=True))
    return TrainedModel(model, config, history, metrics, from_cache=True, path=folder, checkpoints=checkpoints)


def _checkpoints(config: RunConfig, stored: dict[str, dict[str, torch.Tensor]]) -> dict[int, dict[str, torch.Tensor]]:
    checkpoints = {int(e): w for e, w in stored.items()}
    for weights in checkpoints.values():
        _load_weights(config, weights)  # each must fit the model, like the final weights
    return checkpoints


def _load_weights(config: RunConfig, state: dict[str, torch.Tensor]) -> VAE:
    model = VAE(config.model)
    model.load_state_dict(state)  # strict: a missing or misshapen tensor is an error
    if not all(torch.isfinite(p).all() for p in model.parameters()):
        raise ValueError("weights are not finite")
    return model.eval()


def _discard(folder: Path) -> None:
    """Move a damaged entry out of the way: kept beside the cache as ``.damaged-<key>-<id>`` for a
    post-mortem (every listing skips dot folders), the latest one per key only, or deleted if it
    cannot be moved."""
    for older in folder.parent.glob(f".damaged-{folder.name}-*"):
        shutil.rmtree(older, ignore_errors=True)
    target = folder.with_name(f".damaged-{folder.name}-{uuid.uuid4().hex[:8]}")
    try:
        os.replace(folder, target)
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)


def save_model(trained: TrainedModel, path: str | Path) -> Path:
    """One self-contained file (config, weights, history, metrics), written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": MODEL_FORMAT,
        "config": trained.config.to_json(),
        "state_dict": trained.model.state_dict(),
        "checkpoints": {str(e): w for e, w in trained.checkpoints.items()},
        "history": json.dumps(trained.history),
        "metrics": json.dumps(trained.metrics),
    }
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_model(path: str | Path) -> TrainedModel:
    """Read a file written by ``save_model`` (or ``train --out``); ValueError if it is not one."""
    path = Path(path)
    try:
        payload = torch.load(path, weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
            raise ValueError("not a VAE Latent Lab model file")
        config = RunConfig.from_dict(json.loads(payload["config"]))
        model = _load_weights(config, payload["state_dict"])
        history, metrics = json.loads(payload["history"]), json.loads(payload["metrics"])
        checkpoints = _checkpoints(config, payload.get("checkpoints", {}))
    except FileNotFoundError:
        raise
    except Exception as e:
        raise ValueError(f"{path} is not a readable model file: {e}") from e
    return TrainedModel(model, config, history, metrics, path=path, checkpoints=checkpoints)
