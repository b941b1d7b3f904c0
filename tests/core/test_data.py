"""Dataset loaders: tiny IDX files written here, the real files when VAE_LAB_DATA points at them,
and the download path against a file server on 127.0.0.1."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from vae_core.config import DATASETS
from vae_core.data import available, download, load_dataset
from vae_core.data.datasets import load_test_set
from vae_core.data.download import IDX_NAMES, DatasetError, RemoteFile
from vae_core.vae.binarize import fixed_binarization


def write_idx(folder: Path, n_train: int = 12, n_test: int = 5, side: int = 4, seed: int = 0) -> None:
    """The four IDX .gz files of a tiny MNIST-shaped dataset."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, side, side), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        header = b"".join(v.to_bytes(4, "big") for v in (2051, n, side, side))
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + images.tobytes()))
        label_header = (2049).to_bytes(4, "big") + n.to_bytes(4, "big")
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(label_header + labels.tobytes()))


def test_tiny_idx_files_load_as_unit_interval_tensors(tmp_path):
    write_idx(tmp_path / "mnist")
    x_train, y_train, x_test, y_test = load_dataset("mnist", tmp_path, check_md5=False)
    assert x_train.shape == (12, 16) and x_test.shape == (5, 16)
    assert x_train.dtype == torch.float32 and x_train.min() >= 0 and x_train.max() <= 1
    assert y_train.shape == (12,) and y_test.dtype == torch.int64 and int(y_train.max()) <= 9


def test_a_file_that_is_not_the_published_one_is_refused_by_checksum(tmp_path):
    write_idx(tmp_path / "mnist")
    with pytest.raises(DatasetError, match="not the published file"):
        load_dataset("mnist", tmp_path)


def test_missing_files_name_the_folder_and_each_file(tmp_path):
    (tmp_path / "fashion-mnist").mkdir()
    (tmp_path / "fashion-mnist" / IDX_NAMES[0]).write_bytes(b"")
    with pytest.raises(DatasetError) as e:
        load_dataset("fashion-mnist", tmp_path, download_missing=False)
    message = str(e.value)
    assert str(tmp_path / "fashion-mnist") in message
    assert all(name in message for name in IDX_NAMES[1:])
    assert not available("fashion-mnist", tmp_path)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[:40]), "not a readable gzip"),
        (lambda p: p.write_bytes(gzip.compress(b"\x00\x00\x08\x99" + bytes(30))), "not an IDX"),
        (lambda p: p.write_bytes(gzip.compress(gzip.decompress(p.read_bytes())[:-7])), "holds"),
    ],
    ids=["truncated-gzip", "wrong-magic", "short-body"],
)
def test_a_corrupt_file_gives_a_clear_error(tmp_path, damage, message):
    write_idx(tmp_path / "mnist")
    damage(tmp_path / "mnist" / IDX_NAMES[0])
    with pytest.raises(DatasetError, match=message):
        load_dataset("mnist", tmp_path, check_md5=False)


def test_toy_sets_are_seeded_two_dimensional_and_split():
    for name, info in DATASETS.items():
        if info.kind != "toy2d":
            continue
        a, b = load_dataset(name), load_dataset(name)
        assert a.x_train.shape == (2000, 2) and a.x_test.shape == (1000, 2), name
        assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
        assert int(a.y_train.max()) + 1 == len(info.class_names)


def test_digits_are_built_in_and_stratified():
    x_train, _, x_test, y_test = load_dataset("digits")
    assert x_train.shape[1] == 64 and len(x_train) + len(x_test) == 1797
    assert float(x_train.max()) == 1.0 and float(x_train.min()) == 0.0
    assert torch.bincount(y_test).min() >= 30  # every class in the test split


def test_fixed_binarization_is_fixed_and_binary():
    x = load_dataset("digits").x_test
    a, b = fixed_binarization(x), fixed_binarization(x)
    assert torch.equal(a, b) and set(a.unique().tolist()) <= {0.0, 1.0}
    assert abs(a.mean().item() - x.mean().item()) < 0.01  # each pixel is drawn with its intensity


@pytest.mark.slow
def test_real_mnist_files(real_data_root):
    x_train, y_train, x_test, y_test = load_dataset("mnist", real_data_root, download_missing=False)
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    # Label counts published with the data (../shared/data/README.md).
    assert torch.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert torch.bincount(y_train)[0] == 5923


@pytest.mark.slow
def test_real_fashion_and_binarized_mnist_files(real_data_root):
    fashion = load_dataset("fashion-mnist", real_data_root, download_missing=False)
    assert torch.bincount(fashion.y_test).tolist() == [1000] * 10
    binary = load_dataset("binarized-mnist", real_data_root, download_missing=False)
    assert binary.x_train.shape == (50000, 784) and binary.x_test.shape == (10000, 784)
    assert set(binary.x_test.unique().tolist()) == {0.0, 1.0} and int(binary.y_test.max()) == -1


@pytest.mark.slow
def test_the_test_split_alone_is_the_whole_loads_test_split(real_data_root):
    """What the view worker loads (a tenth of the files) is what every other reader's test set is."""
    for name in ("mnist", "binarized-mnist", "digits", "two-moons"):
        whole = load_dataset(name, real_data_root, download_missing=False)
        x_test, y_test = load_test_set(name, real_data_root)
        assert torch.equal(x_test, whole.x_test) and torch.equal(y_test, whole.y_test), name


def test_the_test_split_alone_checks_its_files(tmp_path):
    write_idx(tmp_path / "mnist")
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte\.gz"):
        load_test_set("mnist", tmp_path)


# --- the download path, against a file server on this machine -----------------------------------


@pytest.fixture
def file_server(tmp_path):
    """Serve tmp_path/'served' on 127.0.0.1; yields the base URL."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def tiny_mnist_checksums(tmp_path, monkeypatch):
    """Tiny IDX files to serve, and the dataset table changed to their checksums."""
    source = tmp_path / "source"
    write_idx(source)
    remotes = tuple(
        RemoteFile(name, hashlib.md5((source / name).read_bytes()).hexdigest(), (source / name).stat().st_size)
        for name in IDX_NAMES
    )
    monkeypatch.setitem(download.FILES, "mnist", remotes)
    return source


def test_download_fetches_verifies_and_loads(tmp_path, file_server, tiny_mnist_checksums):
    served, url = file_server
    for f in tiny_mnist_checksums.iterdir():
        (served / f.name).write_bytes(f.read_bytes())
    seen: list[tuple[str, int, int | None]] = []
    root = tmp_path / "data"
    download.download("mnist", root, mirrors=[url], progress=lambda *a: seen.append(a))
    assert sorted(p.name for p in (root / "mnist").iterdir()) == sorted(IDX_NAMES)  # no .part left
    assert {name for name, _, _ in seen} == set(IDX_NAMES) and all(d == t for _, d, t in seen[-1:])
    assert load_dataset("mnist", root).x_train.shape == (12, 16)


def test_a_corrupt_download_leaves_no_file_behind(tmp_path, file_server, tiny_mnist_checksums):
    served, url = file_server
    for f in tiny_mnist_checksums.iterdir():
        (served / f.name).write_bytes(f.read_bytes())
    (served / IDX_NAMES[2]).write_bytes(b"not what was published")
    root = tmp_path / "data"
    with pytest.raises(DatasetError, match="download failed") as e:
        download.download("mnist", root, mirrors=[url])
    assert IDX_NAMES[2] in str(e.value) and str(root / "mnist") in str(e.value)
    assert sorted(p.name for p in (root / "mnist").iterdir()) == sorted(IDX_NAMES[:2])  # the good ones stay


def test_offline_download_names_the_folder_and_files(tmp_path, tiny_mnist_checksums):
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/"
    root = tmp_path / "data"
    with pytest.raises(DatasetError) as e:
        download.download("mnist", root, mirrors=[dead], timeout=2)
    message = str(e.value)
    assert "download failed" in message and str(root / "mnist") in message
    assert all(name in message for name in IDX_NAMES)
    assert list((root / "mnist").iterdir()) == []


def test_a_truncated_or_foreign_file_makes_a_dataset_unavailable_with_the_reason(tmp_path):
    """A truncated MNIST file once left MNIST offered, and Start raised a DatasetError."""
    from vae_core.data.download import FILES, dataset_problem

    folder = tmp_path / "mnist"
    folder.mkdir()
    for remote in FILES["mnist"]:
        (folder / remote.name).write_bytes(b"\0" * remote.size)  # the right size, the wrong bytes
    (folder / IDX_NAMES[2]).write_bytes(b"\0" * 1000)  # truncated
    assert not available("mnist", tmp_path)
    problem = dataset_problem("mnist", tmp_path)
    assert f"{IDX_NAMES[2]}: 1,000 bytes, not 1,648,877 (truncated" in problem
    assert f"{IDX_NAMES[0]}: not the published file" in problem and str(folder) in problem
    assert dataset_problem("digits") is None and available("digits")


def test_the_real_files_pass_their_check(real_data_root):
    from vae_core.data.download import dataset_problem

    assert all(dataset_problem(n, real_data_root) is None for n in ("mnist", "fashion-mnist", "binarized-mnist"))
