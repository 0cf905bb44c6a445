"""Datasets with Keras' loaders and return values, found locally or downloaded and verified.

``mnist`` and ``fashion_mnist`` (this page), and ``cifar10``, ``cifar100`` (``label_mode``),
``imdb`` and ``reuters`` (``num_words``, ``skip_top``, ``maxlen``, ``seed``, ``start_char``,
``oov_char``, ``index_from``, ``get_word_index``; reuters also ``test_split``) and
``boston_housing`` (``test_split``, ``seed``): one published file each, found in the same places
as below under the folder names ``cifar10``, ``cifar100``, ``imdb``, ``reuters`` and
``boston_housing``, checked against the published sha256 (md5 for the word indexes), and read
without ever running a pickle's code (:mod:`axonal.datasets._fetch`, :mod:`axonal.datasets._pickles`).

Usage:
    >>> from axonal.datasets import mnist, fashion_mnist, load_split
    >>> (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()   # doctest: +SKIP
    >>> x_test, y_test = load_split("mnist", "test")                        # doctest: +SKIP

Where files are looked for, in order (the first location holding every split asked for wins):

1. ``path=`` (a folder, its ``<name>/`` subfolder, or an .npz file);
2. ``$AXONAL_DATA/<name>/``;
3. ``/usr/share/datasets/<name>/`` (Debian's ``dataset-fashion-mnist`` puts the four .gz files in
   ``/usr/share/datasets/fashion-mnist/``);
4. the cache ``$AXONAL_HOME/<name>/`` (default ``~/.cache/axonal/<name>/``);
5. a download into the cache from the mirrors, unless ``download=False`` or ``AXONAL_OFFLINE=1``.

``<name>`` is ``mnist`` or ``fashion-mnist``. Formats: IDX raw or .gz under the standard names
(``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``, ``t10k-...``), the
``mnist_train.csv`` / ``mnist_test.csv`` layout (label, then 784 pixels; header row optional;
Kaggle's ``fashion-mnist_train.csv`` names too) and Keras' ``mnist.npz`` (read with
``allow_pickle=False``).

Integrity: every split is compared with the sha256 of the canonical uncompressed IDX data, whatever
layout it came in (the arrays are re-encoded as IDX bytes and hashed), so a Debian-recompressed
.gz, a CSV export and Keras' .npz all verify against the same published values. ``verify=False``
loads your own (non-canonical) data. Downloads additionally check the .gz digest of the built-in
mirrors and are written atomically (temporary file, fsync, ``os.replace``).

Incomplete locations (decision): a location is used only if it holds every split requested, and
splits are never mixed across locations. ``load_data()`` needs train *and* test, so a folder with
only the test split (as ``shared/data/mnist`` has) is noted and skipped and the search continues;
if nothing complete is found, :class:`DatasetNotFoundError` lists each place searched, says where
only the test split was found, and shows how to load it alone: ``load_split(name, "test")`` is
satisfied by any location that holds that one split.

Broken files: a file that exists but is truncated, corrupt, wrongly shaped, has labels out of
0..9, mismatched counts, or the wrong checksum raises :class:`DatasetFormatError` (a ValueError)
naming the file. In a user-controlled place this is raised at once rather than skipped, so a bad
copy is never hidden by a fallback; a bad file in the cache is deleted and downloaded again.

Environment variables:
    AXONAL_DATA               root holding ``mnist/`` and ``fashion-mnist/`` folders.
    AXONAL_HOME               cache root (default ``$XDG_CACHE_HOME/axonal``, else
                              ``~/.cache/axonal``).
    AXONAL_OFFLINE=1          never download.
    AXONAL_MIRRORS            base URLs (spaces or commas) replacing the built-in mirrors, e.g. a
                              local mirror or ``http://127.0.0.1:PORT/`` in tests. The built-in
                              list is the dict ``axonal.datasets.MIRRORS`` ({name: [base URL]}),
                              which may also be edited in place.
    AXONAL_DOWNLOAD_TIMEOUT   seconds a connect/read may stall before a mirror is dropped (30).
    http_proxy, https_proxy, no_proxy   honoured by the downloader.

Command line: ``python -m axonal.datasets [mnist|fashion-mnist|all]`` fetches, verifies and prints
where the files are.
"""
from __future__ import annotations

from . import boston_housing, cifar10, cifar100, fashion_mnist, imdb, mnist, reuters
from ._catalog import MIRRORS
from ._errors import DatasetChecksumError, DatasetFormatError, DatasetNotFoundError
from ._formats import read_idx
from ._load import load_split

__all__ = [
    "boston_housing",
    "cifar10",
    "cifar100",
    "imdb",
    "reuters",
    "DatasetChecksumError",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "MIRRORS",
    "fashion_mnist",
    "load_split",
    "mnist",
    "read_idx",
]
