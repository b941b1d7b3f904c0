"""Views computed off the web server's script thread: one queue of pieces per server process,
run by a worker process on the cores the server does not need.

A page says which pieces it wants now (``want``); what is known (stored with the model, or
computed earlier by any session) comes back at once, and the rest is queued. A session's later
``want`` replaces its earlier one: pieces nobody wants any more leave the queue, so a change of
test image cancels the stale work instead of queueing behind it (a piece already running
finishes, and is kept). The background ``build`` of a completed model's standard views
(``stored.standard_pieces``), which, once the queue for that model is empty, are written into
its cache entry, runs in a lane of its own: its own worker process at the lowest CPU priority,
so that a page's piece never waits behind a build piece (up to 2.7 s each on MNIST) and the
build takes only the CPU time nobody else wants. A page that wants a queued build piece moves it
to the interactive lane. The server may hold the build while something else needs the cores
(``hold_builds``: while a run trains here, so that the run after a run is not slowed by its
predecessor's build). A worker loads the model from the cache by its config, so only names
and numbers cross the process boundary; the interactive one does so (with the test set) when a
page first asks about the model, so that a new image's first piece does not wait for it.

``VAE_LAB_VIEW_WORKERS`` sets the number of interactive worker processes (default 1; 0 computes
in background threads of this process instead, one a lane), ``VAE_LAB_VIEW_THREADS`` torch's
threads in each (default: the cores less one for the server). The build lane has one worker.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import itertools
import logging
import multiprocessing
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vae_core.config import RunConfig
from vae_core.store.backends import without_main
from vae_core.store.cache import TrainedModel, config_key, entry_dir
from vae_core.views import view_worker
from vae_core.views.stored import Piece, fits, read_views, standard_pieces, write_views

log = logging.getLogger(__name__)

MODELS_KEPT = 16  # models whose values stay in memory (each a few MB at most)
RETRY = 60.0  # seconds before a failed piece is tried again
BUILD = 1  # priority of the background build (its own lane); interactive pieces are 0
HOLD_POLL = 1.0  # seconds between two looks of a held build lane at whether it may go on
NICE = {"interactive": 5, "build": 19}  # the workers' niceness: the server's requests first
LANES = tuple(NICE)


@dataclass(frozen=True)
class ModelRef:
    """A completed model in a cache folder: what a worker needs to load it."""

    root: str
    config: RunConfig

    @property
    def key(self) -> str:
        return config_key(self.config)

    @property
    def entry(self) -> Path:
        return entry_dir(self.config, self.root)


def model_ref(trained: TrainedModel) -> ModelRef | None:
    """The reference of a model read from (or stored in) the cache; None for a live, stopped or
    unsaved run, whose views the page computes itself."""
    if trained.path is None or trained.metrics.get("status") != "completed" or trained.save_error:
        return None
    return ModelRef(str(Path(trained.path).parent), trained.config)


@dataclass
class _Item:
    priority: int
    order: int
    ref: ModelRef
    piece: Piece
    owners: set[str] = field(default_factory=set)


@dataclass
class _Model:
    values: dict[str, Any]
    errors: dict[str, tuple[str, float]] = field(default_factory=dict)  # name -> (why, when)
    unsaved: set[str] = field(default_factory=set)
    save_problem: str = ""


class ViewService:
    """The per-server queue of view pieces (see the module's docstring)."""

    def __init__(self, workers: int | None = None, threads: int | None = None):
        env = os.environ.get("VAE_LAB_VIEW_WORKERS")
        self.workers = max(0, int(env) if workers is None and env else 1 if workers is None else workers)
        self.threads = threads or int(os.environ.get("VAE_LAB_VIEW_THREADS", 0)) or max(1, (os.cpu_count() or 2) - 1)
        self._cond = threading.Condition()
        self._queue: dict[tuple[str, str], _Item] = {}
        self._running: dict[tuple[str, str], set[str]] = {}  # -> owners
        self._models: OrderedDict[str, _Model] = OrderedDict()
        self._order = itertools.count()
        self._executors: dict[str, ProcessPoolExecutor] = {}  # by lane
        self._threads: list[threading.Thread] = []
        self._prepared: set[str] = set()  # models the worker was asked to load
        self._held: Callable[[], bool] = lambda: False
        self._closed = False

    # -- what pages call ---------------------------------------------------------------------

    def want(self, owner: str, ref: ModelRef, pieces: list[Piece], priority: int = 0) -> dict[str, Any]:
        """The known values of ``pieces`` by name (missing ones absent); the rest is queued for
        ``owner``, whose earlier wishes that are not among ``pieces`` are dropped."""
        self._prepare(ref)  # before the first piece reaches the worker
        with self._cond:
            state = self._model(ref)
            names = {p.name for p in pieces}
            for key, item in list(self._queue.items()):
                if owner in item.owners and key[1] not in names:
                    item.owners.discard(owner)
                    if not item.owners:
                        del self._queue[key]
            for p in pieces:
                key = (ref.key, p.name)
                if p.name in state.values or time.monotonic() - state.errors.get(p.name, ("", -RETRY))[1] < RETRY:
                    continue
                if key in self._running:
                    self._running[key].add(owner)
                    continue
                item = self._queue.setdefault(key, _Item(priority, next(self._order), ref, p))
                item.owners.add(owner)
                if priority < item.priority:
                    item.priority, item.order = priority, next(self._order)
            self._start()
            self._cond.notify_all()
            return {p.name: state.values[p.name] for p in pieces if p.name in state.values}

    def known(self, ref: ModelRef, pieces: list[Piece]) -> dict[str, Any]:
        """The known values of ``pieces`` by name, queueing nothing."""
        with self._cond:
            values = self._model(ref).values
            return {p.name: values[p.name] for p in pieces if p.name in values}

    def errors(self, ref: ModelRef, pieces: list[Piece]) -> dict[str, str]:
        with self._cond:
            state = self._model(ref)
            return {p.name: state.errors[p.name][0] for p in pieces if p.name in state.errors}

    def wait(self, ref: ModelRef, pieces: list[Piece], timeout: float) -> bool:
        """Block up to ``timeout`` seconds until every one of ``pieces`` is known or has failed;
        whether they all are. For a page whose view is due in a moment: drawn in this run, not
        after a "refining" line and the next poll."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                state = self._model(ref)
                if all(p.name in state.values or p.name in state.errors for p in pieces):
                    return True
                left = end - time.monotonic()
                if left <= 0 or self._closed:
                    return False
                self._cond.wait(left)

    def pending(self, owner: str) -> int:
        """Pieces queued for ``owner`` or running."""
        with self._cond:
            waiting = [item.owners for item in self._queue.values()] + list(self._running.values())
            return sum(owner in owners for owners in waiting)

    def busy(self, ref: ModelRef, pieces: list[Piece]) -> bool:
        """Whether any of ``pieces`` is queued or running."""
        with self._cond:
            keys = {(ref.key, p.name) for p in pieces}
            return bool(keys & (set(self._queue) | set(self._running)))

    def build(self, ref: ModelRef, trained: TrainedModel, n_test: int) -> int:
        """Queue, behind every interactive piece, the standard pieces this model lacks (a
        completed run's, or a cached model's that was made before they existed). Returns how
        many were missing."""
        pieces = [p for p in standard_pieces(trained) if fits(p, n_test)]
        known = self.want(f"build:{ref.key}", ref, pieces, priority=BUILD)
        return len(pieces) - len(known)

    def hold_builds(self, held: Callable[[], bool]) -> None:
        """Start no build piece while ``held()`` is true (looked at every ``HOLD_POLL`` seconds); a
        page's pieces, and build pieces a page wants, are never held. A piece already running
        finishes."""
        with self._cond:
            self._held = held
            self._cond.notify_all()

    def put(self, ref: ModelRef, piece: Piece, value: Any) -> None:
        """A value a page computed itself (a cheap piece, done inline): kept like the others."""
        with self._cond:
            state = self._model(ref)
            state.values[piece.name] = value
            state.unsaved.add(piece.name)

    def save_problem(self, ref: ModelRef) -> str:
        with self._cond:
            return self._model(ref).save_problem

    def warm(self) -> None:
        """Start the worker process now (it imports torch: seconds), not at the first request;
        never from a process that is itself still starting (it may be importing the app)."""
        if self.workers and not getattr(multiprocessing.current_process(), "_inheriting", False):
            self._submit(view_worker.warm)

    def close(self, timeout: float = 60.0) -> None:
        """Drop the queue, let the running pieces finish (and be stored), and wait for the lanes'
        threads: one left inside torch (a torch.save of the views) when the interpreter exits
        aborts the whole process."""
        with self._cond:
            self._closed = True
            self._queue.clear()
            self._cond.notify_all()
        for lane in LANES:
            if (executor := self._executors.pop(lane, None)) is not None:
                executor.shutdown(wait=True, cancel_futures=True)
        end = time.monotonic() + timeout
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(max(0.0, end - time.monotonic()))

    # -- inside ------------------------------------------------------------------------------

    def _model(self, ref: ModelRef) -> _Model:
        state = self._models.get(ref.key)
        if state is None:
            state = self._models[ref.key] = _Model(read_views(ref.entry, ref.config))
            while len(self._models) > MODELS_KEPT:
                self._models.popitem(last=False)
        self._models.move_to_end(ref.key)
        return state

    def _prepare(self, ref: ModelRef) -> None:
        """Have the worker load a model and its test set the first time a page asks about it, so
        that the first piece it computes (a new test image's) does not wait for them."""
        with self._cond:
            if not self.workers or self._closed or ref.key in self._prepared:
                return
            self._prepared.add(ref.key)
        with contextlib.suppress(BrokenProcessPool, RuntimeError):  # a warm-up: a piece reports failures
            self._submit(view_worker.prepare, ref.root, ref.config)

    def _start(self) -> None:
        lanes = ["interactive"] * max(1, self.workers) + ["build"]
        while len(self._threads) < len(lanes):
            lane = lanes[len(self._threads)]
            t = threading.Thread(target=self._loop, args=(lane,), name=f"view-{lane}-{len(self._threads)}", daemon=True)
            self._threads.append(t)
            t.start()

    def _next(self, lane: str) -> _Item | None:
        def mine() -> list[_Item]:
            return [i for i in self._queue.values() if (i.priority >= BUILD) == (lane == "build")]

        with self._cond:
            while not self._closed:
                if (items := mine()) and not (lane == "build" and self._held()):
                    break
                self._cond.wait(HOLD_POLL if items else None)
            if self._closed:
                return None
            item = min(items, key=lambda i: (i.priority, i.order))
            key = (item.ref.key, item.piece.name)
            del self._queue[key]
            self._running[key] = item.owners
            return item

    def _loop(self, lane: str) -> None:
        if lane == "build" and self.workers == 0:  # a thread of the server: this thread alone (Linux)
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE[lane])
        while (item := self._next(lane)) is not None:
            key = (item.ref.key, item.piece.name)
            try:
                value, error = self._run(item, lane), ""
            except RuntimeError as e:
                if "shutdown" in str(e):  # the interpreter is exiting: nothing more to do
                    return
                value, error = None, f"{type(e).__name__}: {e}"
            except Exception as e:  # the page shows it; the server goes on
                value, error = None, f"{type(e).__name__}: {e}"
                log.warning("view piece %s of %s failed: %s", item.piece.name, item.ref.key, error)
            with self._cond:
                self._running.pop(key, None)
                state = self._model(item.ref)
                if error:
                    state.errors[item.piece.name] = (error, time.monotonic())
                else:
                    state.values[item.piece.name] = value
                    state.unsaved.add(item.piece.name)
                done = not any(k[0] == item.ref.key for k in (*self._queue, *self._running))
                self._cond.notify_all()
            if done:
                self._persist(item.ref)

    def _run(self, item: _Item, lane: str) -> Any:
        if self.workers == 0:
            return view_worker.work(item.ref.root, item.ref.config, item.piece)
        for attempt in range(2):  # a worker that died is replaced once
            try:
                return self._submit(view_worker.work, item.ref.root, item.ref.config, item.piece, lane=lane).result()
            except BrokenProcessPool:
                with self._cond:
                    self._executors.pop(lane, None)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _submit(self, fn, *args, lane: str = "interactive") -> Future:
        """Submit to a lane's pool; a worker it starts on the way must not import the server's
        ``__main__`` (under Streamlit that is the app script, which would start the app again)."""
        pool = self._pool(lane)
        with without_main():
            return pool.submit(fn, *args)

    def _pool(self, lane: str) -> ProcessPoolExecutor:
        with self._cond:
            if lane not in self._executors:
                self._executors[lane] = ProcessPoolExecutor(
                    self.workers if lane == "interactive" else 1,
                    mp_context=multiprocessing.get_context("spawn"),  # the server has threads: never fork
                    initializer=view_worker.init,
                    initargs=(self.threads, NICE[lane]),
                )
            return self._executors[lane]

    def _persist(self, ref: ModelRef) -> None:
        with self._cond:
            state = self._model(ref)
            fresh = {name: state.values[name] for name in state.unsaved}
            state.unsaved.clear()
        if fresh and not state.save_problem:
            state.save_problem = write_views(ref.entry, ref.config, fresh)


@functools.cache
def view_service() -> ViewService:
    """The one service of this process (the pages share it across sessions), its worker started."""
    service = ViewService()
    service.warm()
    atexit.register(service.close)  # before the interpreter stops its threads mid-save
    return service
