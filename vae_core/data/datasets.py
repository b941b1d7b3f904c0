"""Datasets as in-memory float tensors: pixels in [0, 1], or points in the plane.

- ``digits``: scikit-learn's 8x8 digits (ships with scikit-learn; the built-in default).
- ``mnist``, ``fashion-mnist``: the four IDX ``.gz`` files under ``<root>/<name>/``.
- ``binarized-mnist``: the fixed binarization of Larochelle & Murray (2011), ``.amat.gz``.
- ``two-moons``, ``circles``, ``pinwheel``, ``8-gaussians``: seeded 2-D point sets for a
  Gaussian likelihood (pinwheel after Johnson et al., 2016).

Images stay grey here; ``vae_core.vae.binarize`` turns them into the binary pixels a Bernoulli
likelihood needs (a fresh draw per epoch in training, one fixed draw for every test number).
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from vae_core.config import DATASETS
from vae_core.data.download import (
    FILES,
    DatasetError,
    Progress,
    dataset_dir,
    dataset_problem,
    download,
    missing_message,
    verify,
)

TOY_SIZES = (2000, 1000)  # train, test
TOY_SEED = 0
DIGITS_TEST_FRACTION = 0.2


class Dataset(NamedTuple):
    x_train: torch.Tensor  # (N, x_dim) float32
    y_train: torch.Tensor  # (N,) int64; -1 where a dataset has no labels
    x_test: torch.Tensor
    y_test: torch.Tensor


def load_dataset(
    name: str,
    root: str | Path | None = None,
    *,
    download_missing: bool = True,
    check_md5: bool = True,
    progress: Progress | None = None,
) -> Dataset:
    """Load a dataset by name; file datasets come from ``root`` (see ``default_data_root``)."""
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    kind = DATASETS[name].kind
    if kind == "toy2d":
        return _toy2d(name)
    if kind == "builtin":
        return _digits()
    folder = dataset_dir(name, root)
    if any(not (folder / f.name).is_file() for f in FILES[name]):
        if not download_missing:
            raise DatasetError(missing_message(name, root))
        download(name, root, progress=progress)
    if check_md5:
        for remote in FILES[name]:
            verify(folder / remote.name, remote)
    if name == "binarized-mnist":
        train, _, test = (_read_amat(folder / f.name) for f in FILES[name])
        no_labels = torch.full((len(train),), -1), torch.full((len(test),), -1)
        return Dataset(train, no_labels[0], test, no_labels[1])
    x_train, y_train, x_test, y_test = (_read_idx(folder / f) for f in FILES_IDX)
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise DatasetError(f"{folder}: image and label files have different lengths")
    return Dataset(x_train, y_train, x_test, y_test)


FILES_IDX = tuple(f.name for f in FILES["mnist"])


def load_test_set(name: str, root: str | Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The test split of a dataset, (x_test, y_test) as ``load_dataset`` gives them, reading and
    checking only its files (no download): a tenth of MNIST's, for a process that needs no
    training data (the view worker)."""
    if name not in DATASETS or DATASETS[name].kind != "files":
        data = load_dataset(name, root, download_missing=False)
        return data.x_test, data.y_test
    folder = dataset_dir(name, root)
    files = FILES[name][2:]  # mnist-like: the test images and labels; binarized-mnist: the test images
    if any(not (folder / f.name).is_file() for f in files):
        raise DatasetError(missing_message(name, root))
    for remote in files:
        verify(folder / remote.name, remote)
    if name == "binarized-mnist":
        x_test = _read_amat(folder / files[0].name)
        return x_test, torch.full((len(x_test),), -1)
    x_test, y_test = (_read_idx(folder / f) for f in FILES_IDX[2:])
    if len(x_test) != len(y_test):
        raise DatasetError(f"{folder}: image and label files have different lengths")
    return x_test, y_test


def available(name: str, root: str | Path | None = None) -> bool:
    """True if a dataset can be loaded without a download: its files are there and pass their
    check (size, then MD5, once per file); ``dataset_problem`` says what is wrong otherwise."""
    return name in DATASETS and dataset_problem(name, root) is None


def _read_gz(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(f"{path} is not a readable gzip file ({e}); delete it and fetch it again.") from e


def _read_idx(path: Path) -> torch.Tensor:
    """An IDX file: images (magic 2051) as (N, rows*cols) float in [0, 1], or labels (2049)."""
    raw = _read_gz(path)
    magic = int.from_bytes(raw[:4], "big") if len(raw) >= 8 else -1
    if magic == 2049:
        n = int.from_bytes(raw[4:8], "big")
        if len(raw) != 8 + n:
            raise DatasetError(f"{path}: label file says {n} labels but holds {len(raw) - 8} bytes")
        return torch.from_numpy(np.frombuffer(raw, np.uint8, offset=8).astype(np.int64))
    if magic == 2051 and len(raw) >= 16:
        n, rows, cols = (int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(3))
        if len(raw) != 16 + n * rows * cols:
            raise DatasetError(f"{path}: image file says {n}x{rows}x{cols} but holds {len(raw) - 16} bytes")
        pixels = torch.frombuffer(bytearray(raw), dtype=torch.uint8, count=n * rows * cols, offset=16)
        return pixels.reshape(n, rows * cols).to(torch.float32).div_(255.0)  # in torch: 15x faster than numpy here
    raise DatasetError(f"{path} is not an IDX image or label file (magic number {magic})")


def _read_amat(path: Path) -> torch.Tensor:
    """One image a line: 784 values 0/1 separated by single spaces (1,568 bytes a line)."""
    raw = np.frombuffer(_read_gz(path), np.uint8)
    if raw.size % 1568 or not raw.size:
        raise DatasetError(f"{path}: not a binarized-MNIST .amat file ({raw.size} bytes)")
    values = raw.reshape(-1, 1568)[:, 0::2] - ord("0")
    if values.max() > 1:
        raise DatasetError(f"{path}: holds values other than 0 and 1")
    return torch.from_numpy(values.astype(np.float32))


def _digits() -> Dataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    parts = train_test_split(x, digits.target, test_size=DIGITS_TEST_FRACTION, random_state=0, stratify=digits.target)
    x_train, x_test, y_train, y_test = (torch.from_numpy(p) for p in parts)
    return Dataset(x_train, y_train.long(), x_test, y_test.long())


def _toy2d(name: str) -> Dataset:
    rng = np.random.default_rng(TOY_SEED)
    n = sum(TOY_SIZES)
    x, y = _TOY_MAKERS[name](n, rng)
    x = (x - x.mean(0)) / x.std()  # one scale for both axes keeps the shape
    x, y = torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.int64))
    n_train = TOY_SIZES[0]
    return Dataset(x[:n_train], y[:n_train], x[n_train:], y[n_train:])


def _moons(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_moons

    return make_moons(n, noise=0.08, random_state=int(rng.integers(2**31)))


def _circles(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_circles

    return make_circles(n, noise=0.05, factor=0.5, random_state=int(rng.integers(2**31)))


def _pinwheel(n: int, rng: np.random.Generator, arms: int = 5) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(arms, size=n)
    radial = rng.normal(1.0, 0.3, n)
    tangential = rng.normal(0.0, 0.05, n)
    angle = 2 * np.pi * y / arms + 0.25 * np.exp(radial)
    x = np.stack(
        [
            radial * np.cos(angle) - tangential * np.sin(angle),
            radial * np.sin(angle) + tangential * np.cos(angle),
        ],
        1,
    )
    return x, y


def _eight_gaussians(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(8, size=n)
    centres = np.stack([np.cos(np.pi * y / 4), np.sin(np.pi * y / 4)], 1) * 2.0
    return centres + rng.normal(0.0, 0.15, (n, 2)), y


_TOY_MAKERS = {
    "two-moons": _moons,
    "circles": _circles,
    "pinwheel": _pinwheel,
    "8-gaussians": _eight_gaussians,
}
