"""CIFAR-10 (Krizhevsky 2009): 50000 training and 10000 test colour images, 32x32, in 10 classes.

Drop-in for ``keras.datasets.cifar10``. The published ``cifar-10-python.tar.gz`` (or the
``cifar-10-batches-py/`` folder it extracts to) is looked for in ``$AXONAL_DATA/cifar10/``,
``/usr/share/datasets/cifar10/`` and the cache, then downloaded (see :mod:`axonal.datasets`).
"""
from __future__ import annotations

import numpy as np

from ._cifar import load_batches, to_keras_arrays
from ._fetch import locate
from ._published import CIFAR10

__all__ = ["CLASS_NAMES", "load_data"]

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_GROUPS = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}


def load_data(path=None, *, download: bool = True, verify: bool = True):
    """Load CIFAR-10, Keras-style.

    Args:
        path: optional ``cifar-10-python.tar.gz``, or a folder holding it or its extracted
            ``cifar-10-batches-py/``, searched before ``$AXONAL_DATA/cifar10/``, the system folder
            and the cache. (Keras' ``load_data()`` takes no argument.)
        download: fetch the archive (163 MB) into the cache when no verified local copy exists
            (``AXONAL_OFFLINE=1`` also forbids it).
        verify: check the archive's published sha256 (or each extracted file's published md5);
            pass False for your own files in the same format.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 images of shape (50000, 32, 32, 3) and
        (10000, 32, 32, 3) (``(N, 3, 32, 32)`` when :func:`axonal.backend.image_data_format` is
        ``"channels_first"``, as Keras), and uint8 labels 0..9 of shape (50000, 1) and (10000, 1).

    Raises:
        DatasetNotFoundError: no local copy and the download failed or is off.
        DatasetFormatError: the archive is damaged, fails its checksum, or holds a pickle that
            names anything but numpy's array builders.

    Example:
        >>> from axonal.datasets import cifar10
        >>> (x_train, y_train), (x_test, y_test) = cifar10.load_data()   # doctest: +SKIP
        >>> x_train.shape, y_train.shape
        ((50000, 32, 32, 3), (50000, 1))
    """
    source, is_folder = locate(CIFAR10, "data", path, download=download, verify=verify)
    batches = load_batches(source, is_folder, CIFAR10.extracted.folder, _GROUPS, "labels")
    return tuple(to_keras_arrays(images, labels, np.uint8, 10, source) for images, labels in
                 (batches["train"], batches["test"]))
