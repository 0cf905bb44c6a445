"""Parity with Keras 3.15 on five functional models (tests/keras_parity_models.py, the same program
for both frameworks): from Keras' initial weights, axonal's predictions, the weights after one SGD
step and after one Adam step, and ``summary()``'s parameter counts equal the numbers Keras recorded
(tests/fixtures/make_keras_fixtures.py). Keras is not needed here.
"""
import os

import numpy as np
import pytest

import axonal
from keras_parity_models import BUILDERS, OPTIMIZERS, weights_by_layer

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "keras_parity.npz")


@pytest.fixture(scope="module")
def recorded():
    with np.load(FIXTURE) as arrays:
        return {key: arrays[key] for key in arrays.files}


def _part(recorded, prefix: str) -> dict:
    return {key[len(prefix):]: value for key, value in recorded.items() if key.startswith(prefix)}


def _listed(part: dict) -> list:
    return [part[str(i)] for i in range(len(part))]


def _model_from_keras(name: str, recorded):
    """The axonal model, with Keras' initial weights (matched by layer name and order)."""
    model, loss, loss_weights, _ = BUILDERS[name](axonal)
    initial = _part(recorded, f"{name}/initial/")
    assert initial.keys() == weights_by_layer(model).keys()
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([initial[f"{layer.name}/{i}"] for i in range(len(layer.weights))])
    return model, loss, loss_weights


@pytest.mark.parametrize("backend", ["cpu", "numpy"])
@pytest.mark.parametrize("name", BUILDERS)
def test_predictions_and_parameter_counts_equal_keras(name, backend, recorded):
    axonal.set_backend(backend)
    try:
        model, _, _ = _model_from_keras(name, recorded)
        x = _listed(_part(recorded, f"{name}/x/"))
        predictions = model.predict(x if len(x) > 1 else x[0], verbose=0)
        expected = _listed(_part(recorded, f"{name}/predictions/"))
        for ours, theirs in zip(predictions if isinstance(predictions, list) else [predictions], expected, strict=True):
            np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
        counts = recorded[f"{name}/params"]
        assert model.count_params() == counts[0] == counts[1]
        assert [layer.count_params() for layer in model.layers] == list(counts[2:])
        lines = []
        model.summary(print_fn=lines.append)
        assert f"Total params: {counts[0]:,}" in lines[0]
    finally:
        axonal.set_backend("cpu")


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("name", BUILDERS)
def test_one_training_step_equals_keras(name, optimizer, recorded):
    model, loss, loss_weights = _model_from_keras(name, recorded)
    optimizer_class = {"sgd": axonal.optimizers.SGD, "adam": axonal.optimizers.Adam}[optimizer]
    model.compile(optimizer=optimizer_class(**OPTIMIZERS[optimizer]), loss=loss, loss_weights=loss_weights)
    x, y = _listed(_part(recorded, f"{name}/x/")), _listed(_part(recorded, f"{name}/y/"))
    loss_value = model.train_on_batch(x if len(x) > 1 else x[0], y if len(y) > 1 else y[0])
    loss_value = loss_value[0] if isinstance(loss_value, list) else loss_value  # [total, per output...]
    assert loss_value == pytest.approx(float(recorded[f"{name}/{optimizer}/loss"]), rel=1e-5)
    after = _part(recorded, f"{name}/{optimizer}/")
    for key, ours in weights_by_layer(model).items():
        np.testing.assert_allclose(ours, after[key], rtol=1e-5, atol=2e-6, err_msg=f"{name} {optimizer} {key}")
