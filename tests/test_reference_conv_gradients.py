"""The reference convolution and pooling ops checked against first principles.

* float64 central finite differences of every backward (conv2d with each activation, with and
  without bias; max and average pooling), on tiny images with strides and padding;
* direct nested-loop definitions of the forward ops (the textbook sums, window by window);
* the edge rules of the contract: first maximum wins, padding never wins nor counts, argument errors.
"""
import numpy as np
import pytest

from axonal.backend import reference as ops
from kinks import clear_of_kinks
from test_reference_gradients import ALPHAS, FUSABLE, numerical_gradient

# (strides, padding): plain, strided with lopsided padding, and padding on every side.
GEOMETRIES = {"valid": ((1, 1), (0, 0, 0, 0)), "s2-lopsided": ((2, 1), (0, 1, 1, 0)),
              "s2-padded": ((2, 2), (1, 1, 2, 1))}


def conv(x, W, b, strides, padding, activation):
    kh, kw, _, f = W.shape
    oh = (x.shape[1] + padding[0] + padding[1] - kh) // strides[0] + 1
    ow = (x.shape[2] + padding[2] + padding[3] - kw) // strides[1] + 1
    y = np.empty((x.shape[0], oh, ow, f))
    ops.conv2d_forward(y, x, W, b, strides, padding, activation, ALPHAS.get(activation, 0.2))
    return y


def _conv_problem(activation, strides, padding, seed):
    """x (2, 5, 4, 2), W (3, 3, 2, 3), b (3,); every pre-activation at least 0.05 from a kink."""
    rng = np.random.default_rng(seed)
    while True:
        x, W, b = rng.standard_normal((2, 5, 4, 2)), rng.standard_normal((3, 3, 2, 3)), rng.standard_normal(3)
        z = conv(x, W, b, strides, padding, "linear")
        if clear_of_kinks(z, activation, 0.05):
            return x, W, b, rng.standard_normal(z.shape)


@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("activation", FUSABLE)
def test_conv2d_backward_matches_finite_differences(activation, geometry):
    strides, padding = GEOMETRIES[geometry]
    x, W, b, weights = _conv_problem(activation, strides, padding, seed=7)
    y = conv(x, W, b, strides, padding, activation)
    dx, dW, db, dz = np.empty_like(x), np.empty_like(W), np.empty_like(b), np.empty_like(y)
    ops.conv2d_backward(dx, dW, db, dz, weights, x, W, y, strides, padding, activation,
                        ALPHAS.get(activation, 0.2))
    loss = lambda: np.sum(weights * conv(x, W, b, strides, padding, activation))  # noqa: E731
    for analytic, variable in ((dx, x), (dW, W), (db, b)):
        np.testing.assert_allclose(analytic, numerical_gradient(loss, variable), rtol=1e-6, atol=1e-8)


def test_conv2d_without_bias_and_dx_writes_only_dz_and_dW():
    strides, padding = GEOMETRIES["s2-padded"]
    x, W, _, dy = _conv_problem("tanh", strides, padding, seed=8)
    y = conv(x, W, None, strides, padding, "tanh")
    dW, dz = np.empty_like(W), np.empty_like(y)
    ops.conv2d_backward(None, dW, None, dz, dy, x, W, y, strides, padding, "tanh", 0.0)
    loss = lambda: np.sum(dy * conv(x, W, None, strides, padding, "tanh"))  # noqa: E731
    np.testing.assert_allclose(dW, numerical_gradient(loss, W), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dz, dy * (1 - y * y))


def test_conv2d_hard_step_backward_is_the_linear_backward():
    strides, padding = GEOMETRIES["valid"]
    x, W, b, dy = _conv_problem("hard_step", strides, padding, seed=9)
    y = conv(x, W, b, strides, padding, "hard_step")
    grads = {}
    for activation in ("hard_step", "linear"):
        grads[activation] = (np.empty_like(x), np.empty_like(W), np.empty_like(b), np.empty_like(y))
        ops.conv2d_backward(*grads[activation], dy, x, W, y, strides, padding, activation, 0.0)
    for step_grad, linear_grad in zip(grads["hard_step"], grads["linear"]):
        np.testing.assert_array_equal(step_grad, linear_grad)


def test_conv2d_softmax_runs_over_the_channels_of_each_pixel():
    x, W, b, _ = _conv_problem("softmax", (1, 1), (1, 1, 1, 1), seed=10)
    y = conv(x, W, b, (1, 1), (1, 1, 1, 1), "softmax")
    np.testing.assert_allclose(y.sum(axis=-1), 1.0)
    z = conv(x, W, b, (1, 1), (1, 1, 1, 1), "linear")
    np.testing.assert_allclose(y, np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True))


def direct_conv(x, W, b, strides, padding):
    """The textbook cross-correlation, one output element at a time."""
    top, bottom, left, right = padding
    padded = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    kh, kw, channels, filters = W.shape
    oh = (padded.shape[1] - kh) // strides[0] + 1
    ow = (padded.shape[2] - kw) // strides[1] + 1
    y = np.zeros((x.shape[0], oh, ow, filters))
    for n in range(x.shape[0]):
        for p in range(oh):
            for q in range(ow):
                for f in range(filters):
                    total = b[f]
                    for i in range(kh):
                        for j in range(kw):
                            for c in range(channels):
                                total += padded[n, p * strides[0] + i, q * strides[1] + j, c] * W[i, j, c, f]
                    y[n, p, q, f] = total
    return y


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_conv2d_forward_is_the_direct_convolution(geometry):
    strides, padding = GEOMETRIES[geometry]
    rng = np.random.default_rng(11)
    x, W, b = rng.standard_normal((2, 4, 5, 3)), rng.standard_normal((2, 3, 3, 2)), rng.standard_normal(2)
    np.testing.assert_allclose(conv(x, W, b, strides, padding, "linear"), direct_conv(x, W, b, strides, padding),
                               rtol=1e-12, atol=1e-12)


def test_conv2d_keeps_float32():
    x, W = np.ones((1, 3, 3, 1), np.float32), np.ones((2, 2, 1, 1), np.float32)
    y = np.empty((1, 2, 2, 1), np.float32)
    ops.conv2d_forward(y, x, W, None, (1, 1), (0, 0, 0, 0), "relu", 0.0)
    assert y.dtype == np.float32 and (y == 4).all()


# --------------------------------------------------------------------------------------------------
# Pooling

POOLS = {"p2-valid": ((2, 2), (2, 2), (0, 0, 0, 0)), "p3-s2-same": ((3, 3), (2, 2), (1, 1, 1, 1)),
         "p2x3-s1-lopsided": ((2, 3), (1, 1), (0, 1, 2, 0))}


def pool_output_shape(x, pool, strides, padding):
    oh = (x.shape[1] + padding[0] + padding[1] - pool[0]) // strides[0] + 1
    ow = (x.shape[2] + padding[2] + padding[3] - pool[1]) // strides[1] + 1
    return (x.shape[0], oh, ow, x.shape[3])


def max_pool(x, pool, strides, padding):
    y = np.empty(pool_output_shape(x, pool, strides, padding))
    argmax = np.empty(y.shape, np.int32)
    ops.max_pool2d_forward(y, argmax, x, pool, strides, padding)
    return y, argmax


def avg_pool(x, pool, strides, padding):
    y = np.empty(pool_output_shape(x, pool, strides, padding))
    ops.avg_pool2d_forward(y, x, pool, strides, padding)
    return y


def distinct_image(seed, shape=(2, 5, 6, 2)):
    """Values 0.1 apart in random order: no ties, and a 1e-6 step never changes a window's maximum."""
    rng = np.random.default_rng(seed)
    return rng.permutation(int(np.prod(shape))).reshape(shape) / 10 - 3.0


@pytest.mark.parametrize("geometry", POOLS)
def test_max_pool_backward_matches_finite_differences(geometry):
    pool, strides, padding = POOLS[geometry]
    x = distinct_image(12)
    y, argmax = max_pool(x, pool, strides, padding)
    weights = np.random.default_rng(13).standard_normal(y.shape)
    dx = np.full_like(x, np.nan)
    ops.max_pool2d_backward(dx, weights, argmax)
    expected = numerical_gradient(lambda: np.sum(weights * max_pool(x, pool, strides, padding)[0]), x)
    np.testing.assert_allclose(dx, expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("geometry", POOLS)
def test_avg_pool_backward_matches_finite_differences(geometry):
    pool, strides, padding = POOLS[geometry]
    x = np.random.default_rng(14).standard_normal((2, 5, 6, 2))
    weights = np.random.default_rng(15).standard_normal(pool_output_shape(x, pool, strides, padding))
    dx = np.full_like(x, np.nan)
    ops.avg_pool2d_backward(dx, weights, pool, strides, padding)
    expected = numerical_gradient(lambda: np.sum(weights * avg_pool(x, pool, strides, padding)), x)
    np.testing.assert_allclose(dx, expected, rtol=1e-6, atol=1e-8)


def direct_pool(x, pool, strides, padding, reduce):
    """``reduce`` of the unpadded inputs of each window, and the flat position of their first maximum."""
    n, h, w, c = x.shape
    y = np.zeros(pool_output_shape(x, pool, strides, padding))
    argmax = np.zeros(y.shape, np.int64)
    for p in range(y.shape[1]):
        for q in range(y.shape[2]):
            rows = [r for r in range(p * strides[0] - padding[0], p * strides[0] - padding[0] + pool[0]) if 0 <= r < h]
            cols = [s for s in range(q * strides[1] - padding[2], q * strides[1] - padding[2] + pool[1]) if 0 <= s < w]
            window = x[:, rows][:, :, cols]  # (N, rows, cols, C)
            y[:, p, q] = reduce(window.reshape(n, -1, c), axis=1)
            first = window.reshape(n, -1, c).argmax(axis=1)  # NumPy's argmax: the first maximum
            argmax[:, p, q] = np.array(rows)[first // len(cols)] * w + np.array(cols)[first % len(cols)]
    return y, argmax


@pytest.mark.parametrize("geometry", POOLS)
def test_pools_are_the_direct_window_reductions(geometry):
    pool, strides, padding = POOLS[geometry]
    x = np.random.default_rng(16).integers(-3, 0, (2, 5, 6, 2)).astype(float)  # negative, with ties
    y, argmax = max_pool(x, pool, strides, padding)
    expected_y, expected_argmax = direct_pool(x, pool, strides, padding, np.max)
    np.testing.assert_array_equal(y, expected_y)  # all negative: a padded zero never wins
    np.testing.assert_array_equal(argmax, expected_argmax)  # ties: the first in row-major order wins
    np.testing.assert_allclose(avg_pool(x, pool, strides, padding),
                               direct_pool(x, pool, strides, padding, np.mean)[0], rtol=1e-12)


def test_max_pool_backward_adds_up_a_maximum_shared_by_windows():
    x = np.zeros((1, 3, 3, 1))
    x[0, 1, 1, 0] = 5.0  # the centre is the maximum of all four overlapping 2x2 windows
    _, argmax = max_pool(x, (2, 2), (1, 1), (0, 0, 0, 0))
    assert (argmax == 4).all()
    dx = np.empty_like(x)
    ops.max_pool2d_backward(dx, np.ones((1, 2, 2, 1)), argmax)
    assert dx[0, 1, 1, 0] == 4.0 and dx.sum() == 4.0


def test_avg_pool_does_not_count_padding():
    y = avg_pool(np.ones((1, 3, 3, 1)), (2, 2), (2, 2), (0, 1, 0, 1))
    np.testing.assert_array_equal(y, np.ones((1, 2, 2, 1)))


@pytest.mark.parametrize("padding, message", [
    ((2, 0, 0, 0), r"each padding must be in \[0, window size\).*\(2, 0, 0, 0\) for a 2x2 window"),
    ((0, 0, -1, 0), r"each padding must be in \[0, window size\)"),
])
def test_padding_must_leave_an_input_in_every_window(padding, message):
    with pytest.raises(ValueError, match=message):
        max_pool(np.ones((1, 4, 4, 1)), (2, 2), (1, 1), padding)


def test_argument_errors_name_the_op_and_the_shapes():
    x, W = np.ones((1, 2, 2, 3)), np.ones((3, 3, 3, 4))
    with pytest.raises(ValueError, match=r"conv2d_forward: a 3x3 window does not fit in the padded 2x2 image"):
        ops.conv2d_forward(np.empty((1, 1, 1, 4)), x, W, None, (1, 1), (0, 0, 0, 0), "linear", 0.0)
    with pytest.raises(ValueError, match=r"x has 2 channels but W is \(3, 3, 3, 4\)"):
        ops.conv2d_forward(np.empty((1, 1, 1, 4)), np.ones((1, 3, 3, 2)), W, None, (1, 1), (0, 0, 0, 0),
                           "linear", 0.0)
    with pytest.raises(ValueError, match=r"y must have shape \(1, 1, 1, 4\), received \(1, 4\)"):
        ops.conv2d_forward(np.empty((1, 4)), np.ones((1, 3, 3, 3)), W, None, (1, 1), (0, 0, 0, 0), "linear", 0.0)
    with pytest.raises(ValueError, match=r"strides must be two positive integers.*\(0, 1\)"):
        ops.avg_pool2d_forward(np.empty((1, 1, 1, 3)), x, (2, 2), (0, 1), (0, 0, 0, 0))
    with pytest.raises(ValueError, match=r"x must be 4-D \(N, H, W, C\), received shape \(2, 2\)"):
        ops.avg_pool2d_forward(np.empty((1, 1)), np.ones((2, 2)), (2, 2), (1, 1), (0, 0, 0, 0))
