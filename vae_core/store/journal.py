"""A note on disk for every run a server has queued or training, so that a restarted server can
say which runs it lost: ``<cache>/.runs/<host>-<pid>-<key>.json``, written when a run is queued
and removed when it ends. A note of this host whose server process is gone is a run that ended
with its server: nothing of it was cached (a worker's unfinished write is a ``.tmp-*`` folder the
sweep removes, and the worker itself stops when its server's pipe closes), so the queue is simply
gone, and the page can say so. Notes are best effort: a cache folder that cannot be written keeps
none.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path

from vae_core.config import RunConfig

RUNS_DIR = ".runs"


def _host() -> str:
    return socket.gethostname().replace("-", "_")[:40]


def note(root: str | Path, key: str, config: RunConfig) -> Path | None:
    """Write this server's note of a queued run; its path, or None where it cannot be written."""
    path = Path(root) / RUNS_DIR / f"{_host()}-{os.getpid()}-{key}.json"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(config.to_json())
    except OSError:
        return None
    return path


def clear(path: Path | None) -> None:
    if path is not None:
        with contextlib.suppress(OSError):
            path.unlink()


def lost_runs(root: str | Path) -> dict[str, RunConfig]:
    """The runs that servers of this host, now gone, had queued or training (key -> config); their
    notes are removed, so each is reported once."""
    folder = Path(root) / RUNS_DIR
    found: dict[str, RunConfig] = {}
    for path in sorted(folder.glob(f"{_host()}-*-*.json")) if folder.is_dir() else ():
        _, pid, key = path.stem.rsplit("-", 2)
        if not pid.isdigit() or _alive(int(pid)):
            continue
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            found[key] = RunConfig.from_dict(json.loads(path.read_text()))
        clear(path)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
