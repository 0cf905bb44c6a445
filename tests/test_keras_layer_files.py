"""Keras 3.15 `.keras` files with the newer layers (normalisation, Conv1D and 1-D pooling, Embedding,
ZeroPadding2D, UpSampling2D, SpatialDropout2D, Rescaling, the activation layers) load with Keras'
predictions, and axonal writes them back as files that load again the same (made by
tests/fixtures/make_keras_layer_files.py; no Keras here)."""
import warnings
from pathlib import Path

import numpy as np
import pytest

from axonal.models import load_model

FIXTURES = Path(__file__).parent / "fixtures" / "keras_files"
EXPECTED = np.load(FIXTURES / "layers_expected.npz")
NAMES = ["image", "sequence", "embedding", "activations"]


def _predict(model, x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the fast-path note of host layers
        return model.predict(x, verbose=0)


@pytest.mark.parametrize("name", NAMES)
def test_keras_files_of_the_newer_layers_predict_as_keras(name, tmp_path):
    model = load_model(FIXTURES / f"layers_{name}.keras")
    x = EXPECTED[f"x_{name}"]
    np.testing.assert_allclose(_predict(model, x), EXPECTED[f"y_{name}"], atol=1e-6, rtol=1e-6)
    model.save(tmp_path / "again.keras")
    np.testing.assert_array_equal(_predict(load_model(tmp_path / "again.keras"), x), _predict(model, x))


def test_the_batch_norm_statistics_come_from_the_file():
    model = load_model(FIXTURES / "layers_image.keras")
    norm = next(layer for layer in model.layers if type(layer).__name__ == "BatchNormalization")
    assert not np.allclose(norm.get_weights()[2], 0) and not np.allclose(norm.get_weights()[3], 1)
