"""Reading the pickles inside the published CIFAR archives and the imdb/reuters ``.npz`` files, safely.

A pickle is a program: ``pickle.load`` (and ``np.load(allow_pickle=True)``) runs whatever callable
the file names, so a tampered download could run code. These files only ever need a few numpy
globals to rebuild arrays (``numpy.ndarray``, ``numpy.dtype``, ``multiarray._reconstruct``, and
``multiarray.scalar`` for a numpy number inside a list); dicts, lists, ints and byte strings are
built by pickle opcodes without any global. :class:`RestrictedUnpickler` resolves exactly those
globals, from numpy itself (both the numpy 1 ``numpy.core`` and numpy 2 ``numpy._core`` spellings
map to the same functions, without importing the deprecated ``numpy.core``), and refuses every
other one with :class:`DatasetFormatError` before anything is called.

Numeric ``.npz`` members are read with no pickle at all; only members whose ``.npy`` header says
``dtype=object`` go through the restricted unpickler. Member sizes are checked against
:data:`MAX_MEMBER_BYTES` before they are read.
"""
from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np

from ._errors import DatasetFormatError
from ._formats import ZIP_ERRORS, check_regular_file

__all__ = ["MAX_MEMBER_BYTES", "RestrictedUnpickler", "load_pickle", "read_npz_arrays"]

# Far above any published file's member (the largest, CIFAR-100's train pickle, is ~155 MB).
MAX_MEMBER_BYTES = 1 << 30

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
except ImportError:  # numpy 1.x
    from numpy.core import multiarray as _multiarray

_ALLOWED = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy.core.multiarray", "scalar"): _multiarray.scalar,
    ("numpy._core.multiarray", "scalar"): _multiarray.scalar,
}
# Anything a pickle can raise on damaged or hostile bytes (not our refusals).
_PICKLE_ERRORS = (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
                  OverflowError, MemoryError, RecursionError, UnicodeDecodeError, ImportError)


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the numpy globals arrays need.

    Args:
        file: a binary file object.
        path: the file being read, for messages.
        encoding: how Python 2 ``str`` objects are decoded (``"bytes"`` keeps them as bytes, as
            CIFAR's Python 2 pickles need).

    Raises:
        DatasetFormatError: (from ``load``) the pickle names any other global.
    """

    def __init__(self, file, path: object, encoding: str = "ASCII"):
        super().__init__(file, encoding=encoding)
        self.path = path

    def find_class(self, module: str, name: str):
        allowed = _ALLOWED.get((module, name))
        if allowed is None:
            raise DatasetFormatError(f"refused to unpickle {module}.{name}: a dataset file may only rebuild "
                                     "numpy arrays, lists, dicts, numbers and strings. The file is damaged or "
                                     "was tampered with; delete it and download it again", self.path)
        return allowed


def load_pickle(data: bytes, path: object, encoding: str = "ASCII"):
    """The object pickled in ``data``, rebuilt by :class:`RestrictedUnpickler`."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), path, encoding=encoding).load()
    except DatasetFormatError:
        raise
    except _PICKLE_ERRORS as err:
        raise DatasetFormatError(f"not a readable pickle ({type(err).__name__}: {err})", path) from None


def _read_npy(data: bytes, key: str, path: Path) -> np.ndarray:
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        if version not in ((1, 0), (2, 0), (3, 0)):
            raise ValueError(f"unsupported .npy format version {version}")
        # 3.0 differs from 2.0 only by a UTF-8 header, which the 2.0 reader decodes as well.
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = read_header(stream)
    except Exception as err:  # noqa: BLE001 - numpy parses the header with ast: any error is a bad header
        raise DatasetFormatError(f"{key}.npy has no valid .npy header ({type(err).__name__}: {err})", path) from None
    if dtype.hasobject:
        array = load_pickle(stream.read(), f"{path} ({key}.npy)", encoding="latin1")
        if not isinstance(array, np.ndarray):
            raise DatasetFormatError(f"{key}.npy holds a pickled {type(array).__name__}, not an array", path)
        return array
    count = int(np.prod(shape, dtype=np.int64))
    payload = stream.read()
    if len(payload) != count * dtype.itemsize:
        raise DatasetFormatError(f"{key}.npy holds {len(payload)} bytes of data where its header (shape {shape}, "
                                 f"{dtype}) needs {count * dtype.itemsize}", path)
    array = np.frombuffer(payload, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")
    return np.array(array, dtype=dtype.newbyteorder("="), order="C")


def read_npz_arrays(path: str | Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of an ``.npz`` file; object arrays are unpickled with the restricted unpickler.

    Raises:
        DatasetFormatError: not a zip archive, a missing, duplicated, oversized or unreadable
            member, or a pickle that names a global other than numpy's array builders.
    """
    path = Path(path)
    check_regular_file(path)
    arrays = {}
    try:
        with open(path, "rb") as handle, zipfile.ZipFile(handle) as archive:
            names = archive.namelist()
            for key in keys:
                member = f"{key}.npy"
                if member not in names:
                    found = [name[:-4] for name in names if name.endswith(".npy")]
                    raise DatasetFormatError(f"missing array {key!r}; found {found}", path)
                if names.count(member) > 1:
                    raise DatasetFormatError(f"member {member} appears twice; damaged or tampered archive", path)
                size = archive.getinfo(member).file_size
                if size > MAX_MEMBER_BYTES:
                    raise DatasetFormatError(f"member {member} claims {size} bytes, more than the "
                                             f"{MAX_MEMBER_BYTES} byte limit; corrupt archive?", path)
                with archive.open(member) as stream:
                    data = stream.read(MAX_MEMBER_BYTES + 1)
                arrays[key] = _read_npy(data, key, path)
    except DatasetFormatError:
        raise
    except ZIP_ERRORS as err:
        raise DatasetFormatError(f"not a readable .npz archive ({type(err).__name__}: {err})", path) from err
    return arrays
