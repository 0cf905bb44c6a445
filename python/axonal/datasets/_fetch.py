"""Finding a published file (or its extracted folder) locally, verified, else downloading it.

The search order is MNIST's (:mod:`axonal.datasets._locations`):

1. ``path=``: the file itself, or a folder holding it (or holding a ``<name>/`` subfolder with it).
   Keras' default arguments (``"imdb.npz"``...) name Keras' cache file and are ignored when no such
   file is in the working directory, so Keras calls run unchanged;
2. ``$AXONAL_DATA/<name>/``;
3. ``/usr/share/datasets/<name>/``;
4. the cache ``$AXONAL_HOME/<name>/`` (default ``~/.cache/axonal/<name>/``);
5. a download into the cache from the mirrors, unless ``download=False`` or ``AXONAL_OFFLINE=1``.

In each folder the published file is looked for first; for CIFAR, then the folder its archive
extracts to (``cifar-10-batches-py/``). With ``verify=True`` (the default) a file must have its
published digest (sha256, else md5) and an extracted folder the md5 of each member. A bad copy in a
place the user controls raises :class:`DatasetChecksumError` at once (no silent fallback); a bad
copy in the cache is deleted and downloaded again. Downloads are always verified, whatever
``verify`` says, and written atomically (temporary file, fsync, ``os.replace``).
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from ._download import downloads_disabled, fetch_verified, mirrors_for
from ._errors import DatasetChecksumError, DatasetNotFoundError
from ._formats import check_regular_file
from ._locations import SYSTEM_DATA_DIR, cache_dir
from ._published import PublishedDataset, PublishedFile

__all__ = ["file_digest", "locate"]


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of the file at ``path`` (read in 1 MiB pieces)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _mismatch(path: Path, published: PublishedFile | None, expected: tuple[str, str]) -> DatasetChecksumError | None:
    algorithm, value = expected
    actual = file_digest(path, algorithm)
    if actual == value:
        return None
    what = published.filename if published else path.name
    return DatasetChecksumError(f"{algorithm} {actual} is not the published {algorithm} of {what}, {value}. The "
                                "copy is damaged or another file; replace it, or pass verify=False to load your "
                                "own data on purpose.", path, value, actual)


def _check_file(path: Path, published: PublishedFile) -> DatasetChecksumError | None:
    check_regular_file(path)
    return _mismatch(path, published, published.checksums()[0])


def _check_folder(folder: Path, members: dict[str, str]) -> DatasetChecksumError | None:
    for name, md5 in members.items():
        check_regular_file(folder / name)
        problem = _mismatch(folder / name, None, ("md5", md5))
        if problem is not None:
            return problem
    return None


def _places(spec: PublishedDataset, published: PublishedFile, path, keras_default: str) -> list[tuple[str, Path | None, bool]]:
    """``(label, folder or file, is_cache)`` in search order."""
    places: list[tuple[str, Path | None, bool]] = []
    if path is not None:
        given = Path(path).expanduser()
        if given.is_dir():
            places += [("path=", given, False), ("path=", given / spec.name, False)]
        elif given.exists():
            places.append(("path=", given, False))
        elif str(path) != keras_default:
            raise DatasetNotFoundError(f"{spec.title}: path={str(path)!r} does not exist (expected {published.filename} "
                                       "or a folder holding it)")
    data_root = os.environ.get("AXONAL_DATA")
    places.append(("$AXONAL_DATA", Path(data_root).expanduser() / spec.name if data_root else None, False))
    places.append(("system folder", Path(SYSTEM_DATA_DIR) / spec.name, False))
    places.append(("cache", cache_dir(spec), True))
    return places


def _candidates(spec: PublishedDataset, published: PublishedFile, where: Path, extracted_ok: bool):
    """``(path, is_folder)`` forms of the data present at ``where`` (a folder, or a file given by path=)."""
    if where.is_file() or (where.exists() and not where.is_dir()):
        return [(where, False)]
    found = []
    if (where / published.filename).exists():
        found.append((where / published.filename, False))
    extracted = spec.extracted if extracted_ok else None
    if extracted is not None:
        for folder in (where / extracted.folder, where):  # the extracted folder, or its files right here
            if all((folder / member).exists() for member in extracted.members):
                found.append((folder, True))
                break
    return found


def locate(spec: PublishedDataset, role: str = "data", path=None, *, keras_default: str = "", download: bool = True,
           verify: bool = True, progress_stream=None) -> tuple[Path, bool]:
    """The verified local copy of ``spec.files[role]``, downloading it when allowed.

    Returns:
        ``(path, is_extracted_folder)``: the file, or (CIFAR) the folder holding its extracted members.

    Raises:
        DatasetChecksumError: a copy in ``path=``, ``$AXONAL_DATA`` or the system folder fails its digest.
        DatasetNotFoundError: no copy anywhere, and none could be downloaded (every place and attempt listed).
    """
    published = spec.files[role]
    notes: list[str] = []
    for label, where, is_cache in _places(spec, published, path, keras_default):
        if where is None:
            notes.append(f"{label}: not set")
            continue
        found = _candidates(spec, published, where, role == "data") if where.exists() else []
        if not found:
            notes.append(f"{label} {where}: no {published.filename}")
            continue
        for candidate, is_folder in found:
            problem = None
            if verify:
                problem = (_check_folder(candidate, spec.extracted.members) if is_folder
                           else _check_file(candidate, published))
            if problem is None:
                return candidate, is_folder
            if not is_cache:
                raise problem
            notes.append(f"{label} {candidate}: discarded a bad cached copy ({problem})")
            if not is_folder:
                candidate.unlink(missing_ok=True)
    reason = downloads_disabled(download)
    if reason:
        notes.append(f"download: {reason}")
        raise _not_found(spec, published, notes)
    got, failures = _download(spec, published, cache_dir(spec), progress_stream)
    if got is None:
        mirrors = ", ".join(base for base, _ in mirrors_for(spec)) or "none"
        notes.append(f"download from {mirrors} failed:\n       " + "\n       ".join(failures))
        raise _not_found(spec, published, notes)
    return got, False


def _download(spec: PublishedDataset, published: PublishedFile, dest_dir: Path,
              progress_stream) -> tuple[Path | None, list[str]]:
    """Fetch ``published`` into ``dest_dir`` from the first mirror whose copy has the published digest."""
    algorithm, expected = published.checksums()[0]

    def verify(tmp: Path, digests: dict, builtin: bool) -> None:
        if digests[algorithm] != expected:
            raise ValueError(f"checksum mismatch: {algorithm} {digests[algorithm]}, expected {expected}")

    return fetch_verified(mirrors_for(spec), published.filename, dest_dir, progress_stream or sys.stderr, verify)


def _not_found(spec: PublishedDataset, published: PublishedFile, notes: list[str]) -> DatasetNotFoundError:
    lines = [f"{spec.title}: {published.filename} was not found, and could not be downloaded.", "Searched, in order:"]
    lines += [f"  {i}. {note}" for i, note in enumerate(notes, 1)]
    digests = ", ".join(f"{name} {value}" for name, value in published.checksums())
    lines.append(f"Expected file: {published.filename} ({digests})")
    if spec.extracted is not None:
        lines.append(f"  (or the folder it extracts to, {spec.extracted.folder}/ with "
                     f"{', '.join(spec.extracted.members)})")
    lines.append(f"Fix: put the file in /path/to/dir/{spec.name}/ and set AXONAL_DATA=/path/to/dir, pass "
                 f"path='/path/to/{published.filename}', or fetch it where there is network: "
                 f"python -m axonal.datasets {spec.name}")
    return DatasetNotFoundError("\n".join(lines))
