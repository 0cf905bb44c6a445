"""Convolution and pooling of the ``numpy`` backend: the readable definition of these ops.

Images are channels_last, (N, H, W, C), and kernels are Keras' (KH, KW, C, F). Every op sweeps a
KH×KW window over the zero-padded image with strides (sh, sw); ``padding`` is explicit,
(top, bottom, left, right), each in [0, window size) so that every window holds at least one input
(Keras' ``'same'`` never needs more; the layers convert it). The output size is
``OH = (H + top + bottom - KH) // sh + 1``, ``OW`` likewise.

The sweep is written as a loop over the KH·KW positions of the window: position (i, j) of every
window at once is the strided slice ``padded[:, i : i + sh·OH : sh, j : j + sw·OW : sw, :]``. Stacking
those slices is im2col, and adding gradients back through the same slices is col2im, so a
convolution is im2col + one matrix product, like the native kernels. Conventions as in
:mod:`axonal.backend.reference`: outputs first and overwritten, float32 or float64.

Example:
    >>> x = np.ones((1, 3, 3, 1)); W = np.ones((2, 2, 1, 1)); y = np.empty((1, 2, 2, 1))
    >>> conv2d_forward(y, x, W, None, (1, 1), (0, 0, 0, 0), "linear", 0.0)
    >>> y[0, :, :, 0]
    array([[4., 4.],
           [4., 4.]])
"""
from __future__ import annotations

import numpy as np

# reference.py re-exports this module from its last line, after these functions are defined.
from axonal.backend.reference_activations import activation_backward, activation_forward, check_fused_activation


# --------------------------------------------------------------------------------------------------
# Window geometry

def _geometry(op: str, x_shape: tuple, window: tuple, strides, padding) -> tuple[int, int]:
    """(OH, OW) of a sweep of ``window`` over images ``x_shape``, after checking the arguments.

    The checks and their wording match the native kernels', so every backend refuses the same calls.
    """
    if len(x_shape) != 4:
        raise ValueError(f"{op}: x must be 4-D (N, H, W, C), received shape {tuple(x_shape)}.")
    kh, kw = window
    if len(strides) != 2 or min(strides) < 1:
        raise ValueError(f"{op}: strides must be two positive integers (sh, sw), received {tuple(strides)}.")
    if kh < 1 or kw < 1:
        raise ValueError(f"{op}: the window must be at least 1x1, received {kh}x{kw}.")
    if len(padding) != 4:
        raise ValueError(f"{op}: padding must be (top, bottom, left, right), received {tuple(padding)}.")
    top, bottom, left, right = padding
    if min(padding) < 0 or max(top, bottom) >= kh or max(left, right) >= kw:
        raise ValueError(f"{op}: each padding must be in [0, window size); received (top, bottom, left, "
                         f"right) = {tuple(padding)} for a {kh}x{kw} window.")
    _, h, w, _ = x_shape
    if h + top + bottom < kh or w + left + right < kw:
        raise ValueError(f"{op}: a {kh}x{kw} window does not fit in the padded {h + top + bottom}x"
                         f"{w + left + right} image; use padding='same' or a smaller window.")
    return (h + top + bottom - kh) // strides[0] + 1, (w + left + right - kw) // strides[1] + 1


def _check_shape(op: str, name: str, array, expected: tuple) -> None:
    """Raise unless ``array`` has shape ``expected`` (outputs are preallocated by the caller)."""
    if array is not None and tuple(array.shape) != tuple(expected):
        raise ValueError(f"{op}: {name} must have shape {tuple(expected)}, received {tuple(array.shape)}.")


def _window_slices(i: int, j: int, out_hw: tuple, strides) -> tuple:
    """Index of position (i, j) of every window in the padded image: a strided (N, OH, OW, C) view."""
    (oh, ow), (sh, sw) = out_hw, strides
    return np.s_[:, i:i + sh * oh:sh, j:j + sw * ow:sw, :]


def _pad(x: np.ndarray, padding) -> np.ndarray:
    """``x`` inside a zero border of (top, bottom, left, right) rows and columns."""
    top, bottom, left, right = padding
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))


def _crop(padded: np.ndarray, padding) -> np.ndarray:
    """The inverse of :func:`_pad`: the interior of a padded image."""
    top, bottom, left, right = padding
    return padded[:, top:padded.shape[1] - bottom, left:padded.shape[2] - right, :]


def _im2col(x: np.ndarray, window: tuple, out_hw: tuple, strides, padding) -> np.ndarray:
    """Every window of ``x`` as one row: (N·OH·OW, KH·KW·C), ordered like the kernel's rows."""
    padded = _pad(x, padding)
    kh, kw = window
    columns = np.empty((x.shape[0], *out_hw, kh, kw, x.shape[3]), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            columns[:, :, :, i, j, :] = padded[_window_slices(i, j, out_hw, strides)]
    return columns.reshape(-1, kh * kw * x.shape[3])


def _col2im(columns: np.ndarray, x_shape: tuple, window: tuple, out_hw: tuple, strides, padding) -> np.ndarray:
    """The adjoint of :func:`_im2col`: each row added back onto the pixels its window covers."""
    n, h, w, c = x_shape
    top, bottom, left, right = padding
    kh, kw = window
    padded = np.zeros((n, h + top + bottom, w + left + right, c), dtype=columns.dtype)
    windows = columns.reshape(n, *out_hw, kh, kw, c)
    for i in range(kh):
        for j in range(kw):
            padded[_window_slices(i, j, out_hw, strides)] += windows[:, :, :, i, j, :]
    return _crop(padded, padding)


def _channel_rows(array: np.ndarray) -> np.ndarray:
    """(N·OH·OW, F) view of an (N, OH, OW, F) array: activations, softmax included, act per pixel
    over the channel axis, exactly as a Dense layer's act over its units."""
    return array.reshape(-1, array.shape[-1])


# --------------------------------------------------------------------------------------------------
# Convolution

def conv2d_forward(y, x, W, b, strides, padding, activation, alpha):
    """y = act(conv(x, W) + b), the cross-correlation Keras' Conv2D computes; ``b`` may be None.

    ``y[n, p, q, f] = act(b[f] + Σ_{i, j, c} padded_x[n, p·sh + i, q·sw + j, c] · W[i, j, c, f])``.
    """
    # x (N, H, W, C), W (KH, KW, C, F), b (F,) | None -> y (N, OH, OW, F)
    op = "conv2d_forward"
    check_fused_activation(op, activation)
    kh, kw, c, f = W.shape
    out_hw = _geometry(op, x.shape, (kh, kw), strides, padding)
    if x.shape[3] != c:
        raise ValueError(f"{op}: x has {x.shape[3]} channels but W is {W.shape} (KH, KW, C, F).")
    _check_shape(op, "y", y, (x.shape[0], *out_hw, f))
    _check_shape(op, "b", b, (f,))
    rows = _channel_rows(y)
    rows[...] = _im2col(x, (kh, kw), out_hw, strides, padding) @ W.reshape(-1, f)
    if b is not None:
        rows += b
    activation_forward(rows, rows, activation, alpha)


def conv2d_backward(dx, dW, db, dz, dy, x, W, y, strides, padding, activation, alpha):
    """Gradients of a convolution from the gradient ``dy`` of its output ``y``.

    ``dz`` is caller-owned scratch that receives dy ⊙ act'(y). ``dW`` and ``db`` are None for a
    frozen layer (``db`` also without bias), ``dx`` None for the first layer.
    """
    # dy, y (N, OH, OW, F), x (N, H, W, C), W (KH, KW, C, F)
    #   -> dz (N, OH, OW, F), dW (KH, KW, C, F) | None, db (F,) | None, dx (N, H, W, C) | None
    op = "conv2d_backward"
    check_fused_activation(op, activation)
    kh, kw, c, f = W.shape
    out_hw = _geometry(op, x.shape, (kh, kw), strides, padding)
    out_shape = (x.shape[0], *out_hw, f)
    for name, array, shape in (("dy", dy, out_shape), ("y", y, out_shape), ("dz", dz, out_shape),
                               ("dW", dW, W.shape), ("db", db, (f,)), ("dx", dx, x.shape)):
        _check_shape(op, name, array, shape)
    activation_backward(_channel_rows(dz), _channel_rows(dy), _channel_rows(y), activation, alpha)
    dz_rows = _channel_rows(dz)
    columns = _im2col(x, (kh, kw), out_hw, strides, padding)
    if dW is not None:
        dW[...] = (columns.T @ dz_rows).reshape(W.shape)
    if db is not None:
        db[...] = dz_rows.sum(axis=0)
    if dx is not None:
        dx[...] = _col2im(dz_rows @ W.reshape(-1, f).T, x.shape, (kh, kw), out_hw, strides, padding)


# --------------------------------------------------------------------------------------------------
# Pooling

def _valid_windows(size: int, offset: int, out_size: int, stride: int, pad_before: int) -> np.ndarray:
    """Whether position ``offset`` of each of the ``out_size`` windows along one axis is an input
    (True) or padding (False)."""
    position = np.arange(out_size) * stride + offset - pad_before
    return (position >= 0) & (position < size)


def max_pool2d_forward(y, argmax, x, pool, strides, padding):
    """y = the maximum of each window; ``argmax`` = h·W + w of the input chosen.

    The window is scanned in row-major order from −inf with a strict ``>``: the first maximum wins
    ties, padded positions are never candidates, and a NaN is never chosen (its comparisons are
    false), as in the native kernels. A window whose inputs are all NaN or −inf gives −inf and the
    position of its first input.
    """
    # x (N, H, W, C) -> y (N, OH, OW, C), argmax int32 (N, OH, OW, C)
    op = "max_pool2d_forward"
    out_hw = _geometry(op, x.shape, tuple(pool), strides, padding)
    n, h, w, c = x.shape
    _check_shape(op, "y", y, (n, *out_hw, c))
    _check_shape(op, "argmax", argmax, (n, *out_hw, c))
    padded = _pad(x, padding)
    best = np.full((n, *out_hw, c), -np.inf, dtype=x.dtype)
    choice = np.full((n, *out_hw, c), -1, dtype=np.int64)
    for i in range(pool[0]):
        rows = _valid_windows(h, i, out_hw[0], strides[0], padding[0])
        input_row = np.arange(out_hw[0]) * strides[0] + i - padding[0]
        for j in range(pool[1]):
            columns = _valid_windows(w, j, out_hw[1], strides[1], padding[2])
            input_column = np.arange(out_hw[1]) * strides[1] + j - padding[2]
            valid = (rows[:, None] & columns[None, :])[None, :, :, None]
            position = (input_row[:, None] * w + input_column[None, :])[None, :, :, None]
            candidate = padded[_window_slices(i, j, out_hw, strides)]
            greater = valid & (candidate > best)
            # A window's first input is its choice until a strictly greater value comes.
            choice = np.where(greater | (valid & (choice < 0)), position, choice)
            best = np.where(greater, candidate, best)
    y[...] = best
    argmax[...] = choice


def max_pool2d_backward(dx, dy, argmax):
    """dx = zeros, then each dy added to the input its window chose (windows may share one)."""
    # dy, argmax (N, OH, OW, C) -> dx (N, H, W, C)
    n, h, w, c = dx.shape
    _check_shape("max_pool2d_backward", "argmax", argmax, dy.shape)
    flat = np.zeros((n, h * w, c), dtype=dx.dtype)
    samples = np.arange(n)[:, None, None, None]
    channels = np.arange(c)[None, None, None, :]
    np.add.at(flat, (samples, argmax, channels), dy)  # add.at: repeated indices accumulate
    dx[...] = flat.reshape(dx.shape)


def _window_counts(image_hw: tuple, pool, out_hw: tuple, strides, padding) -> np.ndarray:
    """(OH, OW, 1): how many inputs (not padding) each window covers."""
    rows = sum(_valid_windows(image_hw[0], i, out_hw[0], strides[0], padding[0]) for i in range(pool[0]))
    columns = sum(_valid_windows(image_hw[1], j, out_hw[1], strides[1], padding[2]) for j in range(pool[1]))
    return (rows[:, None] * columns[None, :])[:, :, None]


def avg_pool2d_forward(y, x, pool, strides, padding):
    """y = the mean of each window over its inputs only: padding is not counted (as in Keras)."""
    # x (N, H, W, C) -> y (N, OH, OW, C)
    op = "avg_pool2d_forward"
    out_hw = _geometry(op, x.shape, tuple(pool), strides, padding)
    _check_shape(op, "y", y, (x.shape[0], *out_hw, x.shape[3]))
    padded = _pad(x, padding)  # zeros add nothing to the sums
    total = np.zeros(y.shape, dtype=x.dtype)
    for i in range(pool[0]):
        for j in range(pool[1]):
            total += padded[_window_slices(i, j, out_hw, strides)]
    y[...] = total / _window_counts(x.shape[1:3], pool, out_hw, strides, padding)


def avg_pool2d_backward(dx, dy, pool, strides, padding):
    """dx: each dy shared equally by the inputs of its window (1 / count each)."""
    # dy (N, OH, OW, C) -> dx (N, H, W, C)
    op = "avg_pool2d_backward"
    out_hw = _geometry(op, dx.shape, tuple(pool), strides, padding)
    _check_shape(op, "dy", dy, (dx.shape[0], *out_hw, dx.shape[3]))
    share = dy / _window_counts(dx.shape[1:3], pool, out_hw, strides, padding)
    n, h, w, c = dx.shape
    padded = np.zeros((n, h + padding[0] + padding[1], w + padding[2] + padding[3], c), dtype=dx.dtype)
    for i in range(pool[0]):
        for j in range(pool[1]):
            padded[_window_slices(i, j, out_hw, strides)] += share
    dx[...] = _crop(padded, padding)
