"""The container of saved files: a zip archive of one JSON document and ``.npy`` arrays.

Writing is atomic (:func:`axonal._files.atomic_write`): the archive goes to a temporary file in
the destination's folder, is flushed and fsynced, then renamed over the destination, so a reader
sees either the old file or the complete new one, never a partial file. Reading opens regular
files only (a FIFO or a device could block or never end) and trusts nothing in the file: member
names, sizes, array headers, shapes and dtypes are all checked before anything is allocated, and
arrays are read with ``allow_pickle=False``.
"""
from __future__ import annotations

import io
import json
import os
import zipfile
import zlib
from typing import Any, BinaryIO

import numpy as np

from axonal._files import atomic_write, remove_stale_temporaries, special_file_problem

__all__ = ["ArchiveReader", "SavedFileError", "atomic_write", "write_archive"]

CONFIG_MEMBER = "config.json"
# A fixed timestamp makes the same model give byte-identical files (zip requires a date >= 1980).
_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
_CONFIG_LIMIT = 16 * 2**20
_MEMBER_COUNT_LIMIT = 100_000
_DEFLATE_RATIO = 1032  # the most deflate can expand data
# An .npy header is at most 64 KiB (format 2.0 allows more, but numpy refuses headers above ~10 KB).
_NPY_HEADER_LIMIT = 2**16 + 16


class SavedFileError(ValueError):
    """A saved file that cannot be loaded; the message names the file, the problem and a fix."""

    def __init__(self, path: str, problem: str, fix: str = "re-save the model with model.save(path), or "
                                                          "restore the file from a backup"):
        super().__init__(f"Cannot load {path!r}: {problem}. Fix: {fix}.")
        self.path = path


def write_archive(file: BinaryIO, config: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write ``config`` as ``config.json`` and each array as an ``.npy`` member to ``file``.

    The JSON is deflated; arrays are stored uncompressed (float weights barely compress, and
    storing keeps saving as fast as copying).
    """
    with zipfile.ZipFile(file, "w") as archive:
        text = json.dumps(config, indent=1, sort_keys=True, allow_nan=False).encode("utf-8")
        archive.writestr(_member_info(CONFIG_MEMBER, zipfile.ZIP_DEFLATED), text)
        for name, array in arrays.items():
            info = _member_info(name, zipfile.ZIP_STORED)
            with archive.open(info, "w", force_zip64=array.nbytes > 2**30) as member:
                np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)


class ArchiveReader:
    """Reads the members of a saved archive with every check a hostile file calls for.

    Args:
        path: the file to read.

    Example:
        >>> with ArchiveReader("model.axonal") as reader:  # doctest: +SKIP
        ...     config = reader.read_config()
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        if os.path.isdir(self.path):
            raise IsADirectoryError(f"Cannot load {self.path!r}: it is a folder, not a saved file. "
                                    "Fix: pass the path of a file written by model.save().")
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"Cannot load {self.path!r}: no such file. Fix: check the path "
                                    f"(the current folder is {os.getcwd()!r}).")
        problem = special_file_problem(self.path)
        if problem is not None:  # checked before opening: a FIFO's open() alone blocks
            raise SavedFileError(self.path, problem, "pass the path of a file written by model.save()")
        remove_stale_temporaries(self.path)  # what saves of this path killed midway left behind
        try:
            self._archive = zipfile.ZipFile(self.path, "r")
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, ValueError) as error:
            # NotImplementedError: a zip feature or version zipfile lacks; ValueError: e.g. a member
            # name that is not valid UTF-8 although flagged so
            raise SavedFileError(self.path, f"it is not an axonal file (not a readable zip archive: {error})",
                                 "pass a file written by model.save() or model.save_weights(); if it was "
                                 "one, it is truncated or damaged") from None
        infos = self._archive.infolist()
        if len(infos) > _MEMBER_COUNT_LIMIT:
            self.close()
            raise SavedFileError(self.path, f"it holds {len(infos)} members, far more than any model")
        self.members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            problem = _unsafe_name_problem(info.filename)
            if problem is None and info.filename in self.members:
                problem = "appears twice"
            if problem is not None:
                self.close()
                raise SavedFileError(self.path, f"its member {info.filename!r} {problem}",
                                     "do not load this file: it was not written by axonal")
            self.members[info.filename] = info

    def __enter__(self) -> "ArchiveReader":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._archive.close()

    def read_config(self) -> dict[str, Any]:
        """The parsed ``config.json``."""
        return self.read_json(CONFIG_MEMBER)

    def read_json(self, member: str) -> dict[str, Any]:
        """The JSON object in ``member`` (at most 16 MiB), or a SavedFileError saying what is wrong."""
        data = self._read(member, _CONFIG_LIMIT)
        try:
            value = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as error:
            raise SavedFileError(self.path, f"its {member} is not valid JSON ({error})") from None
        if not isinstance(value, dict):
            raise SavedFileError(self.path, f"its {member} holds a {type(value).__name__}, not an object")
        return value

    def check_members(self, expected: set[str]) -> None:
        """Refuse members other than ``config.json`` and ``expected``, and missing ones."""
        missing = sorted(expected - self.members.keys())
        if missing:
            raise SavedFileError(self.path, f"the archive lacks member(s) {', '.join(missing[:5])}"
                                 f"{' ...' if len(missing) > 5 else ''}", "the file is incomplete or damaged: "
                                 "re-save the model, or restore the file from a backup")
        unexpected = sorted(self.members.keys() - expected - {CONFIG_MEMBER})
        if unexpected:
            raise SavedFileError(self.path, f"the archive holds unexpected member(s) {', '.join(unexpected[:5])}",
                                 "do not load a file that was modified after saving")

    def stored_bytes(self, prefix: str) -> int:
        """A bound on the bytes the members under ``prefix`` can yield: their declared sizes, but never
        more than deflate can expand the whole archive to (about 1032:1), as sizes can lie."""
        declared = sum(info.file_size for name, info in self.members.items() if name.startswith(prefix))
        return min(declared, _DEFLATE_RATIO * os.path.getsize(self.path))

    def read_array(self, name: str, shape: tuple, dtype: np.dtype, what: str) -> np.ndarray:
        """Member ``name`` as an array, refused unless it has exactly ``shape`` and ``dtype``.

        Args:
            what: what the array is, for messages (e.g. ``"weight dense/kernel"``).
        """
        dtype, shape = np.dtype(dtype), tuple(shape)
        size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        data = self._read(name, _NPY_HEADER_LIMIT + size)
        stream = io.BytesIO(data)
        try:
            version = np.lib.format.read_magic(stream)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"unsupported .npy version {version}")
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            stored_shape, _, stored_dtype = read_header(stream)
        except Exception as error:  # noqa: BLE001 - numpy parses the header text with ast/tokenize,
            # which raise SyntaxError, TokenError, RecursionError... on hostile text: all "not valid"
            raise SavedFileError(self.path, f"its member {name!r} ({what}) is not a valid .npy array "
                                 f"({error})") from None
        # Checked before reading the data: the header alone decides how much numpy allocates.
        if tuple(stored_shape) != shape:
            raise SavedFileError(self.path, f"{what} has shape {tuple(stored_shape)} in the file, but the model "
                                 f"expects {shape}", "load it into a model with the same layers and sizes "
                                 "as the saved one")
        if stored_dtype.hasobject or stored_dtype.newbyteorder("<") != dtype.newbyteorder("<"):
            raise SavedFileError(self.path, f"{what} has dtype {stored_dtype} in the file, but the model "
                                 f"expects {dtype}")
        if len(data) - stream.tell() != size:
            raise SavedFileError(self.path, f"its member {name!r} ({what}) holds {len(data) - stream.tell()} "
                                 f"bytes of data where {shape} {dtype} needs {size}")
        stream.seek(0)
        return np.lib.format.read_array(stream, allow_pickle=False)

    def _read(self, name: str, limit: int) -> bytes:
        """The bytes of member ``name``, refusing more than ``limit`` (whatever its header claims)."""
        info = self.members.get(name)
        if info is None:
            raise SavedFileError(self.path, f"the archive lacks its {name!r} member",
                                 "pass a file written by model.save() or model.save_weights()")
        if info.file_size > limit:
            raise SavedFileError(self.path, f"its member {name!r} claims {info.file_size} bytes, more than the "
                                 f"{limit} it can hold", "do not load this file: it was not written by axonal")
        try:
            with self._archive.open(info) as member:
                # Read one byte past the limit: a lying size field cannot make us read more.
                data = member.read(limit + 1)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError, ValueError,
                zlib.error) as error:
            # RuntimeError: an encrypted member; NotImplementedError: an unknown compression;
            # zlib.error: a damaged deflate stream (zipfile lets it through); ValueError: a local
            # header whose name is flagged UTF-8 but is not (UnicodeDecodeError)
            raise SavedFileError(self.path, f"its member {name!r} cannot be read ({error})") from None
        if len(data) > limit:
            raise SavedFileError(self.path, f"its member {name!r} holds more than the {limit} bytes it can hold",
                                 "do not load this file: it was not written by axonal")
        return data


def _unsafe_name_problem(name: str) -> str | None:
    """Why a member name could escape a folder if the archive were unpacked, or None when it is safe."""
    if not name or name.startswith(("/", "\\")) or "\\" in name or ":" in name:
        return "is an absolute or non-portable path"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return "has an empty, '.' or '..' path component (path traversal)"
    return None


def _member_info(name: str, compression: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_TIMESTAMP)
    info.compress_type = compression
    info.external_attr = 0o644 << 16  # rw-r--r-- for whoever unpacks it
    return info
