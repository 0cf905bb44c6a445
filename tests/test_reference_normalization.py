"""The reference normalization ops (backend/reference_normalization.py) against first principles:
float64 central finite differences of every backward op, hand-computed statistics, Keras' moving
average order, and the refusals of bad scalars."""
import numpy as np
import pytest

from axonal.backend import reference as ops
from test_reference_gradients import numerical_gradient

EPSILON = 1e-3


def _bn_train(x, gamma, beta, moving=None):
    m, c = x.shape
    y, mean, inv = np.empty_like(x), np.empty(c), np.empty(c)
    mm, mv = (np.zeros(c), np.ones(c)) if moving is None else moving
    ops.batch_norm_forward(y, mean, inv, mm, mv, x, gamma, beta, 0.9, EPSILON)
    return y, mean, inv


def _ln(x, gamma, beta, rms):
    r = x.shape[0]
    y, mean, inv = np.empty_like(x), np.empty(r), np.empty(r)
    ops.layer_norm_forward(y, mean, inv, x, gamma, beta, EPSILON, rms)
    return y, mean, inv


@pytest.mark.parametrize("with_gamma, with_beta", [(True, True), (False, True), (True, False), (False, False)])
def test_batch_norm_backward_matches_finite_differences(with_gamma, with_beta):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((7, 4)) * 2 + 1
    gamma = rng.uniform(0.5, 2, 4) if with_gamma else None
    beta = rng.standard_normal(4) if with_beta else None
    weights = rng.standard_normal((7, 4))
    loss = lambda: np.sum(weights * _bn_train(x, gamma, beta)[0])  # noqa: E731
    _, mean, inv = _bn_train(x, gamma, beta)
    dx, dgamma, dbeta = np.empty_like(x), np.empty(4), np.empty(4)
    ops.batch_norm_backward(dx, dgamma if with_gamma else None, dbeta if with_beta else None, weights, x, mean, inv,
                            gamma)
    np.testing.assert_allclose(dx, numerical_gradient(loss, x), rtol=1e-6, atol=1e-8)
    if with_gamma:
        np.testing.assert_allclose(dgamma, numerical_gradient(loss, gamma), rtol=1e-6, atol=1e-8)
    if with_beta:
        np.testing.assert_allclose(dbeta, numerical_gradient(loss, beta), rtol=1e-6, atol=1e-8)


def test_batch_norm_inference_backward_matches_finite_differences():
    rng = np.random.default_rng(4)
    x, gamma, beta = rng.standard_normal((5, 3)), rng.uniform(0.5, 2, 3), rng.standard_normal(3)
    mm, mv = rng.standard_normal(3), rng.uniform(0.1, 3, 3)
    weights = rng.standard_normal((5, 3))

    def loss():
        y = np.empty_like(x)
        ops.batch_norm_inference_forward(y, x, mm, mv, gamma, beta, EPSILON)
        return np.sum(weights * y)

    dx = np.empty_like(x)
    ops.batch_norm_inference_backward(dx, weights, mv, gamma, EPSILON)
    np.testing.assert_allclose(dx, numerical_gradient(loss, x), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("rms", [False, True])
@pytest.mark.parametrize("with_gamma, with_beta", [(True, True), (False, False), (True, False)])
def test_layer_norm_backward_matches_finite_differences(rms, with_gamma, with_beta):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 6)) * 1.5 + 0.5
    gamma = rng.uniform(0.5, 2, 6) if with_gamma else None
    beta = rng.standard_normal(6) if with_beta else None
    weights = rng.standard_normal((4, 6))
    loss = lambda: np.sum(weights * _ln(x, gamma, beta, rms)[0])  # noqa: E731
    _, mean, inv = _ln(x, gamma, beta, rms)
    dx, dgamma, dbeta = np.empty_like(x), np.empty(6), np.empty(6)
    ops.layer_norm_backward(dx, dgamma if with_gamma else None, dbeta if with_beta else None, weights, x, mean, inv,
                            gamma, rms)
    np.testing.assert_allclose(dx, numerical_gradient(loss, x), rtol=1e-6, atol=1e-8)
    if with_gamma:
        np.testing.assert_allclose(dgamma, numerical_gradient(loss, gamma), rtol=1e-6, atol=1e-8)
    if with_beta:
        np.testing.assert_allclose(dbeta, numerical_gradient(loss, beta), rtol=1e-6, atol=1e-8)


def test_batch_norm_statistics_and_moving_update_by_hand():
    x = np.array([[1.0, 10.0], [2.0, 10.0], [6.0, 10.0]])
    mm, mv = np.array([0.5, 0.0]), np.array([1.0, 2.0])
    y, mean, inv = _bn_train(x, np.array([2.0, 1.0]), np.array([0.0, 3.0]), (mm, mv))
    np.testing.assert_allclose(mean, [3.0, 10.0])
    variance = np.array([(4 + 1 + 9) / 3, 0.0])  # biased
    np.testing.assert_allclose(inv, 1 / np.sqrt(variance + EPSILON))
    np.testing.assert_allclose(mm, [0.5 * 0.9 + 3.0 * 0.1, 10.0 * 0.1])  # moving·momentum + batch·(1 − momentum)
    np.testing.assert_allclose(mv, [0.9 + variance[0] * 0.1, 2.0 * 0.9])
    np.testing.assert_allclose(y[:, 0], 2 * (x[:, 0] - 3) / np.sqrt(variance[0] + EPSILON))
    np.testing.assert_allclose(y[:, 1], 3.0)  # a constant column becomes beta


def test_layer_norm_rms_scaling_is_keras_deprecated_form():
    x = np.array([[1.0, 2.0, 6.0]])
    y, mean, inv = _ln(x, np.array([1.0, 2.0, 1.0]), None, True)
    np.testing.assert_allclose(mean, [3.0])
    np.testing.assert_allclose(y[0], x[0] * [1, 2, 1] / np.sqrt(14 / 3 + EPSILON))  # no centring


def test_empty_batch_changes_nothing():
    x = np.zeros((0, 3))
    mean, inv, mm, mv = np.full(3, 7.0), np.full(3, 7.0), np.zeros(3), np.ones(3)
    ops.batch_norm_forward(np.zeros((0, 3)), mean, inv, mm, mv, x, None, None, 0.99, EPSILON)
    assert (mean == 7).all() and (mm == 0).all() and (mv == 1).all()


@pytest.mark.parametrize("momentum, epsilon, word", [(1.5, 1e-3, "momentum"), (-0.1, 1e-3, "momentum"),
                                                     (0.9, 0.0, "epsilon"), (0.9, float("nan"), "epsilon")])
def test_bad_momentum_or_epsilon_is_refused(momentum, epsilon, word):
    x = np.ones((2, 3))
    with pytest.raises(ValueError, match=f"batch_norm_forward: {word}"):
        ops.batch_norm_forward(np.empty_like(x), np.empty(3), np.empty(3), np.zeros(3), np.ones(3), x, None, None,
                               momentum, epsilon)
