"""Readers for the three on-disk layouts: IDX (raw or .gz), CSV and Keras' .npz.

Every reader either returns well-formed uint8 arrays or raises :class:`DatasetFormatError` naming
the file; no reader lets a ``struct.error``, ``zlib.error``, ``EOFError`` or ``MemoryError``
escape. :func:`idx_sha256` rebuilds the canonical IDX bytes of an array, so the same published
checksum can verify a copy in any layout.
"""
from __future__ import annotations

import gzip
import hashlib
import math
import os
import struct
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

from axonal._files import special_file_problem

from ._errors import DatasetFormatError

__all__ = ["idx_sha256", "read_csv", "read_idx", "read_npz", "check_pair", "check_regular_file"]

# IDX type byte -> big-endian numpy dtype (the format's own table).
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_UINT8_CODE = 0x08
# A corrupt header can claim terabytes; refuse before allocating. Far above any MNIST-like file.
MAX_IDX_BYTES = 1 << 30
# numpy >= 1.23 supports 32 dimensions (2.x: 64); an IDX file of MNIST-like data has 1 to 4.
MAX_IDX_DIMS = 32
# Compressed data is read in pieces of this size, so memory follows the bytes actually present.
_CHUNK_BYTES = 1 << 20
# Errors a broken gzip stream can raise: BadGzipFile is an OSError, truncation is an EOFError.
_GZIP_ERRORS = (OSError, EOFError, zlib.error)
# What a damaged zip can raise: ValueError also covers UnicodeDecodeError in member names,
# RuntimeError an encrypted member, NotImplementedError an unknown compression method or a zip
# version zipfile does not read ("zip file version 14.8").
ZIP_ERRORS = (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError, NotImplementedError,
              zlib.error)


def check_regular_file(path: Path) -> None:
    """Refuse a FIFO, a device or a socket (or a link to one) before anything opens it: a FIFO's
    open() blocks until a writer comes, ``/dev/zero`` is read until memory runs out."""
    problem = special_file_problem(path)
    if problem is not None:
        raise DatasetFormatError(f"{problem}. Fix: pass or copy the dataset files themselves", path)


def _open(path: Path):
    check_regular_file(path)
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def _read_exact(stream, count: int, path: Path, what: str) -> bytes:
    data = stream.read(count)
    if len(data) != count:
        raise DatasetFormatError(f"file ends early: expected {count} bytes of {what}, got "
                                 f"{len(data)} (truncated download?)", path)
    return data


def _read_payload(stream, nbytes: int, path: Path) -> bytearray:
    """Exactly ``nbytes`` from ``stream``, in chunks: a header that lies about the size of a gzip
    stream costs memory only for the bytes really there, never for what the header claims."""
    data = bytearray()
    while len(data) < nbytes:
        chunk = stream.read(min(_CHUNK_BYTES, nbytes - len(data)))
        if not chunk:
            raise DatasetFormatError(
                f"file ends early: header promises {nbytes} bytes of data, only {len(data)} "
                "present (truncated download?)", path)
        data += chunk
    return data


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (``.gz`` decompressed on the fly) into a new writable array.

    Args:
        path: an IDX file such as ``train-images-idx3-ubyte`` or ``t10k-labels-idx1-ubyte.gz``.

    Returns:
        An array with the shape from the header, in native byte order (uint8 for MNIST files).

    Raises:
        DatasetFormatError: bad magic number, unknown type code, short read, trailing bytes or a
            broken gzip stream; the message names the file.

    Example:
        >>> labels = read_idx("t10k-labels-idx1-ubyte.gz")   # doctest: +SKIP
        >>> labels.shape, labels.dtype
        ((10000,), dtype('uint8'))
    """
    path = Path(path)
    try:
        with _open(path) as stream:
            magic = _read_exact(stream, 4, path, "magic number")
            if magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_TYPES or magic[3] == 0:
                raise DatasetFormatError(
                    f"not an IDX file: bad magic number {magic.hex()} (expected 0000TTNN: two "
                    "zero bytes, a type code such as 08 for uint8, then the number of dimensions)",
                    path)
            ndim = magic[3]
            if ndim > MAX_IDX_DIMS:  # numpy could not even make the array
                raise DatasetFormatError(f"header claims {ndim} dimensions, more than the "
                                         f"{MAX_IDX_DIMS} an array can have; corrupt header?", path)
            shape = struct.unpack(f">{ndim}I", _read_exact(stream, 4 * ndim, path, "dimensions"))
            dtype = np.dtype(_IDX_TYPES[magic[2]])
            nbytes = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
            if nbytes > MAX_IDX_BYTES:
                raise DatasetFormatError(f"header claims shape {shape} ({nbytes} bytes), more "
                                         f"than the {MAX_IDX_BYTES} byte limit; corrupt header?",
                                         path)
            if not path.name.endswith(".gz"):  # the size on disk is known: check it first
                _check_file_size(path, 4 + 4 * ndim + nbytes, shape)
            payload = _read_payload(stream, nbytes, path)
            if stream.read(1):
                raise DatasetFormatError(f"trailing bytes after the {nbytes} bytes of data that "
                                         f"the header (shape {shape}) describes", path)
    except DatasetFormatError:
        raise
    except _GZIP_ERRORS as err:
        raise DatasetFormatError(f"cannot read ({type(err).__name__}: {err}); broken gzip or "
                                 "unreadable file", path) from err
    # A bytearray is writable, so frombuffer gives a writable array without a copy for uint8.
    data = np.frombuffer(payload, dtype=dtype).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=False)


def _check_file_size(path: Path, expected: int, shape: tuple) -> None:
    actual = path.stat().st_size
    if actual < expected:
        raise DatasetFormatError(f"file ends early: header (shape {shape}) promises {expected} "
                                 f"bytes in all, the file has {actual} (truncated download?)", path)
    if actual > expected:
        raise DatasetFormatError(f"trailing bytes: header (shape {shape}) promises {expected} "
                                 f"bytes in all, the file has {actual}", path)


def idx_sha256(array: np.ndarray) -> str:
    """sha256 of the IDX file holding ``array`` (uint8), as ``zcat FILE | sha256sum`` prints."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    digest = hashlib.sha256(bytes((0, 0, _UINT8_CODE, array.ndim)))
    digest.update(struct.pack(f">{array.ndim}I", *array.shape))
    digest.update(array.reshape(-1).data)  # 1-D uint8: also fine for 0 samples (cast("B") is not)
    return digest.hexdigest()


def _has_header(path: Path) -> bool:
    with open(path, "rb") as stream:
        first = stream.readline(64 * 1024).strip()
    # A header row has a non-numeric field ("label", "pixel1", "1x1"); a data row does not.
    return any(not field.strip().isdigit() for field in first.split(b",")) if first else False


def read_csv(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read the ``mnist_train.csv`` layout: one image per row, label first, then 784 pixels.

    A header row (``label,pixel1,...`` or ``label,1x1,...``) is detected and skipped.

    Returns:
        ``(images, labels)``: uint8 arrays of shape (N, 28, 28) and (N,).

    Raises:
        DatasetFormatError: a row without 785 integer fields, or a value outside 0..255.
    """
    path = Path(path)
    check_regular_file(path)
    try:
        with warnings.catch_warnings():  # an empty file warns, then fails the shape check below
            warnings.simplefilter("ignore", UserWarning)
            rows = np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=2,
                              skiprows=1 if _has_header(path) else 0)
    except (ValueError, OSError) as err:
        raise DatasetFormatError(f"not a label,784-pixel CSV file: {err}", path) from err
    if rows.shape[0] == 0 or rows.shape[1] != 785:
        raise DatasetFormatError(f"expected rows of 785 values (label then 28*28 pixels), got "
                                 f"an array of shape {rows.shape}", path)
    if rows.min() < 0 or rows.max() > 255:
        raise DatasetFormatError(f"values must lie in 0..255, found {rows.min()}..{rows.max()}",
                                 path)
    labels = rows[:, 0].astype(np.uint8)
    images = rows[:, 1:].astype(np.uint8).reshape(-1, 28, 28)
    return images, labels


def read_npz(path: str | os.PathLike, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read one split of a Keras-style ``mnist.npz`` (keys ``x_train, y_train, x_test, y_test``).

    The archive is read member by member with bounded reads: each ``.npy`` header is parsed and
    checked (dtype, no Python objects, at most :data:`MAX_IDX_BYTES` of data) before its data is
    read, so a header claiming terabytes is refused instead of allocated (``np.load`` would
    allocate what the header says), and pickled objects are never loaded.

    Returns:
        ``(x, y)`` for ``split`` (``"train"`` or ``"test"``); :func:`check_pair` checks shapes.

    Raises:
        DatasetFormatError: not a zip archive, a missing, duplicated or unreadable member, a bad
            ``.npy`` header, wrong dtypes or label values outside 0..255; the message names the
            file.
    """
    path = Path(path)
    keys = (f"x_{split}", f"y_{split}")
    check_regular_file(path)
    try:
        with open(path, "rb") as handle, zipfile.ZipFile(handle) as archive:
            names = archive.namelist()
            missing = [key for key in keys if f"{key}.npy" not in names]
            if missing:
                found = [name[:-4] for name in names if name.endswith(".npy")]
                raise DatasetFormatError(f"missing array(s) {missing}; found {found} (expected "
                                         "x_train, y_train, x_test, y_test)", path)
            x = _npz_member(archive, keys[0], path, lambda dt: dt == np.uint8, "uint8 pixels")
            y = _npz_member(archive, keys[1], path, lambda dt: dt.kind in "ui", "integer labels")
    except DatasetFormatError:
        raise
    except ZIP_ERRORS as err:
        raise DatasetFormatError(f"not a readable .npz archive ({type(err).__name__}: {err})",
                                 path) from err
    if y.size and (y.min() < 0 or y.max() > 255):
        raise DatasetFormatError(f"{keys[1]} values out of range: {y.min()}..{y.max()}", path)
    return x, y.astype(np.uint8)


def _npz_member(archive: zipfile.ZipFile, key: str, path: Path, dtype_ok,
                wanted: str) -> np.ndarray:
    """Member ``key``.npy as a native-order array, its header checked before any data is read."""
    if archive.namelist().count(f"{key}.npy") > 1:
        raise DatasetFormatError(f"member {key}.npy appears twice; damaged or tampered archive",
                                 path)
    with archive.open(f"{key}.npy") as stream:
        try:
            version = np.lib.format.read_magic(stream)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"unsupported .npy format version {version}")
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran_order, dtype = read_header(stream)
        except Exception as err:  # noqa: BLE001 - numpy parses the header with ast/tokenize,
            # which raise SyntaxError, TokenError, RecursionError... on hostile text: "bad header"
            raise DatasetFormatError(f"{key}.npy has no valid .npy header ({type(err).__name__}: "
                                     f"{err})", path) from None
        if dtype.hasobject or not dtype_ok(dtype):
            raise DatasetFormatError(f"{key} must hold {wanted}, got dtype {dtype}", path)
        nbytes = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
        if nbytes > MAX_IDX_BYTES:
            raise DatasetFormatError(f"{key}.npy header claims shape {shape} ({nbytes} bytes), "
                                     f"more than the {MAX_IDX_BYTES} byte limit; corrupt header?",
                                     path)
        data = stream.read(nbytes + 1)  # grows with the bytes present, whatever the header says
    if len(data) != nbytes:
        raise DatasetFormatError(f"{key}.npy holds {len(data)} bytes of data where its header "
                                 f"(shape {shape}, {dtype}) needs {nbytes}", path)
    array = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")
    return np.array(array, dtype=dtype.newbyteorder("="), order="C")  # writable, native order


def check_pair(images: np.ndarray, labels: np.ndarray, images_path: object,
               labels_path: object, num_classes: int = 10) -> None:
    """Check that images and labels form one MNIST-like split, or raise DatasetFormatError.

    Expects uint8 images of shape (N, 28, 28), labels of shape (N,) with values in
    0..num_classes-1. Each problem is reported against the file it comes from.
    """
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DatasetFormatError(f"expected uint8 images of shape (N, 28, 28), got "
                                 f"{images.dtype} {images.shape}", images_path)
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DatasetFormatError(f"expected uint8 labels of shape (N,), got {labels.dtype} "
                                 f"{labels.shape}", labels_path)
    if images.shape[0] != labels.shape[0]:
        where = (f"{images_path} and {labels_path}" if images_path != labels_path
                 else str(images_path))
        raise DatasetFormatError(f"{where}: {images.shape[0]} images but {labels.shape[0]} "
                                 "labels")
    if labels.size and int(labels.max()) >= num_classes:
        raise DatasetFormatError(f"labels must lie in 0..{num_classes - 1}, found "
                                 f"{int(labels.max())}", labels_path)
