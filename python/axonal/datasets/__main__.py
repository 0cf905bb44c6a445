"""``python -m axonal.datasets [mnist|fashion-mnist|all]``: fetch, verify and show where files are.

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
from ._load import locate_and_load

NAMES = ("mnist", "fashion-mnist")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m axonal.datasets",
        description="Find or download MNIST / Fashion-MNIST, verify the sha256 of every file, "
                    "and print where the files are.")
    # No argparse choices here: with nargs="*" it rejects the list default.
    parser.add_argument("datasets", nargs="*", metavar="{mnist,fashion-mnist,all}",
                        help="default: all")
    parser.add_argument("--split", choices=SPLITS, action="append",
                        help="only this split (repeatable; default: train and test)")
    parser.add_argument("--offline", action="store_true", help="never download")
    parser.add_argument("--path", help="a folder or .npz file searched first")
    args = parser.parse_args(argv)
    for name in args.datasets:
        if name != "all" and name.lower().replace("_", "-") not in NAMES:
            parser.error(f"unknown dataset {name!r}; choose from {', '.join(NAMES)} or all")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    names = NAMES if not args.datasets or "all" in args.datasets else tuple(dict.fromkeys(
        get_spec(name).name for name in args.datasets))
    splits = tuple(args.split or SPLITS)
    status = 0
    for name in names:
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


if __name__ == "__main__":
    sys.exit(main())
