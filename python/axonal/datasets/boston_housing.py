"""Boston housing (Harrison and Rubinfeld 1978, from StatLib): 506 districts, 13 attributes each,
and the median home value in k$.

Keras' warning applies: one attribute ("B") encodes a racist assumption; use this dataset to show
that problem, or to run the classic regression programs unchanged, not to build anything real.
Drop-in for ``keras.datasets.boston_housing``; the published ``boston_housing.npz`` is looked for in
``$AXONAL_DATA/boston_housing/``, ``/usr/share/datasets/boston_housing/`` and the cache.
"""
from __future__ import annotations

import numbers

import numpy as np

from ._errors import DatasetFormatError
from ._fetch import locate
from ._pickles import read_npz_arrays
from ._published import BOSTON_HOUSING

__all__ = ["load_data"]


def load_data(path="boston_housing.npz", test_split=0.2, seed=113, *, download: bool = True, verify: bool = True):
    """Load the Boston housing data as Keras does.

    Args:
        path: ``boston_housing.npz``, or a folder holding it, searched first (Keras' default is
            ignored when absent from the working directory).
        test_split: fraction in [0, 1) kept for testing: after a shuffle with
            ``np.random.RandomState(seed)``, the first ``int(N * (1 - test_split))`` rows train.
        seed: the shuffle's seed.
        download: fetch the file (57 kB) when no verified copy exists.
        verify: check its published sha256.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: float64 arrays of shape (404, 13), (404,),
        (102, 13) and (102,) with the defaults.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = boston_housing.load_data()   # doctest: +SKIP
        >>> x_train.shape
        (404, 13)
    """
    if isinstance(test_split, bool) or not isinstance(test_split, numbers.Real) or not 0 <= test_split < 1:
        raise ValueError(f"boston_housing.load_data: test_split must be a number in [0, 1) (the fraction kept "
                         f"for testing), received {test_split!r}.")
    source, _ = locate(BOSTON_HOUSING, "data", path, keras_default="boston_housing.npz", download=download,
                       verify=verify)
    arrays = read_npz_arrays(source, ("x", "y"))
    x, y = arrays["x"], arrays["y"]
    if x.dtype.kind != "f" or x.ndim != 2 or y.dtype.kind != "f" or y.shape != (x.shape[0],):
        raise DatasetFormatError(f"expected float arrays x (N, attributes) and y (N,), found x {x.dtype} {x.shape} "
                                 f"and y {y.dtype} {y.shape}", source)
    indices = np.arange(len(x))
    np.random.RandomState(seed).shuffle(indices)
    x, y = x[indices], y[indices]
    split = int(len(x) * (1 - test_split))
    return (x[:split], y[:split]), (x[split:], y[split:])
