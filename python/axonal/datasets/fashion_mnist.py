"""Fashion-MNIST (Xiao, Rasul, Vollgraf 2017; MIT licence): Zalando article images, 28x28.

60000 training and 10000 test images in 10 classes (names in :data:`CLASS_NAMES`), 6000 and
1000 per class. Drop-in for ``keras.datasets.fashion_mnist``; on Debian/Ubuntu
``apt install dataset-fashion-mnist`` provides the files in ``/usr/share/datasets/fashion-mnist/``,
which is searched automatically.
"""
from __future__ import annotations

import os

from ._load import load_splits

__all__ = ["CLASS_NAMES", "load_data"]

CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def load_data(path: str | os.PathLike | None = None, *, download: bool = True,
              verify: bool = True):
    """Load Fashion-MNIST, Keras-style.

    Args:
        path: optional folder (holding the IDX/CSV files, or a ``fashion-mnist/`` subfolder) or
            an .npz with Keras' keys, searched before ``$AXONAL_DATA/fashion-mnist/``,
            ``/usr/share/datasets/fashion-mnist/`` and the cache.
        download: fetch the files into the cache when no complete local copy exists
            (``AXONAL_OFFLINE=1`` also forbids it).
        verify: check every split against the canonical sha256; pass False for your own data.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 arrays of shapes (60000, 28, 28),
        (60000,), (10000, 28, 28) and (10000,); labels are class indices 0..9.

    Raises:
        DatasetNotFoundError: no location holds both splits and the download failed or is off.
        DatasetFormatError: a file is truncated, corrupt, wrongly shaped or not canonical.

    Example:
        >>> from axonal.datasets import fashion_mnist
        >>> (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()   # doctest: +SKIP
        >>> CLASS_NAMES[y_train[0]]
        'Ankle boot'
    """
    splits = load_splits("fashion-mnist", ("train", "test"), path, download=download,
                         verify=verify)
    return splits["train"], splits["test"]
