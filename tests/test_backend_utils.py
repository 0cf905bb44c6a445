"""Keras' ``keras.backend`` utilities in ``axonal.backend``: the settings, their refusals, the
session reset and the backend name."""
import math

import numpy as np
import pytest

import axonal
from axonal import backend as K
from axonal.layers import Dense
from axonal.models import Sequential


@pytest.fixture(autouse=True)
def _restore_settings():
    yield
    K.set_image_data_format("channels_last")
    K.set_epsilon(1e-7)


def test_defaults_are_keras_defaults():
    assert K.image_data_format() == "channels_last"
    assert K.epsilon() == 1e-7
    assert K.floatx() == "float32"


def test_set_image_data_format_takes_either_layout_in_any_case():
    K.set_image_data_format("channels_first")
    assert K.image_data_format() == "channels_first"
    K.set_image_data_format("CHANNELS_LAST")
    assert K.image_data_format() == "channels_last"


@pytest.mark.parametrize("bad", ["channels", "th", None, 3])
def test_set_image_data_format_refuses_anything_else_and_keeps_the_old_value(bad):
    K.set_image_data_format("channels_first")
    with pytest.raises(ValueError, match=r"set_image_data_format: data_format must be 'channels_last'.*"
                                         r"'channels_first'.*received"):
        K.set_image_data_format(bad)
    assert K.image_data_format() == "channels_first"


def test_set_epsilon_changes_what_epsilon_returns():
    K.set_epsilon(1e-5)
    assert K.epsilon() == 1e-5
    K.set_epsilon(0)
    assert K.epsilon() == 0.0


@pytest.mark.parametrize("bad", [-1e-7, math.inf, math.nan, "1e-7", True])
def test_set_epsilon_refuses_what_is_not_a_finite_non_negative_number(bad):
    with pytest.raises(ValueError, match="set_epsilon expects a finite number >= 0"):
        K.set_epsilon(bad)
    assert K.epsilon() == 1e-7


@pytest.mark.parametrize("value", ["float32", np.float32])
def test_set_floatx_accepts_float32(value):
    K.set_floatx(value)
    assert K.floatx() == "float32"


@pytest.mark.parametrize("value", ["float64", "float16", "bfloat16", np.float64, "int32"])
def test_set_floatx_refuses_every_other_type_clearly(value):
    with pytest.raises(ValueError, match=r"axonal computes in float32 only, received .*Fix: remove the set_floatx"):
        K.set_floatx(value)
    assert K.floatx() == "float32"


def test_backend_names_axonal_so_tensorflow_branches_are_skipped():
    assert K.backend() == "axonal"
    assert K.backend() not in ("tensorflow", "jax", "torch", "numpy")
    assert axonal.backend.backend_name() in ("numpy", "cpu", "cuda")  # the kernels in use stay reachable


def test_clear_session_restarts_layer_and_model_names_as_keras_does():
    K.clear_session()
    first = [Dense(2).name for _ in range(3)]
    assert first == ["dense", "dense_1", "dense_2"]
    assert Sequential().name == "sequential"
    K.clear_session()
    assert Dense(2).name == "dense"
    assert Sequential().name == "sequential"


def test_models_built_before_clear_session_keep_working():
    model = Sequential([axonal.Input(shape=(3,)), Dense(2)])
    K.clear_session(free_memory=False)
    assert model.predict(np.ones((2, 3), np.float32), verbose=0).shape == (2, 2)


def test_clear_session_leaves_the_seeded_stream_so_programs_stay_reproducible():
    """Keras: set_random_seed(1); clear_session(); build() draws the same weights as without the
    clear_session (its new seed generator is seeded from the seeded Python random module)."""
    def weights(clear):
        axonal.set_seed(1)
        if clear:
            K.clear_session()
        return Sequential([axonal.Input(shape=(4,)), Dense(3)]).get_weights()

    for a, b in zip(weights(False), weights(True), strict=True):
        np.testing.assert_array_equal(a, b)
