"""One affine resampling for a whole batch of images, in NumPy: what ``ImageDataGenerator`` uses
(the random layers call the backend's ``affine_forward``/``affine_backward`` ops, whose NumPy
definition this wraps).

Each image ``n`` has a 2×3 matrix ``M[n]`` that maps an output pixel's (row, column) to the point
of the input it reads: ``(r, c) = M[n] @ (i, j, 1)``, as ``scipy.ndimage.affine_transform`` (and so
Keras' ``apply_affine_transform``) reads it. A point between pixels weighs its neighbours
(bilinear) or takes the closest one (nearest); points outside the image read the pixel that
``fill_mode`` maps them to (``reflect``: d c b a | a b c d, ``wrap``, ``nearest``) or, for
``constant``, the fill value (``backend/reference_augmentation.py``).
"""
from __future__ import annotations

import numpy as np

from axonal.backend import reference_augmentation as ops
from axonal.layers.augmentation import FILL_MODES, INTERPOLATIONS  # noqa: F401  (re-exported)


class Resampling:
    """The resampling of one batch: ``matrices`` (N, 2, 3) over images of ``height`` × ``width``."""

    def __init__(self, matrices: np.ndarray, height: int, width: int, fill_mode: str = "nearest",
                 interpolation: str = "bilinear"):
        self.params = np.ascontiguousarray(np.asarray(matrices, dtype=np.float64).reshape(len(matrices), 6))
        self.shape = (len(matrices), height, width)
        self.fill_mode, self.interpolation = fill_mode, interpolation

    def _images(self, array: np.ndarray) -> np.ndarray:
        return array.reshape(self.shape + (-1,))

    def apply(self, images: np.ndarray, fill_value: float = 0.0, out: np.ndarray | None = None) -> np.ndarray:
        """The resampled images, (N, H, W, C) or (N, H, W) as given (integers become float32)."""
        if images.dtype.kind != "f":
            images = images.astype(np.float32)
        result = np.empty(images.shape, dtype=images.dtype)
        ops.affine_forward(self._images(result), self._images(images), self.params, self.fill_mode,
                           self.interpolation, fill_value)
        if out is None:
            return result
        np.copyto(out, result)
        return out

    def transpose(self, grad: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The transposed resampling (the gradient of :meth:`apply` with respect to the images)."""
        result = np.empty(grad.shape, dtype=grad.dtype)
        ops.affine_backward(self._images(result), self._images(grad), self.params, self.fill_mode, self.interpolation)
        if out is None:
            return result
        np.copyto(out, result)
        return out
