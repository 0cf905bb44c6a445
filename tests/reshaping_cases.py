"""Backend op cases of the image reshaping and spatial dropout families (``backend_cases.CASES`` takes
them). ``sizes = (N, C, K)`` are read as N images of odd height and width (fixed per case) with K
values per pixel: (M, H, W, B) = (N, H, W, K) for zero padding and upsampling, and (N, A, C, B) =
(N, H·W, K, 1) (channels_last) or (N, 1, K, H·W) (channels_first) for spatial dropout."""
from __future__ import annotations

from functools import partial

import numpy as np

SEED = 20240612


def _inputs(shape, out_shape, dtype):
    rng = np.random.default_rng(SEED)
    return rng.standard_normal(shape).astype(dtype), rng.standard_normal(out_shape).astype(dtype)


def zero_pad_case(hw, padding, backend, sizes, dtype):
    from backend_cases import _device, _host, _outputs

    n, _, k = sizes
    (h, w), (top, bottom, left, right) = hw, padding
    shape, out_shape = (n, h, w, k), (n, top + h + bottom, left + w + right, k)
    x, dy = _inputs(shape, out_shape, dtype)
    y, dx = _outputs((out_shape, dtype), (shape, dtype), backend=backend)
    backend.zero_pad2d_forward(y, _device(backend, x), padding)
    backend.zero_pad2d_backward(dx, _device(backend, dy), padding)
    return {"y": _host(y), "dx": _host(dx)}


def upsample_case(hw, size, backend, sizes, dtype):
    from backend_cases import _device, _host, _outputs

    n, _, k = sizes
    (h, w), (sh, sw) = hw, size
    shape, out_shape = (n, h, w, k), (n, h * sh, w * sw, k)
    x, dy = _inputs(shape, out_shape, dtype)
    y, dx = _outputs((out_shape, dtype), (shape, dtype), backend=backend)
    backend.upsample2d_forward(y, _device(backend, x), size)
    backend.upsample2d_backward(dx, _device(backend, dy), size)
    return {"y": _host(y), "dx": _host(dx)}


def transpose_case(rows, backend, sizes, dtype):
    from backend_cases import _device, _host, _outputs

    n, _, k = sizes
    x, _ = _inputs((n, rows, k), (1,), dtype)
    (y,) = _outputs(((n, k, rows), dtype), backend=backend)
    backend.transpose_samples(y, _device(backend, x))
    return {"y": _host(y)}


def spatial_dropout_case(channels_first, rate, seed, layer_id, step, backend, sizes, dtype):
    from axonal.backend import reference
    from backend_cases import _device, _host, _outputs

    n, _, k = sizes
    pixels = 3 * 5
    shape = (n, 1, k, pixels) if channels_first else (n, pixels, k, 1)
    x, dy = _inputs(shape, shape, dtype)
    mask_in = np.empty((n, k), np.uint8)  # the backward pass gets the reference's mask
    reference.spatial_dropout_forward(np.empty_like(x), mask_in, x, rate, seed, layer_id, step)
    y, dx, mask = _outputs((shape, dtype), (shape, dtype), ((n, k), np.uint8), backend=backend)
    backend.spatial_dropout_forward(y, mask, _device(backend, x), rate, seed, layer_id, step)
    backend.spatial_dropout_backward(dx, _device(backend, dy), _device(backend, mask_in), rate)
    return {"y": _host(y), "mask": _host(mask), "dx": _host(dx)}


RESHAPING_CASES = {
    "zero_pad2d:3x5:t1b2l0r3": partial(zero_pad_case, (3, 5), (1, 2, 0, 3)),
    "zero_pad2d:1x1:none": partial(zero_pad_case, (1, 1), (0, 0, 0, 0)),
    "upsample2d:3x5:2x3": partial(upsample_case, (3, 5), (2, 3)),
    "upsample2d:1x3:1x1": partial(upsample_case, (1, 3), (1, 1)),
    "upsample2d:3x1:3x2": partial(upsample_case, (3, 1), (3, 2)),
    "transpose_samples:rows_7": partial(transpose_case, 7),
    "transpose_samples:rows_33": partial(transpose_case, 33),
    "spatial_dropout:last:rate_0.5": partial(spatial_dropout_case, False, 0.5, 1234, 2, 17),
    "spatial_dropout:first:rate_0.3": partial(spatial_dropout_case, True, 0.3, 2**40 + 5, 2**33 + 3, 2**35 + 11),
    "spatial_dropout:last:rate_0": partial(spatial_dropout_case, False, 0.0, 7, 1, 0),
}
# upsample2d_backward sums SH·SW terms per value: the tolerance grows with that length.
RESHAPING_REDUCTIONS = {"upsample2d:3x5:2x3": {"dx": lambda sizes: 6}, "upsample2d:3x1:3x2": {"dx": lambda sizes: 6}}
