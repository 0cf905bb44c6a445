"""HDF5 through h5py, read as a hostile file and written in memory for an atomic save.

Keras keeps weights in HDF5 (``model.weights.h5`` inside a ``.keras`` zip, ``*.weights.h5``, and
the legacy ``*.h5``). Reading trusts nothing: only hard links are followed (an external or soft
link could point into another file), virtual datasets and datasets stored in external raw files
are refused (they read other files), only numeric datasets are read, and each one only after its
shape and dtype have been compared with what the model expects, so a header cannot make us
allocate more than the model's own weights. String attributes (the legacy model config) are
bounded before they are read. Writing builds the whole file in a ``BytesIO`` that the caller
hands to :func:`axonal._files.atomic_write`: h5py needs a file it can seek and read back, which
the atomic writer's temporary file is not.

Example:
    >>> with H5Reader.open_path("model.weights.h5") as reader:  # doctest: +SKIP
    ...     kernel = reader.array(reader.group("layers/dense/vars"), "0", (784, 10), np.float32, "dense kernel")
"""
from __future__ import annotations

import io
import json
import os
from typing import Any

import numpy as np

from axonal.saving.archive import SavedFileError

# h5py is imported on first use (require_h5py): `import axonal` stays fast, and a broken h5py
# install still lets axonal import and read .axonal files.
h5py = None

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# A JSON attribute (a model or training config) larger than this is not one Keras wrote.
ATTRIBUTE_LIMIT = 16 * 2**20
NUMERIC_KINDS = "fiub"


def require_h5py(path: str):
    """The h5py module (imported here, once), or an ImportError that says how to install it."""
    global h5py
    if h5py is None:
        try:
            import h5py as module
        except ImportError as error:
            raise ImportError(f"Reading or writing {path!r} needs h5py (Keras files are HDF5): {error}. "
                              "Fix: pip install 'h5py>=3.8'.") from None
        h5py = module
    return h5py


def is_hdf5(head: bytes) -> bool:
    """Whether the first bytes of a file are HDF5's signature (at offset 0: no user block)."""
    return head.startswith(HDF5_SIGNATURE)


class H5Reader:
    """Checked access to an open HDF5 file.

    Args:
        file: an open ``h5py.File``.
        path: the file name shown in messages (e.g. ``m.keras/model.weights.h5``).
    """

    def __init__(self, file, path: str):
        self.file = file
        self.path = path

    @classmethod
    def open_path(cls, path: str) -> "H5Reader":
        require_h5py(path)
        try:
            return cls(h5py.File(path, "r"), path)
        except (OSError, ValueError) as error:
            raise SavedFileError(path, f"it is not a readable HDF5 file ({error})",
                                 "pass a file written by Keras or axonal; if it was one, it is truncated "
                                 "or damaged") from None

    @classmethod
    def open_bytes(cls, data: bytes, path: str) -> "H5Reader":
        require_h5py(path)
        try:
            return cls(h5py.File(io.BytesIO(data), "r"), path)
        except (OSError, ValueError) as error:
            raise SavedFileError(path, f"it is not a readable HDF5 file ({error})",
                                 "the file is truncated or damaged: re-save the model") from None

    def __enter__(self) -> "H5Reader":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.file.close()
        except Exception:  # noqa: BLE001 - closing a damaged file must not hide the real error
            pass

    # ----- navigation ----------------------------------------------------------------------------

    def child(self, group, name: str, kind: str | None = None, required: bool = True):
        """``group[name]`` reached through a hard link only; ``kind`` ("group"/"dataset") is checked.
        None when it is absent and not ``required``."""
        where = f"{group.name.rstrip('/')}/{name}"
        try:
            link = group.get(name, getlink=True)
        except (KeyError, OSError, ValueError, TypeError) as error:
            raise SavedFileError(self.path, f"its HDF5 entry {where!r} cannot be read ({error})") from None
        if link is None:
            if required:
                raise SavedFileError(self.path, f"it lacks the HDF5 entry {where!r}",
                                     "the file is incomplete, or belongs to another model")
            return None
        if not isinstance(link, h5py.HardLink):
            raise SavedFileError(self.path, f"its HDF5 entry {where!r} is a {type(link).__name__}, which could "
                                 "read another file", "do not load this file: Keras never writes such links")
        try:
            item = group[name]
        except (KeyError, OSError, ValueError) as error:
            raise SavedFileError(self.path, f"its HDF5 entry {where!r} cannot be opened ({error})") from None
        is_group = isinstance(item, h5py.Group)
        if kind == "group" and not is_group or kind == "dataset" and is_group:
            raise SavedFileError(self.path, f"its HDF5 entry {where!r} is not a {kind}")
        return item

    def group(self, path: str, required: bool = True):
        """The group at ``path`` (``"a/b/c"``), every step a hard link."""
        node = self.file
        for part in [p for p in path.split("/") if p]:
            node = self.child(node, part, "group", required)
            if node is None:
                return None
        return node

    def names(self, group) -> list[str]:
        try:
            return list(group.keys())
        except (OSError, ValueError) as error:
            raise SavedFileError(self.path, f"its HDF5 group {group.name!r} cannot be listed ({error})") from None

    # ----- data ----------------------------------------------------------------------------------

    def array(self, group, name: str, shape: tuple, dtype: Any, what: str) -> np.ndarray:
        """Dataset ``name`` of ``group`` as an array of ``dtype``, refused unless its shape is ``shape``
        and it is numeric (checked before a byte of data is read)."""
        dataset = self.child(group, name, "dataset")
        stored_shape, stored_dtype = self._describe(dataset, what)
        if stored_shape != tuple(shape):
            raise SavedFileError(self.path, f"{what} has shape {stored_shape} in the file, but the model expects "
                                 f"{tuple(shape)}", "load it into a model with the same layers and sizes as "
                                 "the saved one")
        return self._read(dataset, what).astype(dtype, copy=False)

    def scalar(self, group, name: str, what: str) -> float:
        """A numeric scalar dataset (an optimiser's iteration count or learning rate)."""
        dataset = self.child(group, name, "dataset")
        shape, _ = self._describe(dataset, what)
        if shape not in ((), (1,)):
            raise SavedFileError(self.path, f"{what} has shape {shape}, not a single number")
        return self._read(dataset, what).reshape(-1)[0].item()

    def dataset_shape(self, group, name: str, what: str) -> tuple:
        return self._describe(self.child(group, name, "dataset"), what)[0]

    def _describe(self, dataset, what: str) -> tuple[tuple, np.dtype]:
        try:
            shape, dtype = tuple(int(d) for d in dataset.shape or ()), dataset.dtype
            virtual, external = dataset.is_virtual, dataset.external
        except (OSError, ValueError, TypeError) as error:
            raise SavedFileError(self.path, f"{what} cannot be read ({error})") from None
        if virtual or external:
            raise SavedFileError(self.path, f"{what} is stored in other files (a virtual or external dataset)",
                                 "do not load this file: Keras never writes such datasets")
        if dtype.kind not in NUMERIC_KINDS or dtype.hasobject:
            raise SavedFileError(self.path, f"{what} has dtype {dtype}, not a number type")
        return shape, dtype

    def _read(self, dataset, what: str) -> np.ndarray:
        try:
            return np.asarray(dataset[()])
        except (OSError, ValueError, TypeError, RuntimeError) as error:
            raise SavedFileError(self.path, f"{what} cannot be read: the file is damaged ({error})") from None

    # ----- attributes ----------------------------------------------------------------------------

    def text_attribute(self, node, name: str, required: bool = False) -> str | None:
        """A string attribute, bounded in size before it is read."""
        try:
            if name not in node.attrs:
                if required:
                    raise SavedFileError(self.path, f"its HDF5 object {node.name!r} lacks the attribute {name!r}",
                                         "pass a model file written by Keras or axonal")
                return None
            size = _attribute_size(node, name)
            if size > ATTRIBUTE_LIMIT:
                raise SavedFileError(self.path, f"its attribute {name!r} holds {size} bytes, more than the "
                                     f"{ATTRIBUTE_LIMIT} any model config needs")
            value = node.attrs[name]
        except SavedFileError:
            raise
        except (OSError, ValueError, TypeError, KeyError, RuntimeError) as error:
            raise SavedFileError(self.path, f"its attribute {name!r} cannot be read ({error})") from None
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        if not isinstance(value, str):
            raise SavedFileError(self.path, f"its attribute {name!r} is {type(value).__name__}, not text")
        return value

    def json_attribute(self, node, name: str, required: bool = False) -> Any:
        text = self.text_attribute(node, name, required)
        if text is None:
            return None
        try:
            return json.loads(text)
        except (ValueError, RecursionError) as error:
            raise SavedFileError(self.path, f"its attribute {name!r} is not valid JSON ({error})") from None

    def name_list(self, node, name: str, limit: int) -> list[str]:
        """A list-of-strings attribute (``layer_names``, ``weight_names``); absent means empty."""
        try:
            if name not in node.attrs:
                return []
            size = _attribute_size(node, name)
            if size > ATTRIBUTE_LIMIT:
                raise SavedFileError(self.path, f"its attribute {name!r} holds {size} bytes: far too many names")
            values = np.asarray(node.attrs[name]).reshape(-1)
        except SavedFileError:
            raise
        except (OSError, ValueError, TypeError, KeyError, RuntimeError) as error:
            raise SavedFileError(self.path, f"its attribute {name!r} cannot be read ({error})") from None
        if values.size > limit:
            raise SavedFileError(self.path, f"its attribute {name!r} lists {values.size} names, more than {limit}")
        names = []
        for value in values.tolist():
            if isinstance(value, bytes):
                value = value.decode("utf-8", errors="replace")
            if not isinstance(value, str):
                raise SavedFileError(self.path, f"its attribute {name!r} holds {value!r:.40}, not a name")
            names.append(value)
        return names


def _attribute_size(node, name: str) -> int:
    """The bytes an attribute holds (HDF5 reports an empty one as an error: 0 then)."""
    try:
        return node.attrs.get_id(name).get_storage_size()
    except RuntimeError:
        return 0


def new_file() -> tuple[io.BytesIO, Any]:
    """An empty in-memory HDF5 file to write; ``finish(buffer, file)`` gives its bytes."""
    require_h5py("the file")
    buffer = io.BytesIO()
    return buffer, h5py.File(buffer, "w")


def finish(buffer: io.BytesIO, file) -> bytes:
    file.close()
    return buffer.getvalue()


def set_names(node, name: str, values: list[str]) -> None:
    """Write a list of names as Keras does: fixed-length byte strings (an empty list as float64)."""
    node.attrs[name] = np.array([v.encode("utf-8") for v in values]) if values else np.zeros((0,))


def file_head(path: str | os.PathLike, size: int = 8) -> bytes:
    with open(path, "rb") as file:
        return file.read(size)
