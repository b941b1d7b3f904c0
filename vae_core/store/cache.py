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

import contextlib
import errno
import functools
import hashlib
import json
import logging
import math
import os
import shutil
import threading
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock, Timeout

from vae_core.config import RunConfig
from vae_core.data.datasets import Dataset, load_dataset
from vae_core.data.download import user_folder
from vae_core.vae.fast_step import time_step
from vae_core.vae.model import VAE, build_model
from vae_core.vae.precision import PrecisionChooser
from vae_core.vae.schedule import Controls, with_schedule
from vae_core.vae.snapshots import Recorder
from vae_core.vae.train import EpochInfo, StepInfo, train

log = logging.getLogger(__name__)

CACHE_VERSION = 4  # 2: entries keep checkpoints; 3: the hand-written (bf16) step; 4: TrainConfig.kl_estimator
MODEL_FORMAT = "vae-latent-lab/model/1"
ENTRY_FILES = ("config.json", "weights.pt", "checkpoints.pt", "history.json", "metrics.json")
SNAPSHOTS_FILE = "snapshots.pt"  # optional, versioned inside (vae/snapshots.py)
DAMAGE_FILE = "DAMAGE.txt"  # in a moved-aside entry: why it could not be read


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
    snapshots: dict[str, Any] | None = None  # a fresh run's replay (snapshots.py); the cache's: SNAPSHOTS_FILE
    save_error: str = ""  # a completed run the cache could not store: why, in words ("the cache folder is full …")

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
    except Exception as e:  # any damage at all means: not cached
        log.warning("cache entry %s is damaged (%s: %s); moved aside", folder, type(e).__name__, e)
        _discard(folder, f"{type(e).__name__}: {e}")
        return None


def usable(config: RunConfig, root: str | Path | None = None) -> bool:
    """Whether the cache holds a whole entry for this config, checked cheaply (no tensor is read):
    every file, the same config, a completed run, ``.pt`` files whose zip directory reads. ``lookup``
    reads the entry in full, and moves it aside if it is damaged after all."""
    folder = entry_dir(config, root)
    try:
        if RunConfig.from_dict(json.loads((folder / "config.json").read_text())) != config:
            return False
        _check_metrics(json.loads((folder / "metrics.json").read_text()))
        for name in ("weights.pt", "checkpoints.pt"):
            with zipfile.ZipFile(folder / name) as archive:
                archive.namelist()
        return (folder / "history.json").is_file()
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
        return False


def get_or_train(
    config: RunConfig,
    root: str | Path | None = None,
    *,
    data: Dataset | None = None,
    data_root: str | Path | None = None,
    on_step: Callable[[StepInfo], None] | None = None,
    on_epoch: Callable[[EpochInfo], None] | None = None,
    on_model: Callable[[VAE], None] | None = None,
    on_wait: Callable[[], None] | None = None,
    stop_event: threading.Event | None = None,
    controls: Controls | None = None,
    cores: Callable[[], int] | None = None,
) -> TrainedModel:
    """The cached model for ``config``, training and storing it first if needed.

    ``on_model`` receives the model before training starts, for viewers of the changing
    weights; ``on_wait`` is called when another process holds this config's lock (it trains it),
    before waiting for its result. Only a run that completed is stored; a stopped or diverged run
    is returned (see ``metrics["status"]``) and leaves the cache as it was. A run whose β was
    changed through ``controls`` is stored under its recorded schedule (``schedule.with_schedule``).
    ``cores`` is ``train``'s.
    """
    cached = lookup(config, root)
    if cached is not None:
        return cached
    folder = entry_dir(config, root)
    with _entry_lock(folder, on_wait):
        cached = lookup(config, root)  # another process may have finished it while we waited
        if cached is not None:
            return cached
        if data is None:
            data = load_dataset(config.dataset, data_root)
        model = build_model(config.model, config.train.seed)
        recorder = Recorder.of(config, data)  # the test codes over training, for its replay
        recorder.start(model, then=on_model)
        auto = machine_chooser(root)  # how precision="auto" trains on this machine
        hooks = {"on_epoch": on_epoch, "stop_event": stop_event, "controls": controls, "cores": cores}
        hooks["on_step"] = recorder.wrap(on_step)
        result = train(model, data, config.train, chooser=auto, **hooks)
        config = with_schedule(config, controls.changes if controls else ())  # β changed live: its own key
        trained = TrainedModel(model, config, result.history(), result.metrics(), checkpoints=result.checkpoints)
        trained.snapshots = recorder.result()
        if result.status == "completed":
            store(trained, root)
        return trained


def store(trained: TrainedModel, root: str | Path | None = None) -> None:
    """Write a completed run into the cache under its config's key (``trained.path`` says where),
    or keep it in memory only and say why in ``trained.save_error``."""
    folder = entry_dir(trained.config, root)
    try:
        _write_entry(folder, trained)
        trained.path = folder
    except Exception as e:  # the run is done and good: keep it in memory, say why it is not stored
        log.warning("could not store %s in the cache", folder, exc_info=True)
        trained.save_error = _why_not_saved(e, folder.parent, trained)


def _entry_lock(folder: Path, on_wait: Callable[[], None] | None = None) -> contextlib.AbstractContextManager:
    """The lock for one key, held while it trains; none where the cache folder cannot hold one
    (read-only), so that the run still trains (and says it was not saved)."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(folder) + ".lock")
        try:
            return lock.acquire(timeout=0)
        except Timeout:  # another process trains this config: say so, then wait for its result
            if on_wait is not None:
                on_wait()
            return lock.acquire()
    except OSError as e:
        log.warning("no lock for %s (%s); training without one", folder, e)
        return contextlib.nullcontext()


def _why_not_saved(error: BaseException, root: Path, trained: TrainedModel) -> str:
    """A failed write in words, without a server path: full, read-only, or the error's own words."""
    code = getattr(error, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return "the cache folder is full — nothing was saved"
    if code in (errno.EROFS, errno.EACCES, errno.EPERM):
        return "the cache folder is read-only — nothing was saved"
    tensors = [trained.model.state_dict(), *trained.checkpoints.values()]
    needed = sum(t.numel() * t.element_size() for weights in tensors for t in weights.values())
    with contextlib.suppress(OSError):  # torch.save's own error on a full disk carries no errno
        if shutil.disk_usage(root).free < 2 * needed:
            return "the cache folder is full — nothing was saved"
    what = error.strerror if isinstance(error, OSError) and error.strerror else str(error)[:200]
    return f"the cache folder could not be written ({type(error).__name__}: {what}) — nothing was saved"


def _write_entry(folder: Path, trained: TrainedModel) -> None:
    tmp = folder.with_name(f".tmp-{folder.name}-{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    try:
        (tmp / "config.json").write_text(json.dumps(trained.config.to_dict(), indent=1))
        _save(trained.model.state_dict(), tmp / "weights.pt")
        _save({str(e): w for e, w in trained.checkpoints.items()}, tmp / "checkpoints.pt")
        (tmp / "history.json").write_text(json.dumps(trained.history))
        (tmp / "metrics.json").write_text(json.dumps(trained.metrics, indent=1))
        if trained.snapshots is not None:  # optional: an entry without it has no replay
            _save(trained.snapshots, tmp / SNAPSHOTS_FILE)
        if folder.exists():  # a damaged entry we could not read; make room
            _discard(folder, "replaced by a new run")
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _save(tensors: dict, path: Path) -> None:
    """torch.save into a file we close ourselves: a writer that fails (a full disk) otherwise keeps
    the half-written file open, and its space taken, for as long as its traceback lives."""
    with open(path, "wb") as out:
        torch.save(tensors, out)


def _read_entry(folder: Path, config: RunConfig) -> TrainedModel:
    stored = RunConfig.from_dict(json.loads((folder / "config.json").read_text()))
    if stored != config:
        raise ValueError(f"{folder} holds a different config")
    metrics = _check_metrics(json.loads((folder / "metrics.json").read_text()))
    model = _load_weights(config, torch.load(folder / "weights.pt", weights_only=True))
    history = _check_history(json.loads((folder / "history.json").read_text()), config)
    checkpoints = _checkpoints(config, torch.load(folder / "checkpoints.pt", weights_only=True))
    return TrainedModel(model, config, history, metrics, from_cache=True, path=folder, checkpoints=checkpoints)


def _check_metrics(metrics: Any) -> dict[str, Any]:
    if not isinstance(metrics, dict) or metrics.get("status") != "completed":
        raise ValueError("metrics.json holds an unfinished run")
    if not isinstance(metrics.get("test_elbo"), float | int) or not math.isfinite(metrics["test_elbo"]):
        raise ValueError("metrics.json holds a diverged run")
    return metrics


def _check_history(history: Any, config: RunConfig) -> dict[str, Any]:
    """A stored history whose every row a page can draw: ``{"steps": [...], "epochs": [...]}``,
    rows with StepInfo's / EpochInfo's fields, numbers where numbers belong, a KL per dimension."""
    if not isinstance(history, dict) or not all(isinstance(history.get(k), list) for k in ("steps", "epochs")):
        raise ValueError("history.json is not a run's history")
    if not history["epochs"]:
        raise ValueError("history.json has no epochs")
    for kind, rows in ((StepInfo, history["steps"]), (EpochInfo, history["epochs"])):
        for row in rows:
            _check_row(kind, row)
    if any(len(row["kl_per_dim"]) != config.model.latent_dim for row in history["epochs"]):
        raise ValueError("history.json's KL per dimension does not fit the model")
    return history


def _check_row(kind: type, row: Any) -> None:
    names = {f.name for f in fields(kind)}
    required = {f.name for f in fields(kind) if f.default is MISSING}
    if not isinstance(row, dict) or not required <= row.keys() <= names:
        raise ValueError(f"history.json has a bad {kind.__name__} row: {row!r:.80}")
    for key, value in row.items():
        values = value if key == "kl_per_dim" and isinstance(value, list) else [value]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            raise ValueError(f"history.json has a bad {kind.__name__} row: {key} = {value!r:.80}")


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


def _discard(folder: Path, reason: str) -> None:
    """Move a damaged entry out of the way: kept beside the cache as ``.damaged-<key>-<id>`` for a
    post-mortem (every listing skips dot folders) with the reason in its DAMAGE_FILE, the latest
    one per key only, or deleted if it cannot be moved."""
    for older in folder.parent.glob(f".damaged-{folder.name}-*"):
        shutil.rmtree(older, ignore_errors=True)
    target = folder.with_name(f".damaged-{folder.name}-{uuid.uuid4().hex[:8]}")
    try:
        os.replace(folder, target)
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)
        return
    with contextlib.suppress(OSError):
        (target / DAMAGE_FILE).write_text(reason + "\n")


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
