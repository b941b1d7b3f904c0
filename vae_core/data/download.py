"""Dataset files: where they live, their published checksums, and a safe download.

A download goes to ``<file>.part`` and is renamed into place only after its checksum
matches, so an interrupted or corrupt transfer never leaves a file that looks complete.
"""

from __future__ import annotations

import functools
import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

Progress = Callable[[str, int, int | None], None]  # (file name, bytes done, bytes total)


class DatasetError(RuntimeError):
    """A dataset is missing, corrupt or could not be fetched; the message says what to do."""


@dataclass(frozen=True)
class RemoteFile:
    name: str
    md5: str
    size: int


IDX_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

# Published checksums (also in ../shared/data/README.md).
FILES: dict[str, tuple[RemoteFile, ...]] = {
    "mnist": (
        RemoteFile(IDX_NAMES[0], "f68b3c2dcbeaaa9fbdd348bbdeb94873", 9_912_422),
        RemoteFile(IDX_NAMES[1], "d53e105ee54ea40749a09fcbcd1e9432", 28_881),
        RemoteFile(IDX_NAMES[2], "9fb629c4189551a2d022fa330f9573f3", 1_648_877),
        RemoteFile(IDX_NAMES[3], "ec29112dd5afa0611ce80d1b7f02629c", 4_542),
    ),
    "fashion-mnist": (
        RemoteFile(IDX_NAMES[0], "8d4fb7e6c68d591d4c3dfef9ec88bf0d", 26_421_880),
        RemoteFile(IDX_NAMES[1], "25c81989df183df01b3e8a0aad5dffbe", 29_515),
        RemoteFile(IDX_NAMES[2], "bef4ecab320f06d8554ea6380940ec79", 4_422_102),
        RemoteFile(IDX_NAMES[3], "bb300cfdad3c16e7a12a480ee83cd310", 5_148),
    ),
    "binarized-mnist": (
        RemoteFile("binarized_mnist_train.amat.gz", "55c6be0db63f47a228822edc21049d6f", 2_196_952),
        RemoteFile("binarized_mnist_valid.amat.gz", "bf325c5893052cb8b540dfeb3c0c6fbe", 439_620),
        RemoteFile("binarized_mnist_test.amat.gz", "f7f18e7c5d551792f6aab10d62a7ea74", 416_802),
    ),
}

# Public mirrors, tried in order. The binarized set is published only as plain .amat,
# so it has no mirror of the .gz files: it is placed by hand (see `missing_message`).
MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    "binarized-mnist": (),
}


def user_folder(variable: str, leaf: str) -> Path:
    """The folder named by the environment ``variable``, else ``<user cache>/vae-latent-lab/<leaf>``."""
    env = os.environ.get(variable)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vae-latent-lab" / leaf


def default_data_root() -> Path:
    """``$VAE_LAB_DATA``, else a per-user cache folder."""
    return user_folder("VAE_LAB_DATA", "data")


def dataset_dir(name: str, root: str | Path | None = None) -> Path:
    return (Path(root).expanduser() if root is not None else default_data_root()) / name


def missing_files(name: str, root: str | Path | None = None) -> list[str]:
    folder = dataset_dir(name, root)
    return [f.name for f in FILES[name] if not (folder / f.name).is_file()]


def missing_message(name: str, root: str | Path | None = None, reason: str = "") -> str:
    folder = dataset_dir(name, root)
    lines = [f"{name}: {reason or 'files are missing'}.", f"Put these files in {folder}:"]
    lines += [f"  {f}" for f in missing_files(name, root) or [f.name for f in FILES[name]]]
    return "\n".join([*lines, _where_from(name)])


def _where_from(name: str) -> str:
    if MIRRORS[name]:
        return f"(from {MIRRORS[name][0]}), or set VAE_LAB_DATA to a folder that holds {name}/."
    return f"or set VAE_LAB_DATA to a folder that holds {name}/."


def file_problems(name: str, root: str | Path | None = None) -> list[tuple[str, str]]:
    """(file, what is wrong with it) for each file of a dataset that is missing, has the wrong size,
    or has the wrong MD5; empty when all are the published files. The MD5 of a file is computed
    once per (path, size, modification time) in this process."""
    folder = dataset_dir(name, root)
    found = []
    for remote in FILES[name]:
        path = folder / remote.name
        try:
            stat = path.stat()
        except OSError:
            found.append((remote.name, "missing"))
            continue
        if stat.st_size != remote.size:
            found.append((remote.name, f"{stat.st_size:,} bytes, not {remote.size:,} (truncated, or another file)"))
        elif not _md5_matches(str(path), stat.st_size, stat.st_mtime_ns, remote.md5):
            found.append((remote.name, "not the published file (its MD5 differs)"))
    return found


@functools.lru_cache(maxsize=64)
def _md5_matches(path: str, size: int, mtime_ns: int, expected: str) -> bool:
    try:
        return md5sum(Path(path)) == expected
    except OSError:
        return False


def dataset_problem(name: str, root: str | Path | None = None) -> str | None:
    """None if a dataset can be loaded without a download (a built-in or generated one, or one
    whose files all pass their check); else what is wrong and which files to put or replace where."""
    if name not in FILES:
        return None
    problems = file_problems(name, root)
    if not problems:
        return None
    if all(what == "missing" for _, what in problems):
        return missing_message(name, root)
    lines = [f"{name}: {len(problems)} of its files fail their check.", f"Replace these in {dataset_dir(name, root)}:"]
    lines += [f"  {file}: {what}" for file, what in problems]
    return "\n".join([*lines, _where_from(name)])


def md5sum(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(path: Path, expected: RemoteFile) -> None:
    """Raise DatasetError unless the file has the published MD5."""
    got = md5sum(path)
    if got != expected.md5:
        raise DatasetError(
            f"{path} is not the published file (MD5 {got}, expected {expected.md5}). "
            "It may be truncated or a different dataset; delete it and download it again."
        )


def download(
    name: str,
    root: str | Path | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    progress: Progress | None = None,
    timeout: float = 30.0,
) -> Path:
    """Fetch the missing files of a dataset, verifying each; return the dataset folder."""
    folder = dataset_dir(name, root)
    folder.mkdir(parents=True, exist_ok=True)
    mirrors = MIRRORS[name] if mirrors is None else tuple(mirrors)
    for remote in FILES[name]:
        target = folder / remote.name
        if target.is_file():
            continue
        errors = []
        for base in mirrors:
            try:
                _fetch(base + remote.name, target, remote, progress, timeout)
                break
            except (OSError, urllib.error.URLError, DatasetError) as e:
                errors.append(f"{base}: {e}")
        else:
            reason = "download failed (" + "; ".join(errors) + ")" if errors else "no download source"
            raise DatasetError(missing_message(name, root, reason))
    return folder


def _fetch(url: str, target: Path, remote: RemoteFile, progress: Progress | None, timeout: float) -> None:
    part = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            done = 0
            for block in iter(lambda: response.read(1 << 16), b""):
                out.write(block)
                done += len(block)
                if progress:
                    progress(remote.name, done, total)
        verify(part, remote)
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)
