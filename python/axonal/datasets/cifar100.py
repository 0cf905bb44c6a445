"""CIFAR-100 (Krizhevsky 2009): 50000 training and 10000 test colour images, 32x32, in 100 classes
grouped into 20 superclasses.

Drop-in for ``keras.datasets.cifar100``. The published ``cifar-100-python.tar.gz`` (or the
``cifar-100-python/`` folder it extracts to) is looked for in ``$AXONAL_DATA/cifar100/``,
``/usr/share/datasets/cifar100/`` and the cache, then downloaded (see :mod:`axonal.datasets`).
"""
from __future__ import annotations

import numpy as np

from ._cifar import load_batches, to_keras_arrays
from ._fetch import locate
from ._published import CIFAR100

__all__ = ["load_data"]

_CLASSES = {"fine": 100, "coarse": 20}


def load_data(label_mode: str = "fine", path=None, *, download: bool = True, verify: bool = True):
    """Load CIFAR-100, Keras-style.

    Args:
        label_mode: ``"fine"`` (100 classes) or ``"coarse"`` (the 20 superclasses).
        path: optional ``cifar-100-python.tar.gz``, or a folder holding it or its extracted
            ``cifar-100-python/``, searched first.
        download: fetch the archive (161 MB) into the cache when no verified local copy exists.
        verify: check the archive's published sha256 (or each extracted file's published md5).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 images of shape (50000, 32, 32, 3) and
        (10000, 32, 32, 3) (``(N, 3, 32, 32)`` under ``channels_first``), and labels of shape
        (50000, 1) and (10000, 1). The labels are int64, as Keras' code returns them (its
        docstring says uint8; its CIFAR-100 loader never converts them).

    Raises:
        ValueError: ``label_mode`` is neither ``"fine"`` nor ``"coarse"``.
        DatasetNotFoundError, DatasetFormatError: as :func:`axonal.datasets.cifar10.load_data`.

    Example:
        >>> (x_train, y_train), _ = cifar100.load_data(label_mode="coarse")   # doctest: +SKIP
        >>> int(y_train.max())
        19
    """
    if label_mode not in _CLASSES:
        raise ValueError(f"cifar100.load_data: label_mode must be 'fine' (100 classes) or 'coarse' (20 "
                         f"superclasses), received {label_mode!r}.")
    source, is_folder = locate(CIFAR100, "data", path, download=download, verify=verify)
    batches = load_batches(source, is_folder, CIFAR100.extracted.folder, {"train": ("train",), "test": ("test",)},
                           f"{label_mode}_labels")
    return tuple(to_keras_arrays(images, labels, np.int64, _CLASSES[label_mode], source) for images, labels in
                 (batches["train"], batches["test"]))
