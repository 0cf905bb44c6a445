"""Hand-computed training steps through the public API, on every available backend."""
import numpy as np
import pytest

from axonal.layers import Dense, Input
from axonal.models import Sequential
from axonal.optimizers import SGD, Adam

pytestmark = pytest.mark.usefixtures("backend")


def test_worked_backpropagation_example():
    """The classic two-input, two-hidden, two-output logistic network (one sample, η = 0.5).

    Its squared error Σ½(t−o)² over two outputs equals the mean over outputs of (t−o)², so
    loss='mse' reproduces the worked numbers exactly; biases are trained too, which changes only
    the loss after the step.
    """
    model = Sequential([Input(shape=(2,)), Dense(2, activation="sigmoid"), Dense(2, activation="sigmoid")])
    model.set_weights([
        np.array([[0.15, 0.25], [0.20, 0.30]]), np.array([0.35, 0.35]),  # kernel[i, j]: input i -> h_j
        np.array([[0.40, 0.50], [0.45, 0.55]]), np.array([0.60, 0.60]),  # kernel[i, j]: h_i -> o_j
    ])
    model.compile(optimizer=SGD(learning_rate=0.5), loss="mse")
    x, target = np.array([[0.05, 0.10]]), np.array([[0.01, 0.99]])

    assert model.evaluate(x, target, batch_size=1, verbose=0) == pytest.approx(0.298371109, abs=1e-7)
    model.fit(x, target, batch_size=1, epochs=1, shuffle=False, verbose=0)

    hidden_kernel, _, output_kernel, _ = model.get_weights()
    np.testing.assert_allclose(output_kernel[:, 0], [0.35891648, 0.40866619], atol=1e-7)  # w5, w6
    np.testing.assert_allclose(output_kernel[:, 1], [0.51130127, 0.56137012], atol=1e-7)  # w7, w8
    assert hidden_kernel[0, 0] == pytest.approx(0.14978072, abs=1e-7)  # w1
    assert model.evaluate(x, target, batch_size=1, verbose=0) == pytest.approx(0.28047145, abs=1e-7)


def test_two_by_two_dense_step():
    """z = x W + b for x = [[1, 2], [3, 4]], W = [[0.5, -1], [1, 0.5]], b = [0.1, -0.2]:
    z = [[2.6, -0.2], [5.6, -1.2]]; against t = I the errors are [[1.6, -0.2], [5.6, -2.2]],
    so MSE = (2.56 + 0.04 + 31.36 + 4.84) / 4 = 9.7 and dz = 2 (z − t) / 4 = [[0.8, -0.1], [2.8, -1.1]].
    dW = xᵀ dz = [[9.2, -3.4], [12.8, -4.6]], db = [3.6, -1.2]; SGD with lr 0.01 subtracts 0.01 of each.
    """
    model = Sequential([Input(shape=(2,)), Dense(2)])
    model.set_weights([np.array([[0.5, -1.0], [1.0, 0.5]]), np.array([0.1, -0.2])])
    model.compile(optimizer=SGD(learning_rate=0.01), loss="mse")
    history = model.fit(np.array([[1.0, 2.0], [3.0, 4.0]]), np.eye(2), batch_size=2, shuffle=False, verbose=0)

    assert history.history["loss"] == [pytest.approx(9.7, rel=1e-6)]
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(kernel, [[0.408, -0.966], [0.872, 0.546]], rtol=1e-6)
    np.testing.assert_allclose(bias, [0.064, -0.188], rtol=1e-6)


def test_two_adam_steps():
    """One weight w = 1, input 2, target 0, MSE: loss (2w)², gradient g = 8w.

    Step 1: g = 8, m = 0.1·8 = 0.8, v = 0.001·64 = 0.064, α = 0.1·√(1−0.999)/(1−0.9) = 0.0316227766,
            w = 1 − α·0.8/(√0.064 + 1e-7) = 0.90000004.
    Step 2: g = 7.2000003, m = 0.9·0.8 + 0.1·g = 1.44, v = 0.999·0.064 + 0.001·g² = 0.115776,
            α = 0.1·√(1−0.999²)/(1−0.9²) = 0.0235316725, w = 0.90000004 − α·m/(√v + 1e-7) = 0.80041230.
    """
    model = Sequential([Input(shape=(1,)), Dense(1, use_bias=False)])
    model.set_weights([np.array([[1.0]])])
    model.compile(optimizer=Adam(learning_rate=0.1), loss="mse")
    x, target = np.array([[2.0]]), np.array([[0.0]])

    model.fit(x, target, verbose=0)
    assert model.get_weights()[0][0, 0] == pytest.approx(0.90000004, abs=1e-7)
    model.fit(x, target, verbose=0)
    assert model.get_weights()[0][0, 0] == pytest.approx(0.80041230, abs=2e-7)
    # Catches a kernel that forms 1 − β₂ in single precision (that lands ~1e-5 relative off in v).
    slots = model.optimizer.slots[0]
    assert slots["momentum"][0, 0] == pytest.approx(1.44, rel=1e-6)
    assert slots["velocity"][0, 0] == pytest.approx(0.115776, rel=1e-6)
    assert model.optimizer.iterations == 2
