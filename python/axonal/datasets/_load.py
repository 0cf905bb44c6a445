"""Finding, reading, verifying and (when allowed) downloading the splits of a dataset.

The rule for incomplete locations: a location is used only if it holds *every* split asked for.
One holding only some of them (e.g. ``shared/data/mnist`` has the 10k test split only) is noted
and skipped, and the search goes on; if nothing complete turns up, the
:class:`DatasetNotFoundError` says which splits were found where and how to load them alone
(``load_split(name, "test")``). Splits are never mixed across locations.

A file that is present but broken (bad format or checksum) raises :class:`DatasetFormatError` at
once when it sits in a place the user controls (``path=``, ``$AXONAL_DATA``, the system folder):
silently falling back would hide it. In the cache, which axonal manages, it is deleted and
downloaded again.
"""
from __future__ import annotations

import os

import numpy as np

from ._catalog import SPLITS, DatasetSpec, get_spec
from ._download import download_file, downloads_disabled, mirrors_for
from ._errors import DatasetChecksumError, DatasetFormatError, DatasetNotFoundError
from ._formats import check_pair, idx_sha256, read_csv, read_idx, read_npz
from ._locations import Location, SplitSource, cache_dir, find_split, search_locations

__all__ = ["load_split", "load_splits", "locate_and_load"]

Split = tuple[np.ndarray, np.ndarray]


def read_split(source: SplitSource, spec: DatasetSpec, verify: bool) -> Split:
    """Read one split from ``source``, check its shape/labels and (``verify``) its checksums."""
    if source.layout == "idx":
        images, labels = read_idx(source.images), read_idx(source.labels)
    elif source.layout == "npz":
        images, labels = read_npz(source.images, source.split)
    else:
        images, labels = read_csv(source.images)
    check_pair(images, labels, source.images, source.labels)
    if verify:
        for kind, array, path in (("images", images, source.images),
                                  ("labels", labels, source.labels)):
            expected = spec.file(source.split, kind)
            actual = idx_sha256(array)
            if actual != expected.payload_sha256:
                raise DatasetChecksumError(
                    f"{spec.title} {source.split} {kind} do not match the canonical "
                    f"{expected.filename}: sha256 of the IDX data is {actual}, expected "
                    f"{expected.payload_sha256} ({expected.count} samples; found "
                    f"{array.shape[0]}). Replace the file, or pass verify=False to load "
                    "non-canonical data on purpose.", path, expected.payload_sha256, actual)
    return images, labels


def _try_location(location: Location, spec: DatasetSpec, splits: tuple[str, ...],
                  verify: bool, notes: list[str]) -> dict[str, tuple[Split, SplitSource]] | None:
    if location.directory is None and location.npz_file is None:
        notes.append(f"{location.label}: {location.note}")
        return None
    if location.npz_file is None and not location.directory.is_dir():
        notes.append(f"{location.describe()}: does not exist")
        return None
    sources, missing = {}, []
    for split in splits:
        source, reason = find_split(location, spec, split)
        if source is None:
            missing.append(f"{split}: {reason}")
        else:
            sources[split] = source
    if missing:
        found = "; ".join(f"only the {s} split is here ({', '.join(p.name for p in src.files())})"
                          for s, src in sources.items())
        notes.append(f"{location.describe()}: " + (f"{found}; " if found else "")
                     + "; ".join(missing))
        return None
    found = {}
    for split, source in sources.items():
        try:
            found[split] = (read_split(source, spec, verify), source)
        except DatasetFormatError as err:
            if not location.is_cache:
                raise
            notes.append(f"{location.describe()}: discarded a bad cached file ({err})")
            for path in source.files():  # ours to manage: delete so a fresh copy replaces it
                path.unlink(missing_ok=True)
            return None
    return found


def _download_missing(spec: DatasetSpec, splits: tuple[str, ...], cache: Location,
                      progress_stream) -> list[str]:
    """Download the splits the cache lacks; return the failed attempts (empty on success)."""
    failures: list[str] = []
    for split in splits:
        if find_split(cache, spec, split)[0] is not None:
            continue  # already cached; only the other split was missing
        for kind in ("images", "labels"):
            got, attempts = download_file(spec, spec.file(split, kind), cache.directory,
                                          progress_stream)
            if got is None:
                # Every mirror failed for this file, so the dataset cannot be completed: stop here
                # rather than make an offline or firewalled user wait for each remaining file.
                return failures + attempts
    return failures


def _not_found(spec: DatasetSpec, splits: tuple[str, ...],
               notes: list[str]) -> DatasetNotFoundError:
    wanted = " and ".join(splits) + (" splits" if len(splits) > 1 else " split")
    lines = [f"{spec.title}: no complete copy of the {wanted} was found, and none could be "
             "downloaded.", "Searched, in order:"]
    lines += [f"  {i}. {note}" for i, note in enumerate(notes, 1)]
    lines.append("Expected files (IDX raw or .gz; sha256 of the uncompressed IDX data):")
    lines += [f"  {f.filename + '[.gz]':29} {f.payload_sha256}"
              for f in spec.files if f.split in splits]
    csvs = " / ".join(n for s in splits for n in spec.csv_names.get(s, ())[:1])
    if csvs:
        lines.append(f"  (also read: {csvs} with a label column then 784 pixels, or "
                     f"{spec.npz_name} with x_train, y_train, x_test, y_test)")
    partial = [n.split(":")[0] for n in notes if "only the test split" in n]
    if partial and "train" in splits:
        lines.append("Only the test split was found (in " + "; ".join(partial) + "). To use it "
                     f"alone: axonal.datasets.load_split({spec.name!r}, 'test').")
    fix = f"Fix: put the files in /path/to/dir/{spec.name}/ and set AXONAL_DATA=/path/to/dir"
    if spec.install_hint:
        fix += f", or run `{spec.install_hint}`"
    lines.append(fix + f", or fetch them where there is network: python -m axonal.datasets "
                 f"{spec.name}")
    return DatasetNotFoundError("\n".join(lines))


def locate_and_load(name: str, splits: tuple[str, ...] = SPLITS, path=None, *,
                    download: bool = True, verify: bool = True,
                    progress_stream=None) -> dict[str, tuple[Split, SplitSource]]:
    """Find (downloading if allowed), read and verify ``splits`` of ``name`` from one location.

    Returns:
        ``{split: ((images, labels), source)}``; ``source.files()`` are the files that were read.
    """
    spec = get_spec(name)
    splits = tuple(splits)
    for split in splits:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    notes: list[str] = []
    for location in search_locations(spec, path):
        found = _try_location(location, spec, splits, verify, notes)
        if found is not None:
            return found
    reason = downloads_disabled(download)
    if reason:
        notes.append(f"download: {reason}")
        raise _not_found(spec, splits, notes)
    cache = Location("cache", cache_dir(spec), is_cache=True)
    # Two rounds: a cached split that was not read during the search (its partner was missing)
    # may turn out bad after the download; it is then discarded and fetched once more.
    for _ in range(2):
        failures = _download_missing(spec, splits, cache, progress_stream)
        if failures:
            mirrors = ", ".join(base for base, _ in mirrors_for(spec)) or "none"
            notes.append(f"download from {mirrors} failed:\n       "
                         + "\n       ".join(failures))
            raise _not_found(spec, splits, notes)
        found = _try_location(cache, spec, splits, verify, notes)
        if found is not None:
            return found
    raise _not_found(spec, splits, notes)


def load_splits(name: str, splits: tuple[str, ...] = SPLITS, path=None, *, download: bool = True,
                verify: bool = True) -> dict[str, Split]:
    """Load several splits of dataset ``name`` from one location (see the module docstring).

    Returns:
        ``{split: (images, labels)}`` with uint8 images (N, 28, 28) and uint8 labels (N,).
    """
    found = locate_and_load(name, splits, path, download=download, verify=verify)
    return {split: arrays for split, (arrays, _) in found.items()}


def load_split(name: str, split: str, path: str | os.PathLike | None = None, *,
               download: bool = True, verify: bool = True) -> Split:
    """Load a single split of a dataset; a location holding just that split is enough.

    This is how callers that only need the test split (evaluation, demo fallbacks, tests) read it
    from a place that lacks the training split, such as ``shared/data/mnist``.

    Args:
        name: ``"mnist"`` or ``"fashion-mnist"`` (``"fashion_mnist"`` also accepted).
        split: ``"train"`` (60000 samples) or ``"test"`` (10000 samples).
        path: optional folder or .npz file searched first.
        download: allow a download into the cache when no local copy is found.
        verify: compare the data with the canonical sha256 (pass False for your own data).

    Returns:
        ``(x, y)``: uint8 images of shape (N, 28, 28) and uint8 labels of shape (N,).

    Example:
        >>> from axonal.datasets import load_split
        >>> x_test, y_test = load_split("mnist", "test")   # doctest: +SKIP
        >>> x_test.shape, y_test.shape
        ((10000, 28, 28), (10000,))
    """
    return load_splits(name, (split,), path, download=download, verify=verify)[split]
