"""Layers with activations whose derivative needs the pre-activation (GELU, SiLU, Mish): Dense and
Conv2D apply them after their fused kernel, the Activation layer keeps its input. Their weight
gradients are checked against finite differences of the loss on the numpy reference (a gradient
taken from the output instead of the input would be wrong by far more than the tolerance), and
Keras' names resolve."""
import numpy as np
import pytest

import axonal
from axonal import activations
from axonal.layers import Activation, Conv2D, Dense, Flatten, Input
from axonal.models import Sequential
from model_checks import check_step_against_finite_differences

FROM_INPUT = sorted(activations.FROM_INPUT)


@pytest.fixture
def reference_backend():
    axonal.set_backend("numpy")
    yield
    axonal.set_backend("cpu")


@pytest.mark.parametrize("activation", FROM_INPUT)
@pytest.mark.parametrize("where", ["dense", "activation layer", "conv2d"])
def test_gradients_through_activations_of_the_input(activation, where, reference_backend):
    axonal.set_seed(4)
    rng = np.random.default_rng(5)
    if where == "conv2d":
        model = Sequential([Input(shape=(4, 4, 2)), Conv2D(3, 3, activation=activation), Flatten(), Dense(2)])
        x = rng.normal(size=(6, 4, 4, 2)).astype(np.float32)
    else:
        body = ([Dense(5, activation=activation)] if where == "dense" else [Dense(5), Activation(activation)])
        model = Sequential([Input(shape=(3,)), *body, Dense(2)])
        x = rng.normal(size=(6, 3)).astype(np.float32)
    model.compile(optimizer=axonal.optimizers.SGD(learning_rate=1.0), loss="mse")
    y = rng.normal(size=(6, 2)).astype(np.float32)
    check_step_against_finite_differences(model, x, y, model.layers[0].kernel)


def test_keras_names_of_the_new_activations():
    assert activations.get("swish") == "silu"
    for name in ("gelu", "silu", "softsign", "mish"):
        assert Dense(2, activation=name).activation == name
    x = np.linspace(-3, 3, 7, dtype=np.float32)
    np.testing.assert_allclose(activations.silu(x), x / (1 + np.exp(-x)), rtol=1e-6)
    np.testing.assert_allclose(activations.softsign(x), x / (1 + np.abs(x)), rtol=1e-6)
