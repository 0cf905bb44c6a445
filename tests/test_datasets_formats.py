"""Readers, search order and error reports of axonal.datasets, on small files made in tmp_path.

Nothing here reads real data or touches the network: every test runs with AXONAL_OFFLINE=1,
AXONAL_HOME in tmp_path, AXONAL_DATA unset and the system folder pointed at an empty tmp dir.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

import axonal

from axonal.datasets import (DatasetChecksumError, DatasetFormatError, DatasetNotFoundError,
                             fashion_mnist, load_split, mnist, read_idx)
from axonal.datasets import _locations
from axonal.datasets.__main__ import main as cli_main
from axonal.datasets._catalog import get_spec
from axonal.datasets._formats import idx_sha256, read_csv

NAMES = {("train", "images"): "train-images-idx3-ubyte",
         ("train", "labels"): "train-labels-idx1-ubyte",
         ("test", "images"): "t10k-images-idx3-ubyte",
         ("test", "labels"): "t10k-labels-idx1-ubyte"}


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No real data, no cache outside tmp_path, no downloads."""
    monkeypatch.delenv("AXONAL_DATA", raising=False)
    monkeypatch.setenv("AXONAL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AXONAL_OFFLINE", "1")
    monkeypatch.setenv("AXONAL_MIRRORS", "http://127.0.0.1:9/")  # belt and braces: unreachable
    monkeypatch.setattr(_locations, "SYSTEM_DATA_DIR", str(tmp_path / "system"))


def fake_split(n, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8),
            rng.integers(0, 10, size=n, dtype=np.uint8))


def idx_bytes(array, type_code=0x08):
    return bytes((0, 0, type_code, array.ndim)) + struct.pack(f">{array.ndim}I", *array.shape) \
        + array.tobytes()


def write_split(folder, split, images, labels, gz=False):
    folder.mkdir(parents=True, exist_ok=True)
    for kind, array in (("images", images), ("labels", labels)):
        data = idx_bytes(array)
        name = NAMES[split, kind] + (".gz" if gz else "")
        (folder / name).write_bytes(gzip.compress(data) if gz else data)
    return folder


def write_csv(path, images, labels, header=False):
    rows = np.concatenate([labels[:, None], images.reshape(len(images), -1)], axis=1)
    head = "label," + ",".join(f"pixel{i}" for i in range(1, 785)) if header else ""
    np.savetxt(path, rows, fmt="%d", delimiter=",", header=head, comments="")
    if not header:  # savetxt writes an empty first line for header=""; drop it
        path.write_text(path.read_text().lstrip("\n"))


# ---------------------------------------------------------------- readers

@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_roundtrip(tmp_path, gz):
    images, labels = fake_split(5)
    write_split(tmp_path, "test", images, labels, gz=gz)
    suffix = ".gz" if gz else ""
    got = read_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}")
    assert got.dtype == np.uint8 and got.shape == (5, 28, 28) and got.flags.writeable
    np.testing.assert_array_equal(got, images)
    np.testing.assert_array_equal(read_idx(tmp_path / f"t10k-labels-idx1-ubyte{suffix}"), labels)


def test_read_idx_other_types(tmp_path):
    values = (np.arange(6) - 3).astype(">i4").reshape(2, 3)
    (tmp_path / "x.idx").write_bytes(idx_bytes(values, type_code=0x0C))
    got = read_idx(tmp_path / "x.idx")
    assert got.dtype == np.int32 and got.dtype.isnative
    np.testing.assert_array_equal(got, values)


def test_idx_sha256_matches_file_bytes():
    images, _ = fake_split(3)
    assert idx_sha256(images) == hashlib.sha256(idx_bytes(images)).hexdigest()


@pytest.mark.parametrize("header", [False, True])
def test_read_csv_with_and_without_header(tmp_path, header):
    images, labels = fake_split(4)
    write_csv(tmp_path / "mnist_test.csv", images, labels, header=header)
    got_x, got_y = read_csv(tmp_path / "mnist_test.csv")
    np.testing.assert_array_equal(got_x, images)
    np.testing.assert_array_equal(got_y, labels)


# ---------------------------------------------------------------- layouts through the loaders

def test_load_data_from_idx_folder(tmp_path):
    train, test = fake_split(6, 1), fake_split(4, 2)
    write_split(tmp_path / "d", "train", *train)
    write_split(tmp_path / "d", "test", *test, gz=True)
    (x_train, y_train), (x_test, y_test) = mnist.load_data(path=tmp_path / "d", verify=False)
    assert x_train.shape == (6, 28, 28) and y_train.shape == (6,) and x_test.shape == (4, 28, 28)
    np.testing.assert_array_equal(x_test, test[0])
    np.testing.assert_array_equal(y_train, train[1])


def test_raw_idx_preferred_over_gz(tmp_path):
    write_split(tmp_path, "test", *fake_split(3, 1))
    write_split(tmp_path, "test", *fake_split(5, 2), gz=True)
    assert load_split("mnist", "test", path=tmp_path, verify=False)[0].shape[0] == 3


def test_path_root_with_dataset_subfolder(tmp_path):
    write_split(tmp_path / "fashion-mnist", "test", *fake_split(3))
    x, y = load_split("fashion_mnist", "test", path=tmp_path, verify=False)
    assert x.shape == (3, 28, 28)


def test_npz_file_and_npz_in_folder(tmp_path):
    (xa, ya), (xb, yb) = fake_split(5, 1), fake_split(3, 2)
    np.savez(tmp_path / "mnist.npz", x_train=xa, y_train=ya.astype(np.int64), x_test=xb, y_test=yb)
    (x_train, y_train), (x_test, _) = mnist.load_data(path=tmp_path / "mnist.npz", verify=False)
    np.testing.assert_array_equal(x_train, xa)
    assert y_train.dtype == np.uint8 and x_test.shape == (3, 28, 28)
    assert load_split("mnist", "test", path=tmp_path, verify=False)[0].shape == (3, 28, 28)


def test_csv_folder_both_splits(tmp_path):
    (xa, ya), (xb, yb) = fake_split(5, 1), fake_split(3, 2)
    write_csv(tmp_path / "mnist_train.csv", xa, ya, header=True)
    write_csv(tmp_path / "mnist_test.csv", xb, yb)
    (x_train, _), (x_test, y_test) = mnist.load_data(path=tmp_path, verify=False)
    np.testing.assert_array_equal(x_train, xa)
    np.testing.assert_array_equal(y_test, yb)


def test_verify_rejects_non_canonical_data_and_names_file(tmp_path):
    write_split(tmp_path, "test", *fake_split(3))
    with pytest.raises(DatasetChecksumError, match="t10k-images-idx3-ubyte") as info:
        load_split("mnist", "test", path=tmp_path)
    assert info.value.expected == get_spec("mnist").file("test", "images").payload_sha256
    assert "verify=False" in str(info.value)


# ---------------------------------------------------------------- search order

def test_search_order_path_data_system_cache(tmp_path, monkeypatch):
    places = {"path": tmp_path / "p", "data": tmp_path / "data" / "mnist",
              "system": tmp_path / "system" / "mnist", "cache": tmp_path / "home" / "mnist"}
    for i, folder in enumerate(places.values()):
        write_split(folder, "test", *fake_split(i + 1, i))  # sample count tells them apart
    monkeypatch.setenv("AXONAL_DATA", str(tmp_path / "data"))
    n = lambda **kw: load_split("mnist", "test", verify=False, **kw)[0].shape[0]
    assert n(path=places["path"]) == 1
    assert n() == 2
    for i, key in enumerate(("data", "system"), start=2):
        for f in places[key].iterdir():
            f.unlink()
        assert n() == i + 1


def test_incomplete_location_is_skipped_for_a_complete_one(tmp_path, monkeypatch):
    monkeypatch.setenv("AXONAL_DATA", str(tmp_path / "data"))
    write_split(tmp_path / "data" / "mnist", "test", *fake_split(2))
    system = tmp_path / "system" / "mnist"
    write_split(system, "train", *fake_split(7))
    write_split(system, "test", *fake_split(3))
    (x_train, _), (x_test, _) = mnist.load_data(verify=False)
    assert (x_train.shape[0], x_test.shape[0]) == (7, 3)  # both from the system folder


def test_only_test_split_error_and_load_split(tmp_path, monkeypatch):
    monkeypatch.setenv("AXONAL_DATA", str(tmp_path / "data"))
    write_split(tmp_path / "data" / "mnist", "test", *fake_split(4))
    with pytest.raises(DatasetNotFoundError) as info:
        mnist.load_data(verify=False)
    text = str(info.value)
    assert "only the test split is here" in text and str(tmp_path / "data" / "mnist") in text
    assert "load_split('mnist', 'test')" in text and "AXONAL_DATA=/path/to/dir" in text
    assert "AXONAL_OFFLINE=1" in text and "ba891046e6505d7a" in text  # train checksum listed
    assert load_split("mnist", "test", verify=False)[0].shape == (4, 28, 28)


def test_half_a_pair_is_reported(tmp_path):
    write_split(tmp_path, "test", *fake_split(2))
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetNotFoundError, match="t10k-labels-idx1-ubyte.*missing"):
        load_split("mnist", "test", path=tmp_path, verify=False)


def test_not_found_report_lists_every_place_and_fix(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        fashion_mnist.load_data(download=False)
    text = str(info.value)
    for expected in ("AXONAL_DATA is not set", str(tmp_path / "system" / "fashion-mnist"),
                     str(tmp_path / "home" / "fashion-mnist"), "download=False",
                     "apt install dataset-fashion-mnist", "c59f468a2f672dc8"):
        assert expected in text
    assert isinstance(info.value, OSError)


def test_missing_explicit_path_and_keras_default_path(tmp_path, monkeypatch):
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        mnist.load_data(path=tmp_path / "nope")
    monkeypatch.chdir(tmp_path)  # Keras' default "mnist.npz" is not here: it is ignored
    with pytest.raises(DatasetNotFoundError, match="Searched, in order"):
        mnist.load_data(path="mnist.npz")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(ValueError, match="not an .npz"):
        mnist.load_data(path=tmp_path / "x.txt")


def test_bad_names_raise_value_error():
    with pytest.raises(ValueError, match="unknown dataset"):
        load_split("cifar", "test")
    with pytest.raises(ValueError, match="unknown split"):
        load_split("mnist", "validation")


# ---------------------------------------------------------------- broken files

def _corrupt_cases():
    images, labels = fake_split(4)
    good_i, good_l = idx_bytes(images), idx_bytes(labels)
    return {
        "bad magic": ("images", b"\x12\x34" + good_i[2:], "bad magic"),
        "wrong dims": ("images", idx_bytes(np.zeros((4, 27, 28), np.uint8)), "28, 28"),
        "short read": ("images", good_i[:-100], "ends early"),
        "truncated header": ("labels", good_l[:6], "ends early"),
        "trailing bytes": ("labels", good_l + b"\0", "trailing bytes"),
        "label out of range": ("labels", idx_bytes(np.array([0, 1, 10, 2], np.uint8)), "0..9"),
        "count mismatch": ("labels", idx_bytes(labels[:3]), "4 images but 3 labels"),
        "huge header": ("images", b"\0\0\x08\x03" + struct.pack(">3I", 2**31, 28, 28), "limit"),
        "int labels": ("labels", idx_bytes(labels.astype(">i4"), 0x0C), "uint8"),
    }


@pytest.mark.parametrize("case", list(_corrupt_cases()))
def test_corrupt_idx_raises_format_error_naming_file(tmp_path, case):
    kind, data, message = _corrupt_cases()[case]
    write_split(tmp_path, "test", *fake_split(4))
    target = tmp_path / NAMES["test", kind]
    target.write_bytes(data)
    with pytest.raises(DatasetFormatError, match=message) as info:
        load_split("mnist", "test", path=tmp_path, verify=False)
    assert target.name in str(info.value)


@pytest.mark.parametrize("damage", ["not gzip", "cut", "flipped"])
def test_bad_gzip_raises_format_error(tmp_path, damage):
    write_split(tmp_path, "test", *fake_split(4), gz=True)
    target = tmp_path / "t10k-images-idx3-ubyte.gz"
    blob = bytearray(target.read_bytes())
    if damage == "not gzip":
        blob = bytearray(b"this is not gzip data at all")
    elif damage == "cut":
        blob = blob[: len(blob) // 2]
    else:
        blob[len(blob) // 2] ^= 0xFF  # caught by inflate or by the CRC check
    target.write_bytes(bytes(blob))
    with pytest.raises(DatasetFormatError, match="t10k-images-idx3-ubyte.gz"):
        load_split("mnist", "test", path=tmp_path, verify=False)


_ROW = "5," + ",".join(["0"] * 784) + "\n"


@pytest.mark.parametrize("text, message", [
    ("5,1,2,3\n", "785"),
    (_ROW + "5,1,2\n", "CSV"),
    ("5," + ",".join(["256"] * 784) + "\n", "0..255"),
    (_ROW + "5," + ",".join(["x"] * 784) + "\n", "CSV"),
    ("", "785"),
], ids=["short row", "ragged", "pixel 256", "not a number", "empty"])
def test_bad_csv_raises_format_error(tmp_path, text, message):
    (tmp_path / "mnist_test.csv").write_text(text)
    with pytest.raises(DatasetFormatError, match=message) as info:
        load_split("mnist", "test", path=tmp_path, verify=False)
    assert "mnist_test.csv" in str(info.value)


def test_bad_npz_files(tmp_path):
    x, y = fake_split(3)
    cases = {
        "missing.npz": dict(x_train=x, y_train=y, x_test=x),
        "float.npz": dict(x_train=x, y_train=y, x_test=x.astype(np.float32), y_test=y),
        "pickled.npz": dict(x_train=x, y_train=y, x_test=np.array([x], dtype=object), y_test=y),
        "shape.npz": dict(x_train=x, y_train=y, x_test=x.reshape(3, 784), y_test=y),
    }
    for name, arrays in cases.items():
        np.savez(tmp_path / name, **arrays)
        with pytest.raises((DatasetFormatError, DatasetNotFoundError), match=name):
            load_split("mnist", "test", path=tmp_path / name, verify=False)
    (tmp_path / "zip.npz").write_bytes(b"PK\x03\x04 definitely not a zip")
    np.save(tmp_path / "npy.npy", x)
    (tmp_path / "npy.npy").rename(tmp_path / "npy.npz")
    for name in ("zip.npz", "npy.npz"):
        with pytest.raises(DatasetFormatError, match=name):
            load_split("mnist", "test", path=tmp_path / name, verify=False)


def test_broken_file_in_user_folder_is_raised_not_skipped(tmp_path, monkeypatch):
    monkeypatch.setenv("AXONAL_DATA", str(tmp_path / "data"))
    write_split(tmp_path / "data" / "mnist", "test", *fake_split(4))
    (tmp_path / "data" / "mnist" / "t10k-labels-idx1-ubyte").write_bytes(b"\0\0\x08")
    write_split(tmp_path / "home" / "mnist", "test", *fake_split(4))  # a good cached copy
    with pytest.raises(DatasetFormatError, match="t10k-labels-idx1-ubyte"):
        load_split("mnist", "test", verify=False)


def test_broken_file_in_cache_is_discarded(tmp_path):
    cache = write_split(tmp_path / "home" / "mnist", "test", *fake_split(4))
    (cache / "t10k-images-idx3-ubyte").write_bytes(b"\0\0\x08\x03garbage")
    with pytest.raises(DatasetNotFoundError, match="discarded a bad cached file"):
        load_split("mnist", "test", verify=False)
    assert not list(cache.iterdir())  # the next run downloads a fresh copy


def test_cli_reports_failure_offline(capsys):
    assert cli_main(["mnist", "--offline"]) == 1
    assert "MNIST: no complete copy" in capsys.readouterr().err


def test_python_dash_m_entry_point(tmp_path):
    env = dict(os.environ, AXONAL_OFFLINE="1", AXONAL_HOME=str(tmp_path / "home"),
               PYTHONPATH=os.path.dirname(os.path.dirname(axonal.__file__)))
    env.pop("AXONAL_DATA", None)
    done = subprocess.run([sys.executable, "-m", "axonal.datasets", "mnist"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Searched, in order" in done.stderr
    done = subprocess.run([sys.executable, "-m", "axonal.datasets", "cifar"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "unknown dataset" in done.stderr
