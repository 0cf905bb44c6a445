"""``python -m axonal.datasets [NAME ...|all]``: fetch, verify and show where files are.

NAME is ``mnist``, ``fashion-mnist``, ``cifar10``, ``cifar100``, ``imdb``, ``reuters`` or
``boston_housing``; ``all`` (the default) is every one of them.

Exit status 0 when every requested dataset is present and verified, 1 otherwise (the error report,
with the places searched and the fix, goes to stderr).

Example::

    $ AXONAL_DATA=/data python -m axonal.datasets fashion-mnist
    fashion-mnist: verified (sha256 of the IDX data)
      train: 60000 images  /data/fashion-mnist/train-images-idx3-ubyte.gz
                           /data/fashion-mnist/train-labels-idx1-ubyte.gz
      ...
"""
from __future__ import annotations

import argparse
import sys

from ._catalog import SPLITS, get_spec
from ._errors import DatasetFormatError, DatasetNotFoundError
from ._fetch import locate
from ._load import locate_and_load
from ._published import get_published, published_names

IDX_NAMES = ("mnist", "fashion-mnist")
NAMES = IDX_NAMES + published_names()


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m axonal.datasets",
        description="Find or download the datasets, verify the sha256 (or md5) of every file, "
                    "and print where the files are.")
    # No argparse choices here: with nargs="*" it rejects the list default.
    parser.add_argument("datasets", nargs="*", metavar="{" + ",".join(NAMES) + ",all}",
                        help="default: all")
    parser.add_argument("--split", choices=SPLITS, action="append",
                        help="MNIST-like datasets only: only this split (repeatable; default: train and test)")
    parser.add_argument("--offline", action="store_true", help="never download")
    parser.add_argument("--path", help="a folder or .npz file searched first")
    args = parser.parse_args(argv)
    for name in args.datasets:
        if name != "all" and _canonical(name) not in NAMES:
            parser.error(f"unknown dataset {name!r}; choose from {', '.join(NAMES)} or all")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    names = NAMES if not args.datasets or "all" in args.datasets else tuple(dict.fromkeys(
        _canonical(name) for name in args.datasets))
    splits = tuple(args.split or SPLITS)
    status = 0
    for name in names:
        if name not in IDX_NAMES:
            status |= _fetch_published(name, args)
            continue
        try:
            found = locate_and_load(name, splits, args.path, download=not args.offline,
                                    progress_stream=sys.stderr)
        except (DatasetNotFoundError, DatasetFormatError) as err:
            print(f"{name}: FAILED\n{err}\n", file=sys.stderr)
            status = 1
            continue
        print(f"{name}: verified (sha256 of the IDX data)")
        for split, ((images, _), source) in found.items():
            files = source.files()
            print(f"  {split + ':':6} {images.shape[0]} images  {files[0]}")
            for extra in files[1:]:
                print(f"  {'':6} {'':{len(str(images.shape[0]))}}         {extra}")
    return status


def _canonical(name: str) -> str:
    """The dataset's name in NAMES (``fashion_mnist`` -> ``fashion-mnist``, ``CIFAR-10`` -> ``cifar10``)."""
    key = name.lower()
    if key.replace("_", "-") in IDX_NAMES:
        return get_spec(key).name
    try:
        return get_published(key).name
    except ValueError:
        return key


def _fetch_published(name: str, args: argparse.Namespace) -> int:
    """Find or download every file of a one-file dataset (and its word index); 0 when all verified."""
    spec = get_published(name)
    try:
        found = {role: locate(spec, role, args.path, download=not args.offline, progress_stream=sys.stderr)[0]
                 for role in spec.files}
    except (DatasetNotFoundError, DatasetFormatError) as err:
        print(f"{name}: FAILED\n{err}\n", file=sys.stderr)
        return 1
    print(f"{name}: verified (published checksums)")
    for role, path in found.items():
        print(f"  {role + ':':11} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
