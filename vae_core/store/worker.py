"""What runs in a worker process (or a Ray actor): one training run, told back as small records.

``run_job`` trains through ``get_or_train`` (a β sweep's members together, through ``run_sweep``),
so the cache's cross-process lock (a second server on the same cache waits for the first one's
result) and its write into a temporary folder renamed into place apply unchanged.
It sends records through any ``send`` callable:

    ("status", "running" | "waiting")     the run has its data / another process trains it
    ("step", StepInfo as a dict)           every optimizer step
    ("epoch", EpochInfo as a dict)         every epoch
    ("weights", bytes)                     torch.save'd state_dict, every PUBLISH_SECONDS
    ("failed", message)  or  ("done", payload)    the last record

A sweep sends ("members", [(step, total steps) per member]) a few times a second, ("member_epoch",
(member, EpochInfo as a dict)) and, last, ("done", [a summary per member]): its models go into
the cache, not through the pipe.

and reads ``Controls``: a stop event, the thread count to use from the next step, and any other
named value a training loop may read while it runs (a live β, say). ``worker_main`` is the local
process's entry point: controls arrive on a pipe, and a closed pipe (the server has gone, even by
SIGKILL) stops the run, so no worker outlives its server by more than a step. Nothing here knows
about Streamlit.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import torch

from vae_core.config import RunConfig
from vae_core.data.datasets import load_dataset
from vae_core.store.cache import TrainedModel, config_key, get_or_train, lookup
from vae_core.store.sweeps import member_summary, run_sweep
from vae_core.store.tuner import ThreadTuner
from vae_core.vae import schedule
from vae_core.vae.model import VAE
from vae_core.vae.train import EpochInfo, StepInfo

PUBLISH_SECONDS = 0.5  # how often a worker sends its weights for the live views
SWEEP_STEPS_SECONDS = 0.25  # how often a sweep's worker sends its members' step counts
Record = tuple[str, Any]
Send = Callable[[Record], None]


@dataclass(frozen=True)
class JobSpec:
    """Everything a worker needs, as plain picklable data."""

    config: RunConfig
    root: str  # the cache folder, resolved by the server (a worker's environment may be older)
    threads: int  # torch threads to start with
    env: Mapping[str, str] = field(default_factory=dict)  # the server's VAE_LAB_* settings
    controls: Mapping[str, Any] = field(default_factory=dict)  # sent before the worker started
    sweep: tuple[RunConfig, ...] = ()  # a β sweep's members, trained together (``config`` is the first)


class Controls:
    """What the job's owner may change while a run trains; safe to use from any thread."""

    def __init__(self, values: Mapping[str, Any] | None = None):
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._values: dict[str, Any] = {}
        self._pending: dict[str, Any] = {}
        self.update(values or {})

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply a control record: ``{"stop": True}`` sets the stop event, anything else is kept."""
        if changes.get("stop"):
            self.stop.set()
        with self._lock:
            rest = {k: v for k, v in changes.items() if k != "stop"}
            self._values.update(rest)
            self._pending.update(rest)

    def get(self, name: str, default: Any = None) -> Any:
        """The latest value of a named control (e.g. ``"beta"``), or ``default``."""
        with self._lock:
            return self._values.get(name, default)

    def take(self, name: str) -> Any:
        """A value that arrived since it was last taken, else None (for changes applied once)."""
        with self._lock:
            return self._pending.pop(name, None)


def run_job(spec: JobSpec, send: Send, controls: Controls) -> None:
    """Train ``spec.config`` (or ``spec.sweep``) into the cache at ``spec.root``, telling ``send``
    how it goes."""
    tuner = ThreadTuner(spec.threads, torch.set_num_threads)
    torch.set_num_threads(tuner.threads)
    if spec.sweep:
        run_sweep_job(spec, send, controls, tuner)
        return
    live = schedule.Controls()  # the loop's own: a β sent here is taken from the next step on
    reporter = _Reporter(send, controls, config_key(spec.config), live, tuner)
    try:
        trained = lookup(spec.config, spec.root)
        if trained is None:
            data = load_dataset(spec.config.dataset, download_missing=False)  # a worker never goes online
            trained = get_or_train(
                spec.config,
                spec.root,
                data=data,
                on_step=reporter.on_step,
                on_epoch=reporter.on_epoch,
                on_model=reporter.on_model,
                on_wait=lambda: send(("status", "waiting")),
                stop_event=controls.stop,
                controls=live,
                cores=lambda: tuner.limit,  # the pool's share; the steps may use fewer (the tuner's choice)
            )
    except Exception as e:  # a broken dataset or a full disk ends the run, with the reason
        send(("failed", f"{type(e).__name__}: {e}"))
        return
    send(("done", pack(trained)))


def run_sweep_job(spec: JobSpec, send: Send, controls: Controls, tuner: ThreadTuner) -> None:
    """Train the members of ``spec.sweep`` that the cache lacks together, each stored as its own
    entry; the records say how each member goes."""
    steps = [(0, 0)] * len(spec.sweep)
    last, tuned = 0.0, 0

    def on_step(member: int, info: StepInfo) -> None:
        nonlocal last, tuned
        if info.step != tuned:  # once a step (every member reports each step)
            tuned = info.step
            tune(controls, tuner)
        steps[member] = (info.step, info.total_steps)
        if time.perf_counter() - last > SWEEP_STEPS_SECONDS:
            last = time.perf_counter()
            send(("members", list(steps)))

    def on_epoch(member: int, info: EpochInfo) -> None:
        send(("member_epoch", (member, asdict(info))))

    try:
        data = load_dataset(spec.config.dataset, download_missing=False)
        keys = ", ".join(config_key(c) for c in spec.sweep)
        print(f"vae-lab: worker {os.getpid()} trains a sweep of {keys}", file=sys.stderr, flush=True)
        send(("status", "running"))
        trained = run_sweep(
            spec.sweep, spec.root, data=data, on_step=on_step, on_epoch=on_epoch, stop_event=controls.stop
        )
    except Exception as e:  # a broken dataset or a full disk ends the sweep, with the reason
        send(("failed", f"{type(e).__name__}: {e}"))
        return
    send(("done", [member_summary(t) for t in trained]))


class _Reporter:
    """The callbacks of one run: records out, thread-count changes in, weights every so often."""

    def __init__(self, send: Send, controls: Controls, key: str, live: schedule.Controls, tuner: ThreadTuner):
        self.send, self.controls, self.key, self.live, self.tuner = send, controls, key, live, tuner
        self.changes: tuple[tuple[int, float], ...] = ()
        self.model: VAE | None = None
        self.last_publish = 0.0

    def on_model(self, model: VAE) -> None:
        self.model = model
        print(f"vae-lab: worker {os.getpid()} trains {self.key}", file=sys.stderr, flush=True)  # the server's log
        self.send(("status", "running"))

    def on_step(self, info: StepInfo) -> None:
        tune(self.controls, self.tuner)
        beta = self.controls.take("beta")
        if beta is not None:  # a live β: the loop takes it before the next step
            self.live.set(beta=float(beta))
        if self.live.changes != self.changes:
            self.changes = self.live.changes
            self.send(("beta", list(self.changes)))
        self.send(("step", asdict(info)))
        if time.perf_counter() - self.last_publish > PUBLISH_SECONDS:
            self.publish()

    def on_epoch(self, info: EpochInfo) -> None:
        self.send(("epoch", asdict(info)))
        self.publish()

    def publish(self) -> None:
        if self.model is not None:
            self.last_publish = time.perf_counter()
            self.send(("weights", to_bytes(self.model.state_dict())))


def tune(controls: Controls, tuner: ThreadTuner) -> None:
    """After a step: a new share of the cores from the pool (another run started or ended) is the
    tuner's new limit; the tuner may change the thread count."""
    limit = controls.take("threads")
    if limit:
        tuner.set_limit(int(limit))
    tuner.step()


def to_bytes(tensors: Mapping[str, Any]) -> bytes:
    """Tensors as torch.save bytes: plain data through a pipe, not shared-memory handles that die
    with the process that made them."""
    out = io.BytesIO()
    torch.save(dict(tensors), out)
    return out.getvalue()


def from_bytes(data: bytes) -> dict[str, Any]:
    return torch.load(io.BytesIO(data), weights_only=True)


def model_from(config: RunConfig, weights: bytes) -> VAE:
    model = VAE(config.model)
    model.load_state_dict(from_bytes(weights))
    return model.eval()


def pack(trained: TrainedModel) -> dict[str, Any]:
    """A run's result as plain data (the inverse of ``unpack``)."""
    return {
        "weights": to_bytes(trained.model.state_dict()),
        "checkpoints": to_bytes({str(e): w for e, w in trained.checkpoints.items()}),
        "history": trained.history,
        "metrics": trained.metrics,
        "from_cache": trained.from_cache,
        "path": str(trained.path) if trained.path is not None else None,
        "save_error": trained.save_error,
        "config": trained.config,  # a live β's run is saved under its schedule, not the config asked for
    }


def unpack(config: RunConfig, payload: Mapping[str, Any]) -> TrainedModel:
    checkpoints = {int(e): w for e, w in from_bytes(payload["checkpoints"]).items()}
    config = payload.get("config", config)
    return TrainedModel(
        model_from(config, payload["weights"]),
        config,
        payload["history"],
        payload["metrics"],
        from_cache=payload["from_cache"],
        path=Path(payload["path"]) if payload["path"] else None,
        checkpoints=checkpoints,
        save_error=payload["save_error"],
    )


def worker_main(records: Connection, commands: Connection, spec: JobSpec) -> None:
    """A local worker process: train ``spec``, records out on ``records``, controls in on
    ``commands``. Runs at a lower priority, so the web server is served first."""
    os.environ.update(spec.env)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C reaches the whole terminal: the server decides
    with contextlib.suppress(AttributeError, OSError):
        os.nice(10)
    controls = Controls(spec.controls)
    threading.Thread(target=_listen, args=(commands, controls), name="controls", daemon=True).start()
    with contextlib.suppress(BrokenPipeError, EOFError, OSError):  # the server went away: nobody to tell
        run_job(spec, records.send, controls)
    records.close()


def _listen(commands: Connection, controls: Controls) -> None:
    while True:
        try:
            controls.update(commands.recv())
        except (EOFError, OSError):  # the server closed the pipe or died: stop after this step
            controls.stop.set()
            return
