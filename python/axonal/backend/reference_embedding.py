"""Embedding ops of the ``numpy`` backend: the readable definition of Keras' ``Embedding`` lookup.

* ``embedding_forward(y, indices, W)``: a gather, ``y[m] = W[indices[m]]``;
* ``embedding_backward(dW, dy, indices)``: a scatter-add, ``dW`` zeroed, then ``dW[indices[m]] += dy[m]``
  for m = 0, 1, 2, ... in that order.

Shapes: ``indices`` (M,) int32 (a batch of sequences (N, T) is seen as M = N·T lookups), ``W`` and
``dW`` (V, D), ``y`` and ``dy`` (M, D). Conventions as in :mod:`axonal.backend.reference`: outputs
first, preallocated and overwritten; float32 or float64 (the finite-difference checks) in the
arrays' dtype.

Order of the sums: a row of ``dW`` that several lookups share receives their gradients one by one,
in the order of the lookups, in the arrays' dtype. The C++ and CUDA kernels add in the same order
(no atomics whose order could change: each thread owns rows of ``dW``), so every backend gives the
same bits.

An index outside [0, V) raises ValueError naming the index and its position (the layer checks the
data before with its own name in the message; this is the op's own guard).

Example:
    >>> W = np.arange(6, dtype=np.float32).reshape(3, 2)
    >>> y = np.empty((2, 2), np.float32); embedding_forward(y, np.array([2, 0], np.int32), W); y
    array([[4., 5.],
           [0., 1.]], dtype=float32)
"""
from __future__ import annotations

import numpy as np


def check_indices(op: str, indices, vocabulary: int) -> None:
    """Raise ValueError when ``indices`` is not an int32 (M,) array of values in [0, vocabulary)."""
    if not isinstance(indices, np.ndarray) or indices.dtype != np.int32 or indices.ndim != 1:
        received = (f"{indices.dtype} array of shape {indices.shape}" if isinstance(indices, np.ndarray)
                    else type(indices).__name__)
        raise ValueError(f"{op}: 'indices' must be an int32 array of shape (M,); received a {received}. "
                         "Fix: indices.reshape(-1).astype(np.int32).")
    bad = np.flatnonzero((indices < 0) | (indices >= vocabulary))
    if bad.size:
        raise ValueError(f"{op}: index {int(indices[bad[0]])} at position {int(bad[0])} is outside [0, {vocabulary}) "
                         f"(the embedding matrix has {vocabulary} rows).")


def embedding_forward(y, indices, W):
    """y = W[indices]: row m of ``y`` is row ``indices[m]`` of ``W``."""
    # indices (M,) int32, W (V, D) -> y (M, D)
    check_indices("embedding_forward", indices, len(W))
    np.take(W, indices, axis=0, out=y)


def embedding_backward(dW, dy, indices):
    """dW = Σ over lookups m of dy[m] into row indices[m]; rows never looked up are 0."""
    # dy (M, D), indices (M,) int32 -> dW (V, D), overwritten
    check_indices("embedding_backward", indices, len(dW))
    dW[...] = 0
    np.add.at(dW, indices, dy)  # unbuffered: repeated indices add one after another, in order
