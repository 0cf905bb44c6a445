"""One affine resampling for a whole batch of images, in NumPy: what ``ImageDataGenerator`` and the
``RandomRotation``/``RandomZoom`` layers share.

Each image ``n`` has a 2×3 matrix ``M[n]`` that maps an output pixel's (row, column) to the point
of the input it reads: ``(r, c) = M[n] @ (i, j, 1)``, as ``scipy.ndimage.affine_transform`` (and so
Keras' ``apply_affine_transform``) reads it. A point between pixels weighs its neighbours
(bilinear) or takes the closest one (nearest); points outside the image read the pixel that
``fill_mode`` maps them to (``reflect``: d c b a | a b c d, ``wrap``, ``nearest``) or, for
``constant``, the fill value. The taps are computed once per batch as flat indices and weights, so
the forward pass is one gather and the backward pass (the transpose, for gradients) one
scatter-add per channel: no Python loop over images or pixels.
"""
from __future__ import annotations

import numpy as np

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("bilinear", "nearest")


class Resampling:
    """The taps of one batch: ``matrices`` (N, 2, 3) over images of ``height`` × ``width``."""

    def __init__(self, matrices: np.ndarray, height: int, width: int, fill_mode: str = "nearest",
                 interpolation: str = "bilinear"):
        count = len(matrices)
        rows, columns = np.meshgrid(np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64),
                                    indexing="ij")
        grid = np.stack([rows.ravel(), columns.ravel(), np.ones(height * width)])  # (3, P)
        points = matrices.astype(np.float64) @ grid  # (N, 2, P): the input point each output pixel reads
        source_rows, source_columns = points[:, 0], points[:, 1]
        if interpolation == "nearest":
            row_taps = [(np.floor(source_rows + 0.5), 1.0)]
            column_taps = [(np.floor(source_columns + 0.5), 1.0)]
        else:
            low_r, low_c = np.floor(source_rows), np.floor(source_columns)
            row_taps = [(low_r, 1.0 - (source_rows - low_r)), (low_r + 1, source_rows - low_r)]
            column_taps = [(low_c, 1.0 - (source_columns - low_c)), (low_c + 1, source_columns - low_c)]
        offsets = (np.arange(count) * height * width)[:, None]
        indices, weights = [], []
        for row_index, row_weight in row_taps:
            row_pixel, row_inside = extend(row_index.astype(np.int64), height, fill_mode)
            for column_index, column_weight in column_taps:
                column_pixel, column_inside = extend(column_index.astype(np.int64), width, fill_mode)
                indices.append(offsets + row_pixel * width + column_pixel)
                weights.append(row_weight * column_weight * (row_inside & column_inside))
        self.indices = np.stack(indices)  # (taps, N, P) into the batch's (N·H·W) pixels
        self.weights = np.stack(weights).astype(np.float32)
        self.shape = (count, height, width)
        # With "constant", what a pixel does not read from the image comes from the fill value.
        self.outside = (1.0 - self.weights.sum(axis=0)) if fill_mode == "constant" else None

    def apply(self, images: np.ndarray, fill_value: float = 0.0, out: np.ndarray | None = None) -> np.ndarray:
        """The resampled images, (N, H, W, C) or (N, H, W) as given."""
        flat = images.reshape(images.shape[0] * images.shape[1] * images.shape[2], -1)
        result = np.zeros((len(self.indices[0]), self.indices.shape[2], flat.shape[1]), dtype=np.float32)
        for index, weight in zip(self.indices, self.weights):
            result += flat[index] * weight[..., None]
        if self.outside is not None and fill_value:
            result += self.outside[..., None] * np.float32(fill_value)
        result = result.reshape(images.shape)
        if out is None:
            return result
        np.copyto(out, result)
        return out

    def transpose(self, grad: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The transposed resampling (the gradient of :meth:`apply` with respect to the images)."""
        size = grad.shape[0] * grad.shape[1] * grad.shape[2]
        flat = grad.reshape(size, -1)
        per_pixel = flat.reshape(self.indices.shape[1], self.indices.shape[2], -1)
        result = np.empty_like(flat)
        all_indices = self.indices.ravel()
        for channel in range(flat.shape[1]):
            contributions = (self.weights * per_pixel[None, :, :, channel]).ravel()
            result[:, channel] = np.bincount(all_indices, weights=contributions, minlength=size)
        result = result.reshape(grad.shape)
        if out is None:
            return result
        np.copyto(out, result)
        return out


def extend(index: np.ndarray, length: int, fill_mode: str):
    """The pixel in [0, length) that an index anywhere reads under ``fill_mode``, and whether it
    reads the image at all (False only outside the image with ``"constant"``)."""
    if fill_mode == "reflect":
        folded = index % (2 * length)
        return np.where(folded < length, folded, 2 * length - 1 - folded), np.ones(index.shape, bool)
    if fill_mode == "wrap":
        return index % length, np.ones(index.shape, bool)
    inside = (index >= 0) & (index < length)
    return np.clip(index, 0, length - 1), (np.ones(index.shape, bool) if fill_mode == "nearest" else inside)


def about_centre(linear: np.ndarray, height: int, width: int, shift: np.ndarray | None = None) -> np.ndarray:
    """(N, 2, 3) matrices applying the (N, 2, 2) ``linear`` maps about the image centre, then
    reading ``shift`` (N, 2) pixels further (rows, columns)."""
    centre = np.array([(height - 1) / 2.0, (width - 1) / 2.0])
    offset = centre - linear @ centre
    if shift is not None:
        offset = offset + shift
    return np.concatenate([linear, offset[:, :, None]], axis=2)
