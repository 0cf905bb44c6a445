"""MNIST handwritten digits (LeCun, Cortes, Burges): 60000 training and 10000 test images, 28x28.

Drop-in for ``keras.datasets.mnist``; see :mod:`axonal.datasets` for where files are looked for.
"""
from __future__ import annotations

import os

from ._load import load_splits

__all__ = ["load_data"]


def load_data(path: str | os.PathLike | None = None, *, download: bool = True,
              verify: bool = True):
    """Load MNIST, Keras-style.

    Args:
        path: optional folder (holding the IDX/CSV files, or a ``mnist/`` subfolder) or Keras'
            ``mnist.npz`` file, searched before ``$AXONAL_DATA/mnist/``, the system folder and
            the cache. Keras' default ``"mnist.npz"`` is accepted and ignored when absent.
        download: fetch the files into the cache when no complete local copy exists
            (``AXONAL_OFFLINE=1`` also forbids it).
        verify: check every split against the canonical sha256; pass False for your own data.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 arrays of shapes (60000, 28, 28),
        (60000,), (10000, 28, 28) and (10000,); labels are digits 0..9.

    Raises:
        DatasetNotFoundError: no location holds both splits and the download failed or is off.
            A folder with only the test split does not count; use
            ``axonal.datasets.load_split("mnist", "test")`` for that.
        DatasetFormatError: a file is truncated, corrupt, wrongly shaped or not canonical.

    Example:
        >>> from axonal.datasets import mnist
        >>> (x_train, y_train), (x_test, y_test) = mnist.load_data()   # doctest: +SKIP
        >>> x_train.shape, x_train.dtype
        ((60000, 28, 28), dtype('uint8'))
    """
    splits = load_splits("mnist", ("train", "test"), path, download=download, verify=verify)
    return splits["train"], splits["test"]
