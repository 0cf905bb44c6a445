"""Image reshaping and spatial dropout ops of the ``numpy`` backend: the readable definition of
Keras' ``ZeroPadding2D``, ``UpSampling2D(interpolation="nearest")`` and ``SpatialDropout2D``.

* ``zero_pad2d_forward(y, x, padding)``: ``x`` in the interior of ``y``, zeros around it;
  ``zero_pad2d_backward(dx, dy, padding)``: the interior of ``dy``. ``padding`` is
  (top, bottom, left, right).
* ``upsample2d_forward(y, x, size)``: every pixel repeated over an SH x SW block;
  ``upsample2d_backward(dx, dy, size)``: each block of ``dy`` summed, starting from the block's
  (0, 0) entry and adding (i, j) in row-major order, in the arrays' dtype (the C++ and CUDA kernels
  add in this order too, so every backend gives the same bits).
* ``transpose_samples(y, x)``: each sample's (R, C) matrix transposed, x (N, R, C) -> y (N, C, R):
  the channels_first layers' edge copies, (N, C, H·W) <-> (N, H·W, C) (an op, so that a device
  step captures it with the kernels);
* ``spatial_dropout_forward(y, mask, x, rate, seed, layer_id, step)``: whole channels dropped;
  ``mask`` (N, C) is Dropout's Philox mask of an (N, C) activation (``docs/design.md``, "Randomness");
  ``spatial_dropout_backward(dx, dy, mask, rate)``.

Shapes: images are (M, H, W, B) for the two reshapes (channels_last (N, H, W, C) is (M, B) = (N, C);
channels_first (N, C, H, W) is viewed as (N·C, H, W, 1)); (N, A, C, B) for spatial dropout
(channels_last (N, H·W, C, 1), channels_first (N, 1, C, H·W)). Conventions as in
:mod:`axonal.backend.reference`: outputs first, preallocated and overwritten; float32 or float64.

Example:
    >>> y = np.empty((1, 3, 2, 1), np.float32)
    >>> zero_pad2d_forward(y, np.ones((1, 1, 2, 1), np.float32), (1, 1, 0, 0)); y[0, :, :, 0]
    array([[0., 0.],
           [1., 1.],
           [0., 0.]], dtype=float32)
"""
from __future__ import annotations

import numpy as np

from axonal.backend.philox import dropout_keep_mask


def _check_padding(padding) -> tuple[int, int, int, int]:
    top, bottom, left, right = (int(p) for p in padding)
    if min(top, bottom, left, right) < 0:
        raise ValueError(f"zero_pad2d: padding (top, bottom, left, right) must not be negative, received {padding!r}")
    return top, bottom, left, right


def _check_size(size) -> tuple[int, int]:
    rows, columns = (int(s) for s in size)
    if rows < 1 or columns < 1:
        raise ValueError(f"upsample2d: size (rows, columns) must be positive integers, received {size!r}")
    return rows, columns


def zero_pad2d_forward(y, x, padding):
    """y = x with zeros around: x (M, H, W, B) -> y (M, top + H + bottom, left + W + right, B)."""
    top, _, left, _ = _check_padding(padding)
    _, h, w, _ = x.shape
    y[...] = 0
    y[:, top:top + h, left:left + w, :] = x


def zero_pad2d_backward(dx, dy, padding):
    """dx = the interior of dy: dy (M, top + H + bottom, left + W + right, B) -> dx (M, H, W, B)."""
    top, _, left, _ = _check_padding(padding)
    _, h, w, _ = dx.shape
    dx[...] = dy[:, top:top + h, left:left + w, :]


def _blocks(array, size):
    """(M, H·SH, W·SW, B) viewed as (M, H, SH, W, SW, B): each block's rows and columns on own axes."""
    m, rows, columns, b = array.shape
    return array.reshape(m, rows // size[0], size[0], columns // size[1], size[1], b)


def upsample2d_forward(y, x, size):
    """Nearest-neighbour upsampling: x (M, H, W, B) -> y (M, H·SH, W·SW, B)."""
    size = _check_size(size)
    _blocks(y, size)[...] = x[:, :, None, :, None, :]


def upsample2d_backward(dx, dy, size):
    """dx (M, H, W, B) = the sum of each SH x SW block of dy (M, H·SH, W·SW, B), in row-major order."""
    rows, columns = _check_size(size)
    blocks = _blocks(dy, (rows, columns))
    dx[...] = blocks[:, :, 0, :, 0, :]
    for i in range(rows):
        for j in range(columns):
            if i or j:
                dx += blocks[:, :, i, :, j, :]


def transpose_samples(y, x):
    """y (N, C, R) = each sample of x (N, R, C) transposed."""
    y[...] = x.transpose(0, 2, 1)


def _spatial_scale(rate, dtype):
    """1 / (1 - rate) computed in float32 as the C++ and CUDA kernels compute it (float64 for float64)."""
    if not 0 <= rate < 1:
        raise ValueError(f"spatial_dropout: rate must be in [0, 1), received {rate!r}")
    one = dtype.type(1)
    return one / (one - dtype.type(np.float32(rate)))


def spatial_dropout_forward(y, mask, x, rate, seed, layer_id, step, first_element=0):
    """y = x * mask[n, c] / (1 - rate): x, y (N, A, C, B), mask (N, C) uint8 (1 = kept), drawn as
    Dropout draws an (N, C) activation's mask (numbered from ``first_element``: a shard's offset)."""
    n, _, c, _ = x.shape
    scale = _spatial_scale(rate, x.dtype)
    mask[...] = dropout_keep_mask((n, c), np.float32(rate), seed, layer_id, step, first_element)
    y[...] = x * (mask.astype(x.dtype) * scale)[:, None, :, None]  # a product: NaN stays NaN


def spatial_dropout_backward(dx, dy, mask, rate):
    """dx = dy * mask[n, c] / (1 - rate) over (N, A, C, B)."""
    scale = _spatial_scale(rate, dy.dtype)
    dx[...] = dy * (mask.astype(dy.dtype) * scale)[:, None, :, None]
