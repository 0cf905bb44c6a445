"""Where dataset files are looked for, and what counts as a split being present in a folder.

Search order (first location holding every requested split wins):

1. ``path=`` given by the caller: a folder (searched itself, then its ``<name>/`` subfolder) or an
   .npz file. A ``path`` that does not exist is an error, not a reason to look elsewhere — except
   Keras' default argument ``"mnist.npz"``, which names Keras' cache file and is ignored when no
   such file is in the working directory, so ``load_data(path="mnist.npz")`` runs unchanged.
2. ``$AXONAL_DATA/<name>/``.
3. ``/usr/share/datasets/<name>/`` (:data:`SYSTEM_DATA_DIR`; Debian's ``dataset-fashion-mnist``
   installs ``/usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``).
4. The cache: ``$AXONAL_HOME/<name>/``, else ``$XDG_CACHE_HOME/axonal/<name>/``, else
   ``~/.cache/axonal/<name>/``. Downloads are written here.

Inside a folder a split is found as, in order of preference: the IDX pair (raw, else .gz, with the
standard names), the .npz (``mnist.npz``), then the CSV file (``mnist_<split>.csv``).
"""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ._catalog import DatasetSpec
from ._errors import DatasetNotFoundError
from ._formats import ZIP_ERRORS, check_regular_file

__all__ = ["SYSTEM_DATA_DIR", "Location", "SplitSource", "cache_dir", "find_split",
           "search_locations"]

SYSTEM_DATA_DIR = "/usr/share/datasets"
_KERAS_DEFAULT_PATH = "mnist.npz"


@dataclass(frozen=True)
class Location:
    """One place to search. ``directory`` is None when the place is not configured."""

    label: str  # how the report names it: "path=", "$AXONAL_DATA", "system folder", "cache"
    directory: Path | None
    npz_file: Path | None = None  # set when path= names an .npz file directly
    is_cache: bool = False
    note: str = ""  # why it is not configured

    def describe(self) -> str:
        where = self.npz_file or self.directory
        return f"{self.label} {where}" if where else f"{self.label}"


@dataclass(frozen=True)
class SplitSource:
    """The files holding one split: an IDX pair, or one CSV/.npz file (then labels == images)."""

    split: str
    layout: str  # "idx", "npz" or "csv"
    images: Path
    labels: Path

    def files(self) -> list[Path]:
        return [self.images] if self.images == self.labels else [self.images, self.labels]


def cache_dir(spec: DatasetSpec) -> Path:
    """The cache folder for ``spec`` (honours ``AXONAL_HOME`` and ``XDG_CACHE_HOME``)."""
    if os.environ.get("AXONAL_HOME"):
        return Path(os.environ["AXONAL_HOME"]).expanduser() / spec.name
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(base).expanduser() / "axonal" / spec.name


def _explicit_locations(spec: DatasetSpec, path: str | os.PathLike) -> list[Location]:
    given = Path(path).expanduser()
    if given.exists() and not given.is_dir():
        check_regular_file(given)  # a FIFO or a device is no dataset (is_file() says False to them)
    if given.is_file():
        if given.suffix != ".npz":
            raise ValueError(f"path={str(path)!r} is a file but not an .npz; pass the folder "
                             "that holds the IDX or CSV files instead")
        return [Location("path=", None, npz_file=given)]
    if given.is_dir():
        found = [Location("path=", given)]
        if (given / spec.name).is_dir():
            found.append(Location("path=", given / spec.name))
        return found
    if str(path) == _KERAS_DEFAULT_PATH:
        return []  # Keras' default argument: a cache file name, not a place we know
    raise DatasetNotFoundError(f"{spec.title}: path={str(path)!r} does not exist (expected a "
                               f"folder holding the {spec.title} files, or an .npz file)")


def search_locations(spec: DatasetSpec, path: str | os.PathLike | None = None) -> list[Location]:
    """All locations for ``spec`` in search order, configured or not (for the report)."""
    places = _explicit_locations(spec, path) if path is not None else []
    data_root = os.environ.get("AXONAL_DATA")
    if data_root:
        places.append(Location("$AXONAL_DATA", Path(data_root).expanduser() / spec.name))
    else:
        places.append(Location("$AXONAL_DATA", None, note="AXONAL_DATA is not set"))
    places.append(Location("system folder", Path(SYSTEM_DATA_DIR) / spec.name))
    places.append(Location("cache", cache_dir(spec), is_cache=True))
    return places


def _first_existing(directory: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        candidate = directory / name
        if candidate.exists() and not candidate.is_dir():
            check_regular_file(candidate)  # a FIFO named like the data is a mistake, not an absence
            return candidate
    return None


def _npz_has_split(npz: Path, split: str) -> bool:
    check_regular_file(npz)
    try:
        with zipfile.ZipFile(npz) as archive:
            names = set(archive.namelist())
    except ZIP_ERRORS:
        return True  # unreadable: report it as a format error when it is read, not as "absent"
    return {f"x_{split}.npy", f"y_{split}.npy"} <= names


def find_split(location: Location, spec: DatasetSpec, split: str) -> tuple[SplitSource | None, str]:
    """Look for ``split`` in ``location``.

    Returns:
        ``(source, "")`` when found, else ``(None, reason)`` where ``reason`` says what is there
        (e.g. only the images file), for the not-found report.
    """
    if location.npz_file is not None:
        if _npz_has_split(location.npz_file, split):
            return SplitSource(split, "npz", location.npz_file, location.npz_file), ""
        return None, f"no x_{split}/y_{split} arrays in the .npz"
    directory = location.directory
    if directory is None or not directory.is_dir():
        return None, "folder does not exist"
    images_spec, labels_spec = spec.file(split, "images"), spec.file(split, "labels")
    images = _first_existing(directory, (images_spec.filename, images_spec.filename + ".gz"))
    labels = _first_existing(directory, (labels_spec.filename, labels_spec.filename + ".gz"))
    if images and labels:
        return SplitSource(split, "idx", images, labels), ""
    npz = _first_existing(directory, (spec.npz_name,)) if spec.npz_name else None
    if npz and _npz_has_split(npz, split):
        return SplitSource(split, "npz", npz, npz), ""
    csv = _first_existing(directory, spec.csv_names.get(split, ()))
    if csv:
        return SplitSource(split, "csv", csv, csv), ""
    if images or labels:
        have, lack = (images, labels_spec) if images else (labels, images_spec)
        return None, f"{have.name} present but {lack.filename}[.gz] missing"
    return None, "no files"
