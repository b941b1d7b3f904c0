"""What the cache folder holds: the entries this server can open, what is wrong with the rest,
and the sweep of temporary folders that a crashed write left behind.

An entry is skipped everywhere (never raised) when its config cannot be read, names a dataset
this version does not know, was made by another cache version, is incomplete, or needs a dataset
whose files are missing or fail their check here; each reason is one line of ``problems``, for
the lecturer's "cache problems" note, as are the entries moved aside as damaged.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from vae_core.config import DATASETS, RunConfig
from vae_core.data.datasets import available
from vae_core.store.cache import DAMAGE_FILE, ENTRY_FILES, config_key, default_cache_root

STALE_SECONDS = 600.0  # a temporary folder this old belongs to no live write (one takes well under a second)


@dataclass(frozen=True)
class CacheScan:
    configs: tuple[RunConfig, ...] = ()  # entries this server can open, newest first
    problems: tuple[str, ...] = ()  # one line per problem, for a person


def scan_cache(root: str | Path | None = None, datasets: Collection[str] | None = None) -> CacheScan:
    """The cache folder's entries: the openable ones, and the reasons the others are skipped.
    ``datasets`` names the datasets usable here (default: those whose files pass their check)."""
    folder = Path(root) if root is not None else default_cache_root()
    usable = set(datasets) if datasets is not None else {n for n in DATASETS if available(n)}
    found: list[tuple[float, RunConfig]] = []
    by_reason: dict[str, list[str]] = defaultdict(list)  # reason -> entry keys
    damaged: list[str] = []
    for entry in sorted(folder.iterdir()) if folder.is_dir() else ():
        if entry.name.startswith(".damaged-") and entry.is_dir():
            damaged.append(f"{entry.name}: moved aside as damaged ({_damage(entry)})")
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        config, reason = _entry_config(entry)
        if config is not None and config.dataset not in usable:
            reason = f"need {config.dataset}, whose files are missing or fail their check here"
        if reason:
            by_reason[reason].append(entry.name)
        else:
            found.append((entry.stat().st_mtime, config))
    problems = [
        f"{len(keys)} {'entry' if len(keys) == 1 else 'entries'} {_list(keys)}: {why}"
        for why, keys in by_reason.items()
    ]
    return CacheScan(tuple(c for _, c in sorted(found, key=lambda t: -t[0])), tuple(problems + damaged))


def cached_configs(root: str | Path | None = None) -> list[RunConfig]:
    """Configs with a model in the cache that this server can open, newest first."""
    return list(scan_cache(root).configs)


def _entry_config(entry: Path) -> tuple[RunConfig | None, str]:
    """An entry's config, or the reason it cannot be opened (without reading any tensor)."""
    try:
        raw = json.loads((entry / "config.json").read_text())
        name = raw["dataset"]
        if name not in DATASETS:
            return None, f"made for a dataset this version does not know ({str(name)[:40]!r})"
        config = RunConfig.from_dict(raw)
    except (OSError, ValueError, KeyError, TypeError) as e:
        return None, f"config.json cannot be read ({type(e).__name__})"
    if config_key(config) != entry.name:
        return None, "made by another version of the app (another cache version)"
    missing = [f for f in ENTRY_FILES if not (entry / f).is_file()]
    if missing:
        return None, f"incomplete (no {', '.join(missing)})"
    return config, ""


def _damage(entry: Path) -> str:
    try:
        return (entry / DAMAGE_FILE).read_text().strip()[:200] or "no reason recorded"
    except OSError:
        return "no reason recorded"


def _list(keys: list[str], shown: int = 3) -> str:
    return ", ".join(keys[:shown]) + (f" and {len(keys) - shown} more" if len(keys) > shown else "")


def sweep_stale(root: str | Path | None = None, older_than: float = STALE_SECONDS) -> list[str]:
    """Remove the ``.tmp-*`` folders of writes that never finished (a crash, a full disk), when older
    than ``older_than`` seconds; returns their names. Run once when a server starts."""
    folder = Path(root) if root is not None else default_cache_root()
    now, removed = time.time(), []
    for tmp in folder.glob(".tmp-*") if folder.is_dir() else ():
        try:
            if tmp.is_dir() and now - tmp.stat().st_mtime > older_than:
                shutil.rmtree(tmp)
                removed.append(tmp.name)
        except OSError:
            continue
    return removed
