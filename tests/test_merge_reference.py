"""The reference merge ops (backend/reference_merge.py) against first principles.

* float64 central finite differences of merge_backward (every op, 1 to 3 inputs, inputs kept apart
  so that no maximum or minimum is shared) and of concat_backward;
* hand cases: the tie rule (the first input holding the extreme gets dy), NaN, a product's gradient
  at a zero input, Keras' Average and Subtract, concatenation order, accumulate and scale.
"""
import numpy as np
import pytest

from axonal.backend import reference as ops
from axonal.backend.reference_merge import MERGE_OPS
from test_reference_gradients import numerical_gradient

OPS_AND_COUNTS = [(op, n) for op in MERGE_OPS if op != "subtract" for n in (1, 2, 3)] + [("subtract", 2)]


def merged(inputs, op):
    y = np.empty_like(inputs[0])
    ops.merge_forward(y, inputs, op)
    return y


def apart(rng, n, shape):
    """n inputs whose values at each element differ by at least 0.2 (a shuffled ladder plus noise of
    ±0.05): a step of 1e-6 never changes which input holds the maximum or minimum."""
    ladder = rng.permuted(np.broadcast_to(np.arange(n, dtype=float)[:, None, None] * 0.3, (n, *shape)), axis=0)
    base = rng.uniform(-1, 1, shape)
    return [base + ladder[i] + rng.uniform(-0.05, 0.05, shape) for i in range(n)]


@pytest.mark.parametrize("op, n", OPS_AND_COUNTS)
def test_merge_backward_matches_finite_differences(op, n):
    rng = np.random.default_rng(41)
    inputs = apart(rng, n, (3, 4))
    weights = rng.standard_normal((3, 4))  # the loss sum(weights * y) has dL/dy = weights
    dxs = [np.empty((3, 4)) for _ in range(n)]
    ops.merge_backward(dxs, weights, inputs, op)
    for index, x in enumerate(inputs):
        expected = numerical_gradient(lambda: np.sum(weights * merged(inputs, op)), x)
        np.testing.assert_allclose(dxs[index], expected, rtol=1e-6, atol=1e-8, err_msg=f"{op}: input {index}")


@pytest.mark.parametrize("widths", [(3,), (2, 5), (1, 4, 2), (3, 0, 2)])
def test_concat_backward_matches_finite_differences(widths):
    rng = np.random.default_rng(42)
    inputs = [rng.standard_normal((3, width)) for width in widths]
    weights = rng.standard_normal((3, sum(widths)))

    def loss():
        y = np.empty((3, sum(widths)))
        ops.concat_forward(y, inputs)
        return np.sum(weights * y)

    dxs = [np.empty((3, width)) for width in widths]
    ops.concat_backward(dxs, weights)
    for index, x in enumerate(inputs):
        np.testing.assert_allclose(dxs[index], numerical_gradient(loss, x), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("op, expected_y, expected_first", [("maximum", [2.0, 2.0, 3.0], [1, 0, 0]),
                                                             ("minimum", [1.0, 1.0, 1.0], [0, 1, 1])])
def test_ties_send_the_gradient_to_the_first_input_holding_the_extreme(op, expected_y, expected_first):
    x0, x1, x2 = np.array([[2.0, 1.0, 1.0]]), np.array([[2.0, 2.0, 3.0]]), np.array([[1.0, 2.0, 1.0]])
    y = np.empty((1, 3))
    ops.merge_forward(y, [x0, x1, x2], op)
    np.testing.assert_array_equal(y, [expected_y])
    dxs = [np.full((1, 3), np.nan) for _ in range(3)]
    ops.merge_backward(dxs, np.array([[5.0, 6.0, 7.0]]), [x0, x1, x2], op)
    # The chosen input of each element: the first of the inputs equal to the extreme.
    chosen = [[x[0, e] for x in (x0, x1, x2)].index(expected_y[e]) for e in range(3)]
    for index, dx in enumerate(dxs):
        np.testing.assert_array_equal(dx, [[[5.0, 6.0, 7.0][e] if chosen[e] == index else 0.0 for e in range(3)]])
    np.testing.assert_array_equal(dxs[0][0] != 0, expected_first)


@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_equal_inputs_give_the_whole_gradient_to_the_first(op):
    x = np.array([[0.5, -1.0, 0.0]])
    dxs = [np.empty((1, 3)) for _ in range(3)]
    ops.merge_backward(dxs, np.ones((1, 3)), [x, x.copy(), x.copy()], op)
    np.testing.assert_array_equal(dxs[0], np.ones((1, 3)))
    np.testing.assert_array_equal(dxs[1] + dxs[2], np.zeros((1, 3)))


@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_nan_propagates_and_the_first_nan_gets_the_gradient(op):
    nan = np.nan
    inputs = [np.array([[1.0, nan, 2.0]]), np.array([[nan, nan, 3.0]]), np.array([[nan, 0.0, nan]])]
    y = np.empty((1, 3))
    ops.merge_forward(y, inputs, op)
    assert np.isnan(y).all()
    dxs = [np.empty((1, 3)) for _ in range(3)]
    ops.merge_backward(dxs, np.array([[1.0, 2.0, 3.0]]), inputs, op)
    np.testing.assert_array_equal(np.stack([dx[0] for dx in dxs]), [[0, 2, 0], [1, 0, 0], [0, 0, 3]])


def test_product_gradient_is_exact_at_zero_inputs():
    """dx_i is the product of the other inputs, never dy * y / x_i (NaN at x_i = 0)."""
    inputs = [np.array([[0.0, 2.0, 0.0]]), np.array([[3.0, 0.0, 0.0]]), np.array([[5.0, 7.0, 11.0]])]
    dxs = [np.empty((1, 3)) for _ in range(3)]
    ops.merge_backward(dxs, np.array([[2.0, 2.0, 2.0]]), inputs, "multiply")
    np.testing.assert_array_equal(dxs[0], [[30.0, 0.0, 0.0]])
    np.testing.assert_array_equal(dxs[1], [[0.0, 28.0, 0.0]])
    np.testing.assert_array_equal(dxs[2], [[0.0, 0.0, 0.0]])


def test_keras_merge_values_and_gradients_by_hand():
    x0, x1, x2 = np.array([[1.0, -2.0]]), np.array([[4.0, 6.0]]), np.array([[1.0, 2.0]])
    expected = {"add": [[6.0, 6.0]], "multiply": [[4.0, -24.0]], "average": [[2.0, 2.0]],
                "maximum": [[4.0, 6.0]], "minimum": [[1.0, -2.0]]}
    for op, value in expected.items():
        np.testing.assert_array_equal(merged([x0, x1, x2], op), value, err_msg=op)
    np.testing.assert_array_equal(merged([x0, x1], "subtract"), [[-3.0, -8.0]])
    dxs = [np.empty((1, 2)) for _ in range(3)]
    ops.merge_backward(dxs, np.array([[3.0, 6.0]]), [x0, x1, x2], "average")
    for dx in dxs:
        np.testing.assert_array_equal(dx, [[1.0, 2.0]])
    ops.merge_backward(dxs[:2], np.array([[3.0, 6.0]]), [x0, x1], "subtract")
    np.testing.assert_array_equal(dxs[0], [[3.0, 6.0]])
    np.testing.assert_array_equal(dxs[1], [[-3.0, -6.0]])


def test_a_single_input_merge_is_the_identity():
    x, dy = np.array([[1.5, -2.0]]), np.array([[3.0, 4.0]])
    for op in ("add", "multiply", "average", "maximum", "minimum"):
        np.testing.assert_array_equal(merged([x], op), x)
        dx = np.empty_like(x)
        ops.merge_backward([dx], dy, [x], op)
        np.testing.assert_array_equal(dx, dy, err_msg=op)


def test_none_gradients_are_skipped_and_outputs_overwritten():
    x0, x1 = np.array([[1.0, 5.0]]), np.array([[3.0, 5.0]])
    dx1 = np.full((1, 2), 99.0)
    ops.merge_backward([None, dx1], np.ones((1, 2)), [x0, x1], "maximum")
    np.testing.assert_array_equal(dx1, [[1.0, 0.0]])  # overwritten, never accumulated


def test_concat_joins_in_order_and_splits_back():
    a, b, c = np.array([[1.0], [2.0]]), np.array([[3.0, 4.0], [5.0, 6.0]]), np.empty((2, 0))
    y = np.empty((2, 3))
    ops.concat_forward(y, [a, c, b])
    np.testing.assert_array_equal(y, [[1.0, 3.0, 4.0], [2.0, 5.0, 6.0]])
    da, db = np.empty((2, 1)), np.empty((2, 2))
    ops.concat_backward([da, None, db], y)  # one None: its width is what the others leave (0)
    np.testing.assert_array_equal(da, a)
    np.testing.assert_array_equal(db, b)
    db[...] = 0
    ops.concat_backward([None, None, db], y, widths=[1, 0, 2])
    np.testing.assert_array_equal(db, b)


def test_accumulate_and_scale():
    y, x = np.array([[1.0, 2.0]], np.float32), np.array([[0.5, -4.0]], np.float32)
    ops.accumulate(y, x)
    np.testing.assert_array_equal(y, [[1.5, -2.0]])
    ops.scale(y, y, 2.0)  # in place
    np.testing.assert_array_equal(y, [[3.0, -4.0]])
    assert y.dtype == np.float32
    out = np.empty(3, np.float32)  # any shape: weight gradients are 1-D to 4-D
    ops.scale(out, np.array([1.0, 2.0, 3.0], np.float32), 0.1)
    np.testing.assert_array_equal(out, np.float32(0.1) * np.array([1.0, 2.0, 3.0], np.float32))
