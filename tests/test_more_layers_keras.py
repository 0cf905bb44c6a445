"""The layers of issue #19 point 6 against Keras 3.15's recorded outputs (tests/fixtures/layer_keras.npz,
written by tests/fixtures/make_layer_fixtures.py; Keras is not imported here): the same arguments,
the same weights, the same output on every backend; and their configuration's names and values."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from axonal import layers
from backend_cases import available_backends

FIXTURES = Path(__file__).parent / "fixtures"
_spec = importlib.util.spec_from_file_location("make_layer_fixtures", FIXTURES / "make_layer_fixtures.py")
make_layer_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_layer_fixtures)  # its CASES only: Keras is imported inside main()
CASES = make_layer_fixtures.CASES
RECORDED = np.load(FIXTURES / "layer_keras.npz")
BACKENDS = ["numpy", "cpu"]
# Keras config entries axonal has no use for (dtype policies, constraints, masks of other layers).
KERAS_ONLY = {"dtype", "activity_regularizer", "kernel_constraint", "bias_constraint", "embeddings_constraint",
              "quantization_config"}


def _layer(name):
    cls, kwargs, _, _ = CASES[name]
    return getattr(layers, cls)(**kwargs)


def _run(name, backend):
    layer = _layer(name)
    x = RECORDED[f"{name}/x"]
    layer.attach(_ops(backend), 0, 1, layer.steps)
    layer.build((None, *x.shape[1:]))
    weights = [RECORDED[key] for key in sorted(k for k in RECORDED.files if k.startswith(f"{name}/w"))]
    layer.set_weights(weights)
    return layer, layer.forward(x, training=False)


def _ops(backend):
    return importlib.import_module(f"axonal.backend.{'reference' if backend == 'numpy' else backend}")


def test_the_fixture_was_recorded_by_keras_3_15():
    assert str(RECORDED["keras_version"]).startswith("3.15")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", CASES)
def test_the_output_equals_keras(name, backend):
    _, y = _run(name, backend)
    want = RECORDED[f"{name}/y"]
    assert y.shape == want.shape
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", CASES)
def test_the_output_shape_and_config_equal_keras(name):
    layer, y = _run(name, "cpu")
    assert layer.compute_output_shape((None, *RECORDED[f"{name}/x"].shape[1:]))[1:] == y.shape[1:]
    keras_config = json.loads(str(RECORDED[f"{name}/config"]))
    ours = layer.get_config()
    for key, value in keras_config.items():
        if key in KERAS_ONLY or key == "name" or key.endswith("_initializer"):
            continue
        assert key in ours, f"{name}: Keras' config has {key!r}, axonal's does not"
        mine = ours[key]
        assert json.loads(json.dumps(mine)) == value, f"{name}: {key} is {mine!r}, Keras {value!r}"


@pytest.mark.parametrize("name", CASES)
def test_the_config_round_trips(name):
    layer = _layer(name)
    again = type(layer).from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    assert layers.deserialize(layers.serialize(layer)).get_config() == layer.get_config()


def test_the_embedding_initializer_is_keras_uniform():
    layer = layers.Embedding(1000, 8)
    layer.attach(_ops("cpu"), 0, 3, layer.steps)
    layer.build((None, 5))
    assert layer.embeddings.shape == (1000, 8)
    assert -0.05 <= layer.embeddings.min() < -0.04 and 0.04 < layer.embeddings.max() <= 0.05


def test_cuda_is_covered_by_the_op_parity_cases():
    """The layers call ops only; the cuda backend's ops are compared with the reference in
    test_cuda_parity.py (the embedding cases included), so a cuda layer gives these outputs too."""
    from backend_cases import CASES as OP_CASES
    assert any(name.startswith("embedding:") for name in OP_CASES)
    assert all(hasattr(module, "embedding_forward") for module in available_backends())
