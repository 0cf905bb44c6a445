"""Reading CIFAR-10/100 batches from the published ``.tar.gz`` (without extracting it) or its extracted folder.

Each batch is a Python 2 pickle of a dict: ``data`` (uint8 (N, 3072), each row the red, green and
blue 32x32 planes), ``labels`` (CIFAR-10) or ``fine_labels``/``coarse_labels`` (CIFAR-100), plus
names this loader does not use. Pickles are rebuilt by the restricted unpickler
(:mod:`axonal.datasets._pickles`), only after the archive's checksum passed (with ``verify``).
"""
from __future__ import annotations

import tarfile
import zlib
from pathlib import Path

import numpy as np

from axonal.backend.keras_utils import image_data_format

from ._errors import DatasetFormatError
from ._formats import check_regular_file
from ._pickles import MAX_MEMBER_BYTES, load_pickle

__all__ = ["load_batches", "to_keras_arrays"]

_TAR_ERRORS = (tarfile.TarError, OSError, EOFError, zlib.error)


def _read_members_from_archive(archive: Path, folder: str, names: tuple[str, ...]) -> dict[str, bytes]:
    """The bytes of ``folder/name`` for each of ``names``, read in one pass over the compressed archive."""
    wanted = {f"{folder}/{name}": name for name in names}
    found: dict[str, bytes] = {}
    check_regular_file(archive)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:  # streaming: the .gz is decompressed once, front to back
                name = wanted.get(member.name.lstrip("./"))
                if name is None:
                    continue
                if not member.isfile() or member.size > MAX_MEMBER_BYTES:
                    raise DatasetFormatError(f"member {member.name} is not a regular file of at most "
                                             f"{MAX_MEMBER_BYTES} bytes", archive)
                found[name] = tar.extractfile(member).read()
    except DatasetFormatError:
        raise
    except _TAR_ERRORS as err:
        raise DatasetFormatError(f"not a readable .tar.gz archive ({type(err).__name__}: {err})", archive) from err
    missing = [f"{folder}/{name}" for name in names if name not in found]
    if missing:
        raise DatasetFormatError(f"the archive lacks {', '.join(missing)}", archive)
    return found


def _read_members_from_folder(folder: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    found = {}
    for name in names:
        check_regular_file(folder / name)
        found[name] = (folder / name).read_bytes()
    return found


def _batch(data: bytes, where: str, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images (N, 3, 32, 32) uint8, labels (N,) int64)`` of one pickled batch."""
    record = load_pickle(data, where, encoding="bytes")
    if not isinstance(record, dict):
        raise DatasetFormatError(f"expected a pickled dict, found {type(record).__name__}", where)
    record = {key.decode("utf8") if isinstance(key, bytes) else key: value for key, value in record.items()}
    if "data" not in record or label_key not in record:
        raise DatasetFormatError(f"expected the keys 'data' and {label_key!r}, found {sorted(map(str, record))}",
                                 where)
    images, labels = record["data"], record[label_key]
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 2 or images.shape[1] != 3072:
        raise DatasetFormatError(f"'data' must be a uint8 array of shape (N, 3072), found "
                                 f"{getattr(images, 'dtype', type(images).__name__)} {getattr(images, 'shape', '')}",
                                 where)
    try:
        labels = np.asarray(labels)
    except (ValueError, TypeError) as err:
        raise DatasetFormatError(f"{label_key!r} is not a list of integers ({err})", where) from None
    if labels.dtype.kind not in "iu" or labels.shape != (images.shape[0],):
        raise DatasetFormatError(f"{label_key!r} must be {images.shape[0]} integers, found {labels.dtype} "
                                 f"{labels.shape}", where)
    return images.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def load_batches(source: Path, is_folder: bool, folder: str, groups: dict[str, tuple[str, ...]],
                 label_key: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each group of batch files (``{"train": ("data_batch_1", ...), "test": ("test_batch",)}``)
    read and concatenated, as ``{group: (images (N, 3, 32, 32) uint8, labels (N,) int64)}``."""
    names = tuple(name for members in groups.values() for name in members)
    raw = _read_members_from_folder(source, names) if is_folder else _read_members_from_archive(source, folder, names)
    result = {}
    for group, members in groups.items():
        parts = [_batch(raw[name], f"{source}:{name}" if not is_folder else str(source / name), label_key)
                 for name in members]
        result[group] = (np.concatenate([images for images, _ in parts]),
                         np.concatenate([labels for _, labels in parts]))
    return result


def to_keras_arrays(images: np.ndarray, labels: np.ndarray, label_dtype, num_classes: int,
                    source: Path) -> tuple[np.ndarray, np.ndarray]:
    """Keras' layout: images (N, 32, 32, 3) under ``channels_last`` (else (N, 3, 32, 32)), labels (N, 1)."""
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DatasetFormatError(f"labels must lie in 0..{num_classes - 1}, found {labels.min()}..{labels.max()}",
                                 source)
    if image_data_format() == "channels_last":
        images = np.ascontiguousarray(images.transpose(0, 2, 3, 1))
    return images, labels.reshape(-1, 1).astype(label_dtype)
