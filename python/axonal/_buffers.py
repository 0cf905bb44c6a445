"""Scratch arrays that are allocated once and reused from batch to batch."""
from __future__ import annotations

import numpy as np


class BufferCache:
    """Named arrays whose first dimension is the batch.

    ``get`` returns a view of the first ``shape[0]`` rows of a stored array, allocating only when
    the stored one is too small or has other trailing dimensions or dtype. A smaller last batch
    therefore reuses the full-size buffer (a row slice of a C-contiguous array is C-contiguous),
    and the training loop allocates nothing after its first step.

    ``xp`` is the array module that allocates (numpy, or cupy for the arrays of a model's device
    copy, see :mod:`axonal.models.executors.device_copy`).

    Example:
        >>> cache = BufferCache()
        >>> y = cache.get("y", (128, 10))      # allocates
        >>> y = cache.get("y", (96, 10))       # a view of the same memory
    """

    def __init__(self, xp=np):
        self._xp = xp
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple, dtype: np.dtype | type = np.float32) -> np.ndarray:
        """An uninitialised C-contiguous array of ``shape`` and ``dtype`` owned by this cache."""
        array = self._arrays.get(name)
        if (array is None or array.shape[0] < shape[0] or array.shape[1:] != tuple(shape[1:])
                or array.dtype != dtype):
            array = self._xp.empty(shape, dtype=dtype)
            self._arrays[name] = array
        return array[:shape[0]]

    def clear(self) -> None:
        """Drop every buffer (after the layer's weights or shapes change)."""
        self._arrays.clear()
