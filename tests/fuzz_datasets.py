"""Fuzz targets for the dataset readers: ``read_idx``, ``read_csv``, ``read_npz`` and the loading
path ``load_split(..., path=folder)`` that finds, reads and checks a split.

Inputs start from a tiny valid split (3 images of 28x28) and are damaged structurally (IDX headers
with wrong magic numbers, type codes, up to 255 dimensions or dimensions claiming terabytes; CSV
rows with the wrong field count, out-of-range or non-numeric fields; .npz archives with members
missing, renamed, duplicated, oversized or holding hostile .npy headers), then often byte by byte
(see ``fuzz_mutators.py``). The allowed exceptions are those ``axonal.datasets`` documents.
"""
from __future__ import annotations

import contextlib
import gzip
import os
import struct
import zipfile
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from axonal.datasets import DatasetFormatError, DatasetNotFoundError, load_split
from axonal.datasets import _locations
from axonal.datasets._formats import read_csv, read_idx, read_npz
from fuzz_harness import FuzzInput, Target
from fuzz_mutators import INTERESTING_INTS, maybe_mutated, mutated_members, npy_bytes, zip_bytes

IMAGES, LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"
IDX_TYPES = [0x08, 0x08, 0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0x07, 0x0F, 0xFF]


def _pixels(seed: int, count: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, count, dtype=np.uint8)


@st.composite
def idx_bytes(draw, shape: tuple = (3, 28, 28)) -> bytes:
    """An IDX file for ``shape`` (uint8), its header often lying, its data often short or long."""
    magic = [0, 0, 0x08, len(shape)]
    if draw(st.booleans()):
        field = draw(st.integers(0, 3))
        magic[field] = draw(st.sampled_from(IDX_TYPES) if field == 2 else st.integers(0, 255))
    ndim = magic[3]
    dims = list(shape[:ndim]) + [1] * max(0, ndim - len(shape))
    if draw(st.booleans()) and ndim:
        dims[draw(st.integers(0, ndim - 1))] = draw(st.sampled_from(INTERESTING_INTS)) % 2**32
    itemsize = {0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}.get(magic[2], 1)
    claimed = int(np.prod(dims, dtype=object)) * itemsize
    length = claimed if claimed <= 1 << 16 else draw(st.integers(0, 256))
    length = max(0, length + draw(st.sampled_from([0, 0, 0, -1, 1, -length, 7])))
    data = bytes(magic) + struct.pack(f">{ndim}I", *dims) + _pixels(draw(st.integers(0, 2**32 - 1)), length).tobytes()
    return maybe_mutated(draw, data)


@st.composite
def gz_or_raw(draw, data: bytes, name: str) -> dict[str, bytes]:
    """``{name: data}`` raw, or ``{name + '.gz': gzip(data)}`` (then maybe damaged as gzip)."""
    if draw(st.booleans()):
        return {name: data}
    return {name + ".gz": maybe_mutated(draw, gzip.compress(data, mtime=0), probability_of_none=3)}


CSV_TOKENS = ["-1", "256", "1e3", "", " ", "nan", "0x10", "99999999999999999999", "\x00", "1.0", "+5",
              "\u0661", "a", '"7"', "-0", "\t3", "300000"]


@st.composite
def csv_bytes(draw) -> bytes:
    """The ``label,784 pixels`` layout: a few rows, some fields, separators or line ends wrong."""
    lines = []
    if draw(st.booleans()):
        lines.append(draw(st.sampled_from(["label," + ",".join(f"pixel{i}" for i in range(1, 785)),
                                           "label,1x1,1x2", "#", "", "label"])))
    for _ in range(draw(st.integers(0, 3))):
        fields = [str(v) for v in _pixels(draw(st.integers(0, 2**32 - 1)), 785)]
        fields[0] = str(draw(st.integers(0, 12)))
        fields = fields[:draw(st.sampled_from([785, 785, 785, 784, 786, 1, 0]))]
        for _ in range(draw(st.integers(0, 3))):
            if fields:
                fields[draw(st.integers(0, len(fields) - 1))] = draw(st.sampled_from(CSV_TOKENS))
        lines.append(draw(st.sampled_from([",", ",", ";", "\t"])).join(fields))
    text = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"])).join(lines)
    return maybe_mutated(draw, text.encode("utf-8", "surrogatepass"))


@st.composite
def npz_bytes(draw, splits=("train", "test")) -> bytes:
    """A Keras-style .npz with ``x_<split>``/``y_<split>`` members, often damaged as a container."""
    members = []
    for split in splits:
        members.append((f"x_{split}.npy", draw(npy_bytes((3, 28, 28), "|u1")), zipfile.ZIP_DEFLATED))
        members.append((f"y_{split}.npy", draw(npy_bytes((3,), draw(st.sampled_from(["|u1", "<i8"])))),
                        zipfile.ZIP_DEFLATED))
    if draw(st.booleans()):
        members = draw(mutated_members(members))
    return maybe_mutated(draw, zip_bytes(members), probability_of_none=3)


def idx_inputs() -> st.SearchStrategy:
    shape = st.sampled_from([(3, 28, 28), (3,), (2, 3), ()])
    return st.builds(lambda files: FuzzInput(files),
                     shape.flatmap(lambda s: idx_bytes(s)).flatmap(lambda data: gz_or_raw(data, IMAGES)))


def csv_inputs() -> st.SearchStrategy:
    return csv_bytes().map(lambda data: FuzzInput({"mnist_test.csv": data}))


def npz_inputs() -> st.SearchStrategy:
    return st.builds(lambda data, split: FuzzInput({"mnist.npz": data}, {"split": split}),
                     npz_bytes(), st.sampled_from(["train", "test"]))


@st.composite
def split_inputs(draw) -> FuzzInput:
    """One test split in a folder, as an IDX pair, a CSV or an .npz; checked or not."""
    layout = draw(st.sampled_from(["idx", "idx", "csv", "npz"]))
    if layout == "idx":
        files = {**draw(gz_or_raw(draw(idx_bytes((3, 28, 28))), IMAGES)),
                 **draw(gz_or_raw(draw(idx_bytes((3,))), LABELS))}
    elif layout == "csv":
        files = {"mnist_test.csv": draw(csv_bytes())}
    else:
        files = {"mnist.npz": draw(npz_bytes(("test",)))}
    return FuzzInput(files, {"verify": draw(st.booleans()), "layout": layout})


@contextlib.contextmanager
def isolated_search(folder: Path):
    """Make ``folder`` the only place load_split may look: no $AXONAL_DATA, an empty cache and an
    empty system folder, downloads off. Everything is put back afterwards."""
    saved = {key: os.environ.get(key) for key in ("AXONAL_DATA", "AXONAL_HOME", "AXONAL_OFFLINE")}
    saved_system = _locations.SYSTEM_DATA_DIR
    os.environ.pop("AXONAL_DATA", None)
    os.environ["AXONAL_HOME"] = str(folder.parent / (folder.name + "-home"))
    os.environ["AXONAL_OFFLINE"] = "1"
    _locations.SYSTEM_DATA_DIR = str(folder.parent / (folder.name + "-system"))
    try:
        yield
    finally:
        _locations.SYSTEM_DATA_DIR = saved_system
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _check_csv(result) -> None:
    images, labels = result
    assert images.dtype == np.uint8 and images.ndim == 3 and images.shape[1:] == (28, 28), images.shape
    assert labels.dtype == np.uint8 and labels.shape == (images.shape[0],), labels.shape


def _check_split(result) -> None:
    """What load_split promises after check_pair: also labels that are class ids."""
    _check_csv(result)
    assert result[1].size == 0 or result[1].max() < 10, result[1].max()


def _check_pair_types(result) -> None:
    assert all(isinstance(a, np.ndarray) and a.dtype == np.uint8 for a in result), [a.dtype for a in result]


def _check_idx(result) -> None:
    assert isinstance(result, np.ndarray) and result.flags.writeable and result.dtype.isnative, result.dtype


def _load_split(folder: Path, options: dict):
    with isolated_search(folder):
        return load_split("mnist", "test", path=folder, download=False, verify=options["verify"])


def _only_file(folder: Path) -> Path:
    return next(path for path in folder.iterdir())


# The loading path may also say "not found" when damage removed the split (a missing .npz member,
# an unreadable folder entry); every reader alone raises DatasetFormatError (a ValueError) only.
TARGETS = [
    Target("idx", idx_inputs(), lambda folder, _: read_idx(_only_file(folder)), (DatasetFormatError,), _check_idx),
    Target("csv", csv_inputs(), lambda folder, _: read_csv(_only_file(folder)), (DatasetFormatError,), _check_csv),
    Target("npz", npz_inputs(), lambda folder, options: read_npz(_only_file(folder), options["split"]),
           (DatasetFormatError,), _check_pair_types),
    Target("load_split", split_inputs(), _load_split, (DatasetFormatError, DatasetNotFoundError), _check_split),
]
