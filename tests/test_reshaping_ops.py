"""The reference image reshaping and spatial dropout ops (backend/reference_reshaping.py): float64
finite-difference checks of every backward pass, hand cases, and the spatial dropout mask's mapping
onto Dropout's Philox stream (docs/design.md, "Randomness"). Parity of the other backends with these
ops is in test_parity.py / test_cuda_parity.py (tests/reshaping_cases.py)."""
from __future__ import annotations

import numpy as np
import pytest

from axonal.backend import reference as ref
from axonal.backend.philox import dropout_keep_mask


def _finite_difference(f, x, dy, eps=1e-6):
    """d sum(dy * f(x)) / dx by central differences, element by element (float64)."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        keep = x[i]
        x[i] = keep + eps
        plus = np.sum(dy * f(x))
        x[i] = keep - eps
        minus = np.sum(dy * f(x))
        x[i] = keep
        grad[i] = (plus - minus) / (2 * eps)
    return grad


@pytest.mark.parametrize("padding", [(1, 2, 0, 3), (0, 0, 0, 0), (2, 0, 1, 1)])
def test_zero_pad2d_backward_matches_finite_differences(padding):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 2, 3))
    out_shape = (2, 3 + padding[0] + padding[1], 2 + padding[2] + padding[3], 3)
    dy = rng.standard_normal(out_shape)

    def forward(values):
        y = np.empty(out_shape)
        ref.zero_pad2d_forward(y, values, padding)
        return y

    dx = np.empty_like(x)
    ref.zero_pad2d_backward(dx, dy, padding)
    np.testing.assert_allclose(dx, _finite_difference(forward, x, dy), rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("size", [(2, 3), (1, 1), (3, 1)])
def test_upsample2d_backward_matches_finite_differences(size):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 2, 2))
    out_shape = (2, 3 * size[0], 2 * size[1], 2)
    dy = rng.standard_normal(out_shape)

    def forward(values):
        y = np.empty(out_shape)
        ref.upsample2d_forward(y, values, size)
        return y

    dx = np.empty_like(x)
    ref.upsample2d_backward(dx, dy, size)
    np.testing.assert_allclose(dx, _finite_difference(forward, x, dy), rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("shape", [(3, 4, 5, 1), (3, 1, 5, 4)])  # channels_last / channels_first views
def test_spatial_dropout_backward_matches_finite_differences(shape):
    rng = np.random.default_rng(3)
    x, dy = rng.standard_normal(shape), rng.standard_normal(shape)
    mask = np.empty((shape[0], shape[2]), np.uint8)

    def forward(values):
        y = np.empty(shape)
        ref.spatial_dropout_forward(y, mask, values, 0.4, 11, 2, 5)
        return y

    forward(x)
    assert 0 < mask.sum() < mask.size  # some maps kept, some dropped
    dx = np.empty_like(x)
    ref.spatial_dropout_backward(dx, dy, mask, 0.4)
    np.testing.assert_allclose(dx, _finite_difference(forward, x, dy), rtol=1e-7, atol=1e-8)


def test_spatial_dropout_mask_is_dropouts_mask_of_the_image_channel_pairs():
    x = np.ones((4, 6, 5, 1), np.float32)  # (N, H·W, C, 1)
    y, mask = np.empty_like(x), np.empty((4, 5), np.uint8)
    ref.spatial_dropout_forward(y, mask, x, 0.5, 1234, 7, 2**33 + 1)
    np.testing.assert_array_equal(mask, dropout_keep_mask((4, 5), 0.5, 1234, 7, 2**33 + 1))
    scale = np.float32(1) / (np.float32(1) - np.float32(0.5))
    np.testing.assert_array_equal(y, np.broadcast_to((mask * scale)[:, None, :, None], x.shape))


def test_hand_cases():
    x = np.arange(4, dtype=np.float32).reshape(1, 2, 2, 1)
    y = np.empty((1, 4, 4, 1), np.float32)
    ref.upsample2d_forward(y, x, (2, 2))
    np.testing.assert_array_equal(y[0, :, :, 0], [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]])
    dx = np.empty_like(x)
    ref.upsample2d_backward(dx, np.ones_like(y), (2, 2))
    np.testing.assert_array_equal(dx, np.full_like(x, 4))
    padded = np.empty((1, 3, 5, 1), np.float32)
    ref.zero_pad2d_forward(padded, x, (1, 0, 2, 1))
    np.testing.assert_array_equal(padded[0, :, :, 0], [[0, 0, 0, 0, 0], [0, 0, 0, 1, 0], [0, 0, 2, 3, 0]])


@pytest.mark.parametrize("call, word", [
    (lambda: ref.zero_pad2d_forward(np.empty((1, 2, 2, 1)), np.empty((1, 2, 2, 1)), (-1, 0, 0, 0)), "padding"),
    (lambda: ref.upsample2d_forward(np.empty((1, 2, 2, 1)), np.empty((1, 2, 2, 1)), (0, 1)), "size"),
    (lambda: ref.spatial_dropout_backward(np.empty((1, 1, 1, 1)), np.empty((1, 1, 1, 1)),
                                          np.ones((1, 1), np.uint8), 1.0), "rate"),
])
def test_bad_arguments_are_refused(call, word):
    with pytest.raises(ValueError, match=word):
        call()
