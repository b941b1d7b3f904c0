"""Where a queued run trains: a worker process on this machine (the default), or a thread of
this process (tests that change this process's functions); ``ray_pool`` adds a Ray cluster.
Each launched run is a ``Handle``: records come out of it, controls go in, and it can say why it
ended without a result.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
import signal
import sys
import threading
import types
import weakref
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from vae_core.store.worker import Controls, JobSpec, Record, run_job, worker_main

_LAUNCH = threading.Lock()  # one swap of __main__ at a time


@contextlib.contextmanager
def without_main() -> Iterator[None]:
    """Start processes in here: a 'spawn' or 'forkserver' child imports the parent's ``__main__``,
    which under Streamlit (and AppTest) is the app script. It would run the app again, and start
    processes of its own while bootstrapping. For the moment of a start, ``__main__`` is empty."""
    with _LAUNCH:
        main = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            if main is not None:
                sys.modules["__main__"] = main


class Handle(Protocol):
    """One launched run, seen from the server."""

    def recv(self, timeout: float) -> Record | None:
        """The next record, None if none came within ``timeout``; EOFError once the worker ended."""
        ...

    def send(self, message: Mapping[str, Any]) -> None: ...
    def kill(self) -> None: ...
    def ended_why(self) -> str: ...


class Backend(Protocol):
    local: bool  # runs on this machine's cores (so the pool shares them out)

    def launch(self, spec: JobSpec) -> Handle: ...
    def close(self) -> None: ...


class _Process:
    """A local worker process and its two pipes (records in, controls out)."""

    def __init__(self, ctx: Any, spec: JobSpec):
        self._records, child_records = ctx.Pipe(duplex=False)
        child_commands, self._commands = ctx.Pipe(duplex=False)
        self._send_lock = threading.Lock()
        name = f"vae-lab-worker-{spec.config.dataset}"
        self.process = ctx.Process(
            target=worker_main, args=(child_records, child_commands, spec), name=name, daemon=True
        )
        with without_main():
            self.process.start()
        child_records.close()  # so that our end reads EOF when the worker dies
        child_commands.close()

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def recv(self, timeout: float) -> Record | None:
        if not self._records.poll(timeout):
            return None
        return self._records.recv()

    def send(self, message: Mapping[str, Any]) -> None:
        with self._send_lock, contextlib.suppress(OSError):  # the worker has ended: nothing to tell
            self._commands.send(dict(message))

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)

    def ended_why(self) -> str:
        self.process.join(5)
        code = self.process.exitcode
        if code is None:
            return "it stopped answering"
        if code < 0:
            return f"it was killed by signal {signal.Signals(-code).name}"
        return f"it exited with code {code}"


class LocalBackend:
    """Worker processes on this machine."""

    local = True

    def __init__(self, start_method: str | None = None):
        method = start_method or ("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
        self._ctx = mp.get_context(method)
        # An OpenMP thread that waits spins a short while, then sleeps (read when a worker's torch
        # starts). Sleeping at once made a 10-epoch MNIST run 14.3 s instead of 10.2 s on an idle
        # 2-core machine; spinning without end cost the browser beside it its core. The worker's
        # thread count is then chosen by timing its steps (``tuner``).
        os.environ.setdefault("GOMP_SPINCOUNT", "30000")
        if method == "forkserver":
            self._ctx.set_forkserver_preload(["vae_core.store.worker"])  # torch is imported once, there
        self._live: weakref.WeakSet[_Process] = weakref.WeakSet()

    def warm(self) -> None:
        """Start the forkserver now, in the background: it imports torch once, so that the first
        run does not wait for that (about 2 s) after Start is pressed."""
        if self._ctx.get_start_method() == "forkserver":
            from multiprocessing import forkserver

            with without_main():
                forkserver.ensure_running()

    def launch(self, spec: JobSpec) -> _Process:
        handle = _Process(self._ctx, spec)
        self._live.add(handle)
        return handle

    def close(self) -> None:
        for handle in list(self._live):
            handle.kill()


class _Thread:
    """A run in a thread of this process (``InProcessBackend``), behind the same handle."""

    pid = None

    def __init__(self, spec: JobSpec):
        self._records: queue.Queue[Record] = queue.Queue()
        self._controls = Controls(spec.controls)
        self._thread = threading.Thread(target=self._main, args=(spec,), name="in-process-run", daemon=True)
        self._thread.start()

    def _main(self, spec: JobSpec) -> None:
        run_job(spec, self._records.put, self._controls)
        self._records.put(("end", None))

    def recv(self, timeout: float) -> Record | None:
        try:
            record = self._records.get(timeout=timeout)
        except queue.Empty:
            return None
        if record[0] == "end":
            raise EOFError
        return record

    def send(self, message: Mapping[str, Any]) -> None:
        self._controls.update(message)

    def kill(self) -> None:
        self._controls.stop.set()

    def ended_why(self) -> str:
        return "its thread ended without a result"


class InProcessBackend:
    """Runs in threads of this process: for tests that change this process's functions (a disk
    made to look full) and for debugging; never what the app serves with."""

    local = True

    def launch(self, spec: JobSpec) -> _Thread:
        return _Thread(spec)

    def close(self) -> None:
        pass
