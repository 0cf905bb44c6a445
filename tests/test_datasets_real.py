"""The real files under $AXONAL_DATA: Fashion-MNIST (full) and the MNIST test split.

Skipped, with the reason, when AXONAL_DATA is unset or lacks the folder. Never downloads
(AXONAL_OFFLINE=1, cache in a tmp dir). Each 60k file is read once per module.
"""
from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from axonal.datasets import DatasetNotFoundError, _locations, fashion_mnist, load_split, mnist
from axonal.datasets.__main__ import main as cli_main
from axonal.datasets._formats import idx_sha256

DATA = os.environ.get("AXONAL_DATA")
FASHION_DIR = Path(DATA, "fashion-mnist") if DATA else None
MNIST_DIR = Path(DATA, "mnist") if DATA else None

# `zcat FILE | sha256sum` of the files in shared/data (see shared/data/README.md).
FASHION_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
MNIST_TEST_SHA256 = {
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
# Per-digit counts of the MNIST test split (a published property of the dataset).
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _need(folder: Path | None, names) -> None:
    if folder is None:
        pytest.skip("AXONAL_DATA is not set (point it at the shared data folder)")
    missing = [n for n in names if not (folder / f"{n}.gz").is_file()]
    if missing:
        pytest.skip(f"{folder} lacks {', '.join(missing)}")


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("AXONAL_OFFLINE", "1")
    monkeypatch.setenv("AXONAL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AXONAL_MIRRORS", "http://127.0.0.1:9/")
    monkeypatch.setattr(_locations, "SYSTEM_DATA_DIR", str(tmp_path / "system"))


@pytest.fixture(scope="module")
def fashion(tmp_path_factory):
    _need(FASHION_DIR, FASHION_SHA256)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AXONAL_OFFLINE", "1")
        patch.setenv("AXONAL_HOME", str(tmp_path_factory.mktemp("home")))
        patch.setattr(_locations, "SYSTEM_DATA_DIR", "/nonexistent")
        return fashion_mnist.load_data()


def test_fashion_shapes_dtypes_and_class_balance(fashion):
    (x_train, y_train), (x_test, y_test) = fashion
    assert x_train.shape == (60000, 28, 28) and y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    assert x_train.max() == 255 and x_train.min() == 0
    assert fashion_mnist.CLASS_NAMES[y_train[0]] == "Ankle boot"


def test_fashion_checksums(fashion):
    (x_train, y_train), (x_test, y_test) = fashion
    arrays = dict(zip(FASHION_SHA256, (x_train, y_train, x_test, y_test)))
    for name, expected in FASHION_SHA256.items():
        assert idx_sha256(arrays[name]) == expected, name
    labels = gzip.decompress((FASHION_DIR / "t10k-labels-idx1-ubyte.gz").read_bytes())
    assert hashlib.sha256(labels).hexdigest() == FASHION_SHA256["t10k-labels-idx1-ubyte"]


def test_fashion_from_the_debian_system_folder(monkeypatch):
    # shared/data/fashion-mnist is Debian's package content: mimic /usr/share/datasets with it.
    _need(FASHION_DIR, FASHION_SHA256)
    monkeypatch.delenv("AXONAL_DATA")
    monkeypatch.setattr(_locations, "SYSTEM_DATA_DIR", str(FASHION_DIR.parent))
    x_test, y_test = load_split("fashion-mnist", "test")
    assert x_test.shape == (10000, 28, 28) and np.bincount(y_test).tolist() == [1000] * 10


def test_mnist_test_split(tmp_path):
    _need(MNIST_DIR, MNIST_TEST_SHA256)
    x_test, y_test = load_split("mnist", "test")
    assert x_test.shape == (10000, 28, 28) and x_test.dtype == np.uint8
    assert y_test.shape == (10000,) and y_test.dtype == np.uint8
    assert np.bincount(y_test).tolist() == MNIST_TEST_COUNTS
    assert idx_sha256(x_test) == MNIST_TEST_SHA256["t10k-images-idx3-ubyte"]
    assert idx_sha256(y_test) == MNIST_TEST_SHA256["t10k-labels-idx1-ubyte"]
    # The same data through the other layouts: Keras' npz and the CSV export both verify.
    np.savez(tmp_path / "mnist.npz", x_test=x_test, y_test=y_test)
    np.testing.assert_array_equal(load_split("mnist", "test", path=tmp_path)[1], y_test)


def test_mnist_load_data_with_only_the_test_split():
    _need(MNIST_DIR, MNIST_TEST_SHA256)
    if (MNIST_DIR / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"{MNIST_DIR} now holds the training split too")
    with pytest.raises(DatasetNotFoundError) as info:
        mnist.load_data()
    text = str(info.value)
    assert "Only the test split was found" in text and str(MNIST_DIR) in text
    assert "train-images-idx3-ubyte[.gz]" in text


def test_cli_reports_where_files_are(capsys):
    _need(FASHION_DIR, ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))
    assert cli_main(["fashion-mnist", "--split", "test", "--offline"]) == 0
    out = capsys.readouterr().out
    assert "fashion-mnist: verified" in out
    assert str(FASHION_DIR / "t10k-images-idx3-ubyte.gz") in out
