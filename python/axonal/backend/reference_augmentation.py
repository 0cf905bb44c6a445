"""The augmentation op family in NumPy: the readable definition of ``cpp/augmentation.cpp`` and
``cuda/augmentation.cu`` (docs/design.md, "Randomness" and "The backend op list").

Images are (N, H, W, C), float32 or float64 (float64 for the finite-difference checks). Per-image
parameters are (N, 6) float64: a 2×3 matrix, row-major, mapping an output pixel (i, j, 1) to the
input point (row, column) it reads, or for contrast ``(factor, 0, 0, 0, 0, 0)``.

::

    augment_draw(params, kind, seed, layer_id, step, height, width, ranges)
        # params (N, 6) float64 <- the draws of images 0..N-1 (Philox block n of (seed, layer_id, step))
        # kind: flip_horizontal | flip_vertical | flip_both | translation | rotation | zoom
        #       | zoom_keep_aspect | contrast; ranges (low0, high0, low1, high1) of the uniform draws
    affine_forward(y, x, params, fill_mode, interpolation, fill_value)   # x, y (N, H, W, C)
    affine_backward(dx, dy, params, fill_mode, interpolation)           # the transpose (fill: no gradient)
    contrast_forward(y, inside, x, params, low, high)   # y = clip((x − m)·c + m), m per image and channel;
                                                       # inside (N, H, W, C) uint8 = not clipped
    contrast_backward(dx, dy, inside, params)          # g = dy·inside; dx = c·g + (1 − c)·mean(g)
    rescale_forward(y, x, scale, offset)               # x (N, K), scale, offset (K,): y = x·scale + offset
    rescale_backward(dx, dy, scale)                    # dx = dy·scale
    normalize_forward(y, x, mean, deviation)           # y = (x − mean) / deviation
    normalize_backward(dx, dy, deviation)              # dx = dy / deviation

The draws use the double operations of ``augmentation_functors.h`` in its order, so every backend
gets the same parameters bit for bit. The resampling is written per tap in the kernels' order
(rows then columns, low then high), so float32 results match the kernels' too, except contrast's
mean, which NumPy sums in its own order (within rounding).
"""
from __future__ import annotations

import numpy as np

from axonal.backend.philox import augmentation_uniforms, sin_cos

KINDS = ("flip_horizontal", "flip_vertical", "flip_both", "translation", "rotation", "zoom", "zoom_keep_aspect",
         "contrast")
FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("bilinear", "nearest")
PARAMS = 6


def _check_choice(op, argument, value, choices):
    if value not in choices:
        raise ValueError(f"{op}: unknown {argument} {value!r}; expected one of {', '.join(choices)}.")


def _about_centre(linear, height, width):
    """(N, 6) rows: the maps ``linear`` = (l00, l01, l10, l11) applied about the image centre."""
    l00, l01, l10, l11 = linear
    cr, cc = (height - 1) / 2.0, (width - 1) / 2.0
    return np.stack([l00, l01, cr - (l00 * cr + l01 * cc), l10, l11, cc - (l10 * cr + l11 * cc)], axis=1)


def augment_draw(params, kind, seed, layer_id, step, height, width, ranges, first_image=0):
    """Write each image's parameters into ``params`` (N, 6) float64 (see the module docstring):
    images ``first_image`` .. ``first_image + N - 1`` of the batch (a data-parallel shard's place)."""
    _check_choice("augment_draw", "kind", kind, KINDS)
    count = params.shape[0]
    uniforms = augmentation_uniforms(count, seed, layer_id, step, first_image)
    u0, u1 = uniforms[:, 0], uniforms[:, 1]
    if len(ranges) != 4 or not all(abs(float(r)) <= 1024 for r in ranges):
        raise ValueError(f"augment_draw: ranges must be 4 finite numbers in [-1024, 1024] (low0, high0, low1, "
                         f"high1), received {ranges!r}.")
    low0, high0, low1, high1 = (float(r) for r in ranges)
    zeros, ones = np.zeros(count), np.ones(count)
    if kind.startswith("flip"):
        flip = u0 <= 0.5  # Keras 3: one draw per image, uniform <= 0.5 flips
        rows = flip & (kind != "flip_horizontal")
        columns = flip & (kind != "flip_vertical")
        values = np.stack([np.where(rows, -1.0, 1.0), zeros, np.where(rows, float(height - 1), 0.0), zeros,
                           np.where(columns, -1.0, 1.0), np.where(columns, float(width - 1), 0.0)], axis=1)
    elif kind == "translation":  # a shift s reads pixel i - s
        values = np.stack([ones, zeros, -((low0 + (high0 - low0) * u0) * float(height)), zeros, ones,
                           -((low1 + (high1 - low1) * u1) * float(width))], axis=1)
    elif kind == "rotation":  # a fraction of a full turn
        sine, cosine = sin_cos((low0 + (high0 - low0) * u0) * 6.283185307179586)
        values = _about_centre((cosine, -sine, sine, cosine), height, width)
    elif kind.startswith("zoom"):
        rows = 1.0 + (low0 + (high0 - low0) * u0)
        columns = 1.0 + (low1 + (high1 - low1) * u1) if kind == "zoom" else rows
        values = _about_centre((rows, zeros, zeros, columns), height, width)
    else:  # contrast: the factor, rounded to float32 as the kernels use it
        factors = (low0 + (high0 - low0) * u0).astype(np.float32).astype(np.float64)
        values = np.stack([factors] + [zeros] * 5, axis=1)
    params[...] = values


def _extend(index, length, fill_mode):
    """The pixel of [0, length) each index reads, and whether it reads the image (False only outside
    it with ``constant``)."""
    if fill_mode == "reflect":
        folded = index % (2 * length)
        return np.where(folded < length, folded, 2 * length - 1 - folded), np.ones(index.shape, bool)
    if fill_mode == "wrap":
        return index % length, np.ones(index.shape, bool)
    inside = (index >= 0) & (index < length) if fill_mode == "constant" else np.ones(index.shape, bool)
    return np.clip(index, 0, length - 1), inside


def affine_taps(params, height, width, fill_mode, interpolation, dtype=np.float32):
    """The resampling's taps: ``pixels`` (N, H·W, T) int64 indices into each image's H·W pixels and
    ``weights`` (N, H·W, T) of ``dtype``, T = 4 (bilinear) or 1 (nearest), in the kernels' order."""
    _check_choice("affine", "fill_mode", fill_mode, FILL_MODES)
    _check_choice("affine", "interpolation", interpolation, INTERPOLATIONS)
    m = np.asarray(params, dtype=np.float64)[:, :, None]
    i = np.repeat(np.arange(height, dtype=np.float64), width)[None, :]
    j = np.tile(np.arange(width, dtype=np.float64), height)[None, :]
    row = (m[:, 0] * i + m[:, 1] * j) + m[:, 2]
    column = (m[:, 3] * i + m[:, 4] * j) + m[:, 5]
    if interpolation == "nearest":
        row_taps = [(np.floor(row + 0.5), 1.0)]
        column_taps = [(np.floor(column + 0.5), 1.0)]
    else:
        low_r, low_c = np.floor(row), np.floor(column)
        row_taps = [(low_r, 1.0 - (row - low_r)), (low_r + 1, row - low_r)]
        column_taps = [(low_c, 1.0 - (column - low_c)), (low_c + 1, column - low_c)]
    pixels, weights = [], []
    for row_index, row_weight in row_taps:
        r, row_inside = _extend(row_index.astype(np.int64), height, fill_mode)
        for column_index, column_weight in column_taps:
            c, column_inside = _extend(column_index.astype(np.int64), width, fill_mode)
            pixels.append(r * width + c)
            weights.append(np.where(row_inside & column_inside, row_weight * column_weight, 0.0).astype(dtype))
    return np.stack(pixels, axis=-1), np.stack(weights, axis=-1)


def affine_forward(y, x, params, fill_mode, interpolation, fill_value):
    """y[n, i, j] = Σ_taps w·x[n, tap] (+ the fill value's share with ``constant``), taps in order."""
    count, height, width, channels = x.shape
    pixels, weights = affine_taps(params, height, width, fill_mode, interpolation, x.dtype)
    flat = x.reshape(count, height * width, channels)
    images = np.arange(count)[:, None]
    result = np.zeros((count, height * width, channels), dtype=x.dtype)
    for t in range(pixels.shape[-1]):
        result += flat[images, pixels[..., t]] * weights[..., t, None]
    if fill_mode == "constant":
        total = weights[..., 0].copy()
        for t in range(1, weights.shape[-1]):
            total += weights[..., t]
        result += ((x.dtype.type(1) - total) * x.dtype.type(fill_value))[..., None]
    y[...] = result.reshape(y.shape)


def affine_backward(dx, dy, params, fill_mode, interpolation):
    """The transpose of :func:`affine_forward` (the fill value gets no gradient): dx = zeros, then
    dx[n, tap] += w·dy[n, i, j] for each output pixel in order, its taps in order."""
    count, height, width, channels = dy.shape
    pixels, weights = affine_taps(params, height, width, fill_mode, interpolation, dy.dtype)
    grad = dy.reshape(count, height * width, channels)
    result = np.zeros((count * height * width, channels), dtype=dy.dtype)
    offsets = (np.arange(count) * height * width)[:, None, None]
    contributions = grad[:, :, None, :] * weights[..., None]  # (N, P, T, C), each product rounded once
    np.add.at(result, (pixels + offsets).reshape(-1), contributions.reshape(-1, channels))  # in order
    dx[...] = result.reshape(dx.shape)


def _factors(params, shape, dtype):
    return np.asarray(params)[:, 0].astype(dtype).reshape((-1,) + (1,) * (len(shape) - 1))


def _image_means(values):
    """(N, 1, 1, C) means over each image's pixels (summed in float64, rounded once)."""
    return values.astype(np.float64).mean(axis=(1, 2), keepdims=True).astype(values.dtype)


def contrast_forward(y, inside, x, params, low, high):
    """y = clip((x − m)·c + m, low, high), m the mean of each image's channel; inside = not clipped."""
    factors = _factors(params, x.shape, x.dtype)
    means = _image_means(x)
    result = (x - means) * factors + means
    low, high = x.dtype.type(low), x.dtype.type(high)
    inside[...] = (result >= low) & (result <= high)
    y[...] = np.clip(result, low, high)


def contrast_backward(dx, dy, inside, params):
    """dx = c·g + (1 − c)·mean(g) with g = dy where the forward did not clip, else 0."""
    factors = _factors(params, dy.shape, dy.dtype)
    gradient = dy * inside.astype(dy.dtype)
    dx[...] = factors * gradient + (dy.dtype.type(1) - factors) * _image_means(gradient)


def rescale_forward(y, x, scale, offset):
    """y (N, K) = x·scale + offset, per column (scale, offset (K,))."""
    np.multiply(x, scale, out=y)
    y += offset


def rescale_backward(dx, dy, scale):
    """dx (N, K) = dy·scale."""
    np.multiply(dy, scale, out=dx)


def normalize_forward(y, x, mean, deviation):
    """y (N, K) = (x − mean) / deviation, per column."""
    np.subtract(x, mean, out=y)
    y /= deviation


def normalize_backward(dx, dy, deviation):
    """dx (N, K) = dy / deviation."""
    np.divide(dy, deviation, out=dx)
