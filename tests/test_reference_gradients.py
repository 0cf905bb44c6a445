"""The NumPy reference backend checked against first principles.

* float64 central finite differences of every backward op (activations, dense, losses, dropout);
* golden values: losses on hand cases, one optimiser step recomputed with plain Python floats from
  the Keras 3 formulas in docs/design.md;
* properties: softmax rows sum to 1, stability at |z| = 1e4, dropout mask statistics.
"""
import math

import numpy as np
import pytest

from axonal.activations import FROM_INPUT, FUSED_REFUSAL, derivative_source
from axonal.backend import reference as ops
from kinks import KINKED, clear_of_kinks

ALPHAS = {"leaky_relu": 0.3, "elu": 0.7}
SMOOTH_AND_KINKED = [a for a in ops.ACTIVATIONS if a != "hard_step"]
FUSABLE = [a for a in SMOOTH_AND_KINKED if a not in FROM_INPUT]  # what dense and conv2d accept


def numerical_gradient(loss_of, array, step=1e-6):
    """Central differences of the scalar ``loss_of()`` with respect to each element of ``array``."""
    gradient = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + step
        above = loss_of()
        array[index] = saved - step
        below = loss_of()
        array[index] = saved
        gradient[index] = (above - below) / (2 * step)
    return gradient


def away_from_zero(rng, shape, low=0.2):
    """Values with |v| in [low, 2] and random signs."""
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(low, 2.0, shape)


def activate(x, activation):
    y = np.empty_like(x)
    ops.activation_forward(y, x, activation, ALPHAS.get(activation, 0.2))
    return y


# --------------------------------------------------------------------------------------------------
# Finite differences

@pytest.mark.parametrize("activation", SMOOTH_AND_KINKED)
def test_activation_backward_matches_finite_differences(activation):
    rng = np.random.default_rng(1)
    x = away_from_zero(rng, (3, 5)) if activation in KINKED else 2 * rng.standard_normal((3, 5))
    weights = rng.standard_normal((3, 5))  # the loss sum(weights * y) has dL/dy = weights
    dx = np.empty_like(x)
    ops.activation_backward(dx, weights, derivative_source(activation, x, activate(x, activation)), activation,
                            ALPHAS.get(activation, 0.2))
    expected = numerical_gradient(lambda: np.sum(weights * activate(x, activation)), x)
    np.testing.assert_allclose(dx, expected, rtol=1e-6, atol=1e-8)


def test_hard_step_backward_is_straight_through():
    """The step's true derivative is 0 away from 0 (finite differences say so); the backward
    deliberately passes dy through unchanged so that layers below it still learn."""
    rng = np.random.default_rng(2)
    x, dy = away_from_zero(rng, (4, 3)), rng.standard_normal((4, 3))
    assert not numerical_gradient(lambda: np.sum(dy * activate(x, "hard_step")), x).any()
    dx = np.empty_like(x)
    ops.activation_backward(dx, dy, activate(x, "hard_step"), "hard_step", 0.0)
    np.testing.assert_array_equal(dx, dy)
    np.testing.assert_array_equal(activate(np.array([[-1e-9, 0.0, 2.0]]), "hard_step"), [[0, 1, 1]])


def test_softmax_backward_is_the_jacobian_transpose_product():
    rng = np.random.default_rng(3)
    x, dy = rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    y, dx = activate(x, "softmax"), np.empty_like(x)
    ops.activation_backward(dx, dy, y, "softmax", 0.0)
    for row in range(2):
        jacobian = np.diag(y[row]) - np.outer(y[row], y[row])
        np.testing.assert_allclose(dx[row], jacobian.T @ dy[row], rtol=1e-12, atol=1e-15)


def _dense_problem(activation, seed):
    """x, W, b with every pre-activation at least 0.05 from 0 (kinks), and the loss weights."""
    rng = np.random.default_rng(seed)
    while True:
        x, W, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 5)), rng.standard_normal(5)
        if clear_of_kinks(x @ W + b, activation, 0.05):
            return x, W, b, rng.standard_normal((4, 5))


def dense(x, W, b, activation):
    y = np.empty((x.shape[0], W.shape[1]))
    ops.dense_forward(y, x, W, b, activation, ALPHAS.get(activation, 0.2))
    return y


@pytest.mark.parametrize("activation", FUSABLE)
def test_dense_backward_matches_finite_differences(activation):
    x, W, b, weights = _dense_problem(activation, seed=4)
    dx, dW, db, dz = np.empty_like(x), np.empty_like(W), np.empty_like(b), np.empty((4, 5))
    ops.dense_backward(dx, dW, db, dz, weights, x, W, dense(x, W, b, activation), activation,
                       ALPHAS.get(activation, 0.2))
    loss = lambda: np.sum(weights * dense(x, W, b, activation))  # noqa: E731
    for analytic, variable in ((dx, x), (dW, W), (db, b)):
        np.testing.assert_allclose(analytic, numerical_gradient(loss, variable), rtol=1e-6, atol=1e-8)


def test_dense_hard_step_backward_is_the_linear_backward():
    x, W, b, dy = _dense_problem("hard_step", seed=5)
    grads = {act: (np.empty_like(x), np.empty_like(W), np.empty_like(b), np.empty_like(dy)) for act in
             ("hard_step", "linear")}
    for act, (dx, dW, db, dz) in grads.items():
        ops.dense_backward(dx, dW, db, dz, dy, x, W, dense(x, W, b, "hard_step"), act, 0.0)
    for step_grad, linear_grad in zip(grads["hard_step"], grads["linear"]):
        np.testing.assert_array_equal(step_grad, linear_grad)
    np.testing.assert_allclose(grads["linear"][1], x.T @ dy)


def test_dense_skips_none_outputs():
    x, W, _, dy = _dense_problem("tanh", seed=6)
    y = dense(x, W, None, "tanh")
    np.testing.assert_allclose(y, np.tanh(x @ W))
    dW, dz = np.empty_like(W), np.empty_like(dy)
    ops.dense_backward(None, dW, None, dz, dy, x, W, y, "tanh", 0.0)
    np.testing.assert_allclose(dW, x.T @ (dy * (1 - y**2)))


LABEL_KINDS = ["one_hot", "probabilities", "int32", "int64"]


def _labels(kind, rng, n, k):
    if kind == "one_hot":
        return np.eye(k)[rng.integers(0, k, n)]
    if kind == "probabilities":
        return rng.dirichlet(np.ones(k), size=n)
    return rng.integers(0, k, n).astype(kind)


# Sample weights of a 4-sample batch: fractional, zero and above one.
WEIGHTS = [pytest.param(None, id="unweighted"), pytest.param(np.array([0.5, 0.0, 2.0, 1.25]), id="weighted")]


@pytest.mark.parametrize("weights", WEIGHTS)
@pytest.mark.parametrize("kind", LABEL_KINDS)
def test_softmax_cross_entropy_gradient_matches_finite_differences(kind, weights):
    rng = np.random.default_rng(7)
    logits, labels = 2 * rng.standard_normal((4, 3)), _labels(kind, rng, 4, 3)
    dlogits = np.empty_like(logits)
    ops.softmax_cross_entropy(dlogits, logits, labels, weights)
    loss = lambda: ops.softmax_cross_entropy(np.empty_like(logits), logits, labels, weights)  # noqa: E731
    np.testing.assert_allclose(dlogits, numerical_gradient(loss, logits), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("op, make_labels", [
    ("sigmoid_binary_cross_entropy", lambda rng: rng.integers(0, 2, (4, 3)).astype(float)),
    ("sigmoid_binary_cross_entropy", lambda rng: rng.uniform(0, 1, (4, 3))),
    ("mean_squared_error", lambda rng: rng.standard_normal((4, 3))),
], ids=["bce-binary", "bce-soft", "mse"])
@pytest.mark.parametrize("weights", WEIGHTS)
def test_elementwise_loss_gradient_matches_finite_differences(op, make_labels, weights):
    rng = np.random.default_rng(8)
    logits, labels = 2 * rng.standard_normal((4, 3)), make_labels(rng)
    loss_op, grad = getattr(ops, op), np.empty((4, 3))
    loss_op(grad, logits, labels, weights)
    loss = lambda: loss_op(np.empty_like(logits), logits, labels, weights)  # noqa: E731
    np.testing.assert_allclose(grad, numerical_gradient(loss, logits), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("op", ["softmax_cross_entropy", "sigmoid_binary_cross_entropy", "mean_squared_error"])
def test_sample_weights_reduce_as_keras_sum_over_batch_size(op):
    """loss = sum_n w_n l_n / N (divided by the batch size, not by the sum of the weights), and the
    gradient row of sample n is w_n times the unweighted one, so a zero weight removes the sample."""
    rng = np.random.default_rng(11)
    logits, labels = 2 * rng.standard_normal((4, 3)), rng.uniform(0, 1, (4, 3))
    if op == "softmax_cross_entropy":
        labels = labels / labels.sum(axis=1, keepdims=True)
    weights = np.array([0.5, 0.0, 2.0, 1.25])
    loss_op = getattr(ops, op)
    per_sample = [loss_op(np.empty((1, 3)), logits[[n]], labels[[n]]) for n in range(4)]  # l_n
    unweighted_grad, weighted_grad = np.empty((4, 3)), np.empty((4, 3))
    loss_op(unweighted_grad, logits, labels)
    loss = loss_op(weighted_grad, logits, labels, weights)
    assert loss == pytest.approx(np.dot(weights, per_sample) / 4, rel=1e-12)
    np.testing.assert_allclose(weighted_grad, weights[:, None] * unweighted_grad, rtol=1e-12)
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(4,\)"):
        loss_op(np.empty((4, 3)), logits, labels, weights[:3])


def test_dropout_backward_matches_finite_differences():
    rng = np.random.default_rng(9)
    x, weights = rng.standard_normal((5, 6)), rng.standard_normal((5, 6))
    y, mask = np.empty_like(x), np.empty(x.shape, dtype=np.uint8)

    def loss():
        ops.dropout_forward(y, mask, x, 0.4, 3, 1, 8)
        return np.sum(weights * y)

    expected = numerical_gradient(loss, x)
    dx = np.empty_like(x)
    ops.dropout_backward(dx, weights, mask, 0.4)
    np.testing.assert_allclose(dx, expected, rtol=1e-6, atol=1e-9)
    assert 0 < mask.sum() < mask.size  # both branches are exercised


# --------------------------------------------------------------------------------------------------
# Golden values and properties

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_rows_sum_to_one(dtype):
    logits = np.array([[1.0, 2.0, 3.0], [1e4, -1e4, 0.0], [-5.0, -5.0, -5.0]], dtype=dtype)
    y = activate(logits, "softmax")
    assert y.dtype == dtype
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(y[2], 1 / 3, rtol=1e-6)


@pytest.mark.parametrize("labels", [np.array([2, 0]), np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])],
                         ids=["class-ids", "one-hot"])
def test_softmax_cross_entropy_hand_case(labels):
    logits = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    dlogits = np.empty_like(logits)
    loss = ops.softmax_cross_entropy(dlogits, logits, labels)
    row0 = math.log(math.e + math.e**2 + math.e**3) - 3.0
    assert isinstance(loss, float)
    assert loss == pytest.approx((row0 + math.log(3.0)) / 2, rel=1e-12)
    total = math.e + math.e**2 + math.e**3
    expected = [[math.e / total, math.e**2 / total, math.e**3 / total - 1], [1 / 3 - 1, 1 / 3, 1 / 3]]
    np.testing.assert_allclose(dlogits, np.array(expected) / 2, rtol=1e-12)


def test_sigmoid_binary_cross_entropy_hand_case():
    logits, labels = np.array([[0.0, 2.0, -1.0]]), np.array([[1.0, 0.0, 1.0]])
    dlogits = np.empty_like(logits)
    loss = ops.sigmoid_binary_cross_entropy(dlogits, logits, labels)
    sigmoid = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    expected_loss = (-math.log(sigmoid(0.0)) - math.log(1 - sigmoid(2.0)) - math.log(sigmoid(-1.0))) / 3
    assert loss == pytest.approx(expected_loss, rel=1e-12)
    np.testing.assert_allclose(dlogits, [[(0.5 - 1) / 3, sigmoid(2.0) / 3, (sigmoid(-1.0) - 1) / 3]], rtol=1e-12)


def test_mean_squared_error_hand_case():
    pred, target = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[0.0, 2.0], [1.0, 1.0]])
    dpred = np.empty_like(pred)
    assert ops.mean_squared_error(dpred, pred, target) == pytest.approx(3.5)  # (1 + 0 + 4 + 9) / 4
    np.testing.assert_allclose(dpred, [[0.5, 0.0], [1.0, 1.5]])  # 2 (p - t) / 4


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_logits_give_finite_losses_and_gradients(dtype):
    """|z| = 1e4 overflows a naive exp in either precision; the fused forms stay exact."""
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        logits, grad = np.array([[1e4, -1e4, 0.0]], dtype=dtype), np.empty((1, 3), dtype=dtype)
        assert ops.softmax_cross_entropy(grad, logits, np.array([1])) == pytest.approx(2e4)
        np.testing.assert_allclose(grad, [[1.0, -1.0, 0.0]])
        bce = ops.sigmoid_binary_cross_entropy(grad, logits, np.array([[0.0, 1.0, 1.0]], dtype=dtype))
        assert bce == pytest.approx((1e4 + 1e4 + math.log(2)) / 3)
        np.testing.assert_allclose(grad, [[1 / 3, -1 / 3, -1 / 6]])
        for activation in ops.ACTIVATIONS:
            y, dx = activate(logits, activation), np.empty_like(logits)
            ops.activation_backward(dx, np.ones_like(logits), derivative_source(activation, logits, y), activation,
                                    ALPHAS.get(activation, 0.2))
            assert np.isfinite(y).all() and np.isfinite(dx).all(), activation
        np.testing.assert_allclose(activate(logits, "sigmoid"), [[1.0, 0.0, 0.5]])
        np.testing.assert_allclose(activate(logits, "softplus"), [[1e4, 0.0, math.log(2)]])
        np.testing.assert_allclose(activate(logits, "elu"), [[1e4, -0.7, 0.0]])


def test_unknown_activation_is_named_in_the_error():
    """Kernels take the table's names only: aliases ("swish") are activations.get's business."""
    x = np.zeros((1, 2))
    for call in (lambda: ops.activation_forward(x, x, "swish", 0.0),
                 lambda: ops.activation_backward(x, x, x, "Relu", 0.0),
                 lambda: ops.dense_forward(x, x, np.zeros((2, 2)), None, "gelu_new", 0.0)):
        with pytest.raises(ValueError, match=r"Unknown activation '(swish|Relu|gelu_new)'"):
            call()


@pytest.mark.parametrize("activation", sorted(FROM_INPUT))
def test_fused_kernels_refuse_activations_whose_derivative_needs_the_input(activation):
    x, W, y = np.zeros((2, 3)), np.zeros((3, 4)), np.zeros((2, 4))
    calls = {"dense_forward": lambda: ops.dense_forward(y, x, W, None, activation, 0.0),
             "dense_backward": lambda: ops.dense_backward(None, None, None, np.empty_like(y), y, x, W, y,
                                                          activation, 0.0)}
    for op, call in calls.items():
        with pytest.raises(ValueError) as caught:
            call()
        assert str(caught.value) == f"{op}: " + FUSED_REFUSAL.format(name=activation)


def test_class_ids_outside_range_are_rejected():
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        ops.softmax_cross_entropy(np.empty((2, 3)), np.zeros((2, 3)), np.array([0, 3]))


# Optimisers: two steps on a two-element parameter, recomputed element by element with Python floats
# straight from the Keras 3 formulas (docs/design.md). G2 has a zero, so AMSGrad's max matters.
P0, GRADS = [0.5, -1.5], ([0.2, -0.4], [0.0, 0.3])


def expected_params(rule, state):
    """Apply the scalar ``rule(p, g, state) -> (p, state)`` to each element over GRADS."""
    params = []
    for i, p in enumerate(P0):
        element_state = state
        for grads in GRADS:
            p, element_state = rule(p, grads[i], element_state)
        params.append(p)
    return params


def run_steps(update, slots, *hyper, adam=False):
    """The reference op applied for each gradient in GRADS; returns the parameter."""
    param = np.array(P0)
    for t, grads in enumerate(GRADS, start=1):
        if adam:  # step (1-based) sits between epsilon and amsgrad in adam_update's signature
            update(param, np.array(grads), *slots, *hyper[:4], t, *hyper[4:])
        else:
            update(param, np.array(grads), *slots, *hyper)
    return param


def decayed(p, wd, lr):
    return p - p * wd * lr if wd else p


@pytest.mark.parametrize("momentum, nesterov, wd", [(0.0, False, None), (0.9, False, None),
                                                    (0.9, True, None), (0.9, False, 0.1)])
def test_sgd_steps(momentum, nesterov, wd):
    lr = 0.1

    def rule(p, g, m):
        p = decayed(p, wd, lr)
        if not momentum:
            return p - lr * g, m
        m = momentum * m - lr * g
        return (p + momentum * m - lr * g if nesterov else p + m), m

    buffer = np.zeros(2) if momentum else None
    param = run_steps(ops.sgd_update, [buffer], lr, momentum, nesterov, wd)
    np.testing.assert_allclose(param, expected_params(rule, 0.0), rtol=1e-14)


def test_sgd_first_step_by_hand():
    """0.5 - 0.1 * 0.2 = 0.48; with weight decay 0.1 first 0.5 - 0.5 * 0.1 * 0.1 = 0.495, then 0.475."""
    for wd, expected in ((None, [0.48, -1.46]), (0.1, [0.475, -1.445])):
        param = np.array(P0)
        ops.sgd_update(param, np.array(GRADS[0]), None, 0.1, 0.0, False, wd)
        np.testing.assert_allclose(param, expected, rtol=1e-14)


@pytest.mark.parametrize("momentum, centered", [(0.0, False), (0.5, False), (0.0, True), (0.5, True)])
def test_rmsprop_steps(momentum, centered):
    lr, rho, eps = 0.01, 0.9, 1e-7

    def rule(p, g, state):
        v, m, a = state
        v = rho * v + (1 - rho) * g * g
        a = rho * a + (1 - rho) * g
        increment = lr * g / math.sqrt(v - a * a + eps if centered else v + eps)
        m = momentum * m + increment
        return p - (m if momentum else increment), (v, m, a)

    slots = [np.zeros(2), np.zeros(2) if momentum else None, np.zeros(2) if centered else None]
    param = run_steps(ops.rmsprop_update, slots, lr, rho, momentum, eps, centered, None)
    np.testing.assert_allclose(param, expected_params(rule, (0.0, 0.0, 0.0)), rtol=1e-13)


def test_adagrad_steps():
    lr, eps = 0.1, 1e-7

    def rule(p, g, acc):
        acc += g * g
        return p - lr * g / math.sqrt(acc + eps), acc

    param = run_steps(ops.adagrad_update, [np.full(2, 0.1)], lr, eps, None)  # Keras' initial 0.1
    np.testing.assert_allclose(param, expected_params(rule, 0.1), rtol=1e-14)


def test_adadelta_steps():
    lr, rho, eps = 1.0, 0.95, 1e-7

    def rule(p, g, state):
        eg, ed = state
        eg = rho * eg + (1 - rho) * g * g
        delta = -math.sqrt(ed + eps) / math.sqrt(eg + eps) * g
        ed = rho * ed + (1 - rho) * delta * delta
        return p + lr * delta, (eg, ed)

    param = run_steps(ops.adadelta_update, [np.zeros(2), np.zeros(2)], lr, rho, eps, 0.05)
    wd_rule = lambda p, g, state: rule(decayed(p, 0.05, lr), g, state)  # noqa: E731
    np.testing.assert_allclose(param, expected_params(wd_rule, (0.0, 0.0)), rtol=1e-13)


@pytest.mark.parametrize("amsgrad, wd", [(False, None), (True, None), (False, 0.1)])
def test_adam_steps(amsgrad, wd):
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7

    def rule(p, g, state):
        m, v, v_hat, t = state
        t += 1
        alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        m += (g - m) * (1 - b1)
        v += (g * g - v) * (1 - b2)
        v_hat = max(v_hat, v)
        return decayed(p, wd, lr) - alpha * m / (math.sqrt(v_hat if amsgrad else v) + eps), (m, v, v_hat, t)

    slots = [np.zeros(2), np.zeros(2), np.zeros(2) if amsgrad else None]
    param = run_steps(ops.adam_update, slots, lr, b1, b2, eps, amsgrad, wd, adam=True)
    np.testing.assert_allclose(param, expected_params(rule, (0.0, 0.0, 0.0, 0)), rtol=1e-13)
    if amsgrad:  # element 0's gradient drops to 0 on step 2, so v falls below its running max
        assert slots[2][0] > slots[1][0]


def test_adam_first_step_moves_by_about_lr():
    """Step 1 with Keras defaults: m = 0.1 g, v = 0.001 g^2, alpha = lr sqrt(0.001) / 0.1, so the
    step is lr * sign(g) shrunk by epsilon: 0.5 - 0.001 * 0.00632456 / (0.00632456 + 1e-7)."""
    param, m, v = np.array([0.5]), np.zeros(1), np.zeros(1)
    ops.adam_update(param, np.array([0.2]), m, v, None, 0.001, 0.9, 0.999, 1e-7, 1, False, None)
    assert param[0] == pytest.approx(0.4990000158111383, abs=1e-15)
    assert (m[0], v[0]) == pytest.approx((0.02, 4e-5))


@pytest.mark.parametrize("wd", [None, 0.1])
def test_lion_steps(wd):
    lr, b1, b2 = 0.01, 0.9, 0.99

    def rule(p, g, m):
        c = b1 * m + (1 - b1) * g  # the sign is taken before the momentum moves
        p = decayed(p, wd, lr) - lr * (1 if c > 0 else -1 if c < 0 else 0)
        return p, b2 * m + (1 - b2) * g

    m = np.zeros(2)
    param = run_steps(ops.lion_update, [m], lr, b1, b2, wd)
    np.testing.assert_allclose(param, expected_params(rule, 0.0), rtol=1e-14)
    np.testing.assert_allclose(m, [0.99 * 0.002, 0.99 * -0.004 + 0.003], rtol=1e-14)


def test_lion_first_step_by_hand():
    """Keras defaults (lr 0.001, beta_1 0.9, beta_2 0.99), g = 0.2 from m = 0: sign(0.02) = 1, so
    0.5 - 0.001 = 0.499 and m = 0.01 * 0.2 = 0.002; with weight decay 0.1 first
    0.5 - 0.5 * 0.1 * 0.001 = 0.49995, then 0.49895. A zero gradient on a zero momentum moves nothing."""
    for wd, expected in ((None, 0.499), (0.1, 0.49895)):
        param, m = np.array([0.5, -1.5]), np.zeros(2)
        ops.lion_update(param, np.array([0.2, 0.0]), m, 0.001, 0.9, 0.99, wd)
        np.testing.assert_allclose(param, [expected, -1.5 * (1 - (wd or 0) * 0.001)], rtol=1e-15)
        np.testing.assert_allclose(m, [0.002, 0.0], rtol=1e-15)


def test_lion_matches_a_numpy_loop_over_many_steps():
    """Twenty steps on 1000 elements, the momentum's sign flipping back and forth, against the
    update written out in NumPy."""
    rng = np.random.default_rng(12)
    param, m = rng.standard_normal(1000), np.zeros(1000)
    expected_param, expected_m = param.copy(), m.copy()
    for _ in range(20):
        g = rng.standard_normal(1000)
        ops.lion_update(param, g, m, 0.05, 0.8, 0.95, 0.02)
        expected_param *= 1 - 0.02 * 0.05
        expected_param -= 0.05 * np.sign(0.8 * expected_m + 0.2 * g)
        expected_m = 0.95 * expected_m + 0.05 * g
    np.testing.assert_allclose(param, expected_param, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(m, expected_m, rtol=1e-12, atol=1e-14)


def test_missing_slots_and_bad_step_are_rejected():
    p, g = np.zeros(2), np.ones(2)
    with pytest.raises(ValueError, match="momentum_buf"):
        ops.sgd_update(p, g, None, 0.1, 0.9, False, None)
    with pytest.raises(ValueError, match="average_grad"):
        ops.rmsprop_update(p, g, np.zeros(2), None, None, 0.1, 0.9, 0.0, 1e-7, True, None)
    with pytest.raises(ValueError, match="v_hat"):
        ops.adam_update(p, g, np.zeros(2), np.zeros(2), None, 0.1, 0.9, 0.999, 1e-7, 1, True, None)
    with pytest.raises(ValueError, match="1-based"):
        ops.adam_update(p, g, np.zeros(2), np.zeros(2), None, 0.1, 0.9, 0.999, 1e-7, 0, False, None)
    with pytest.raises(ValueError, match="m is None"):
        ops.lion_update(p, g, None, 0.1, 0.9, 0.99)


# Dropout masks

def dropout(x, rate, seed=1, layer_id=0, step=0):
    y, mask = np.empty_like(x), np.empty(x.shape, dtype=np.uint8)
    ops.dropout_forward(y, mask, x, rate, seed, layer_id, step)
    return y, mask


def test_dropout_rate_zero_keeps_everything():
    x = np.random.default_rng(10).standard_normal((50, 40))
    y, mask = dropout(x, 0.0)
    assert mask.all()
    np.testing.assert_array_equal(y, x)


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_dropout_keeps_one_minus_rate_and_scales_survivors(rate):
    x = np.ones((100, 1000), dtype=np.float32)
    y, mask = dropout(x, rate, seed=42, layer_id=3, step=5)
    assert abs(mask.mean() - (1 - rate)) < 0.01  # 1e5 draws: the standard error is below 0.0016
    np.testing.assert_allclose(y[mask == 1], 1 / (1 - rate), rtol=1e-6)
    assert not y[mask == 0].any()


def test_dropout_mask_is_deterministic_and_depends_on_every_input():
    x = np.ones((64, 64))
    base = dropout(x, 0.5, seed=1, layer_id=2, step=3)[1]
    np.testing.assert_array_equal(base, dropout(x, 0.5, seed=1, layer_id=2, step=3)[1])
    np.testing.assert_array_equal(base, dropout(x.astype(np.float32), 0.5, seed=1, layer_id=2, step=3)[1])
    np.testing.assert_array_equal(base, dropout(x, 0.5, seed=1 + 2**32, layer_id=2, step=3)[1])  # mod 2^32
    for changed in ({"seed": 2}, {"layer_id": 3}, {"step": 4}, {"step": 3 + 2**32}):
        other = dropout(x, 0.5, **{"seed": 1, "layer_id": 2, "step": 3, **changed})[1]
        assert 0.4 < np.mean(other == base) < 0.6, changed  # independent masks agree about half the time
