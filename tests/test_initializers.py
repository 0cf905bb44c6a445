"""Every Keras initialiser by name and by object: its distribution, its seed, its config."""
import math

import numpy as np
import pytest

from axonal import initializers
from axonal.layers import Dense

SHAPE = (400, 300)  # fan_in 400, fan_out 300


@pytest.mark.parametrize("name, cls, bound", [
    ("glorot_uniform", initializers.GlorotUniform, math.sqrt(6 / 700)),
    ("he_uniform", initializers.HeUniform, math.sqrt(6 / 400)),
    ("lecun_uniform", initializers.LecunUniform, math.sqrt(3 / 400)),
    ("uniform", initializers.RandomUniform, 0.05),  # Keras' alias: ±0.05
    ("random_uniform", initializers.RandomUniform, 0.05),
])
def test_uniform_initializers(name, cls, bound):
    initializer = initializers.get(name)
    values = initializer(SHAPE, rng=np.random.default_rng(0))
    assert isinstance(initializer, cls) and values.dtype == np.float32 and values.shape == SHAPE
    assert np.abs(values).max() <= bound and np.abs(values).max() > 0.99 * bound
    assert values.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)


@pytest.mark.parametrize("name, cls, stddev, truncated", [
    ("glorot_normal", initializers.GlorotNormal, math.sqrt(2 / 700), True),
    ("he_normal", initializers.HeNormal, math.sqrt(2 / 400), True),
    ("lecun_normal", initializers.LecunNormal, math.sqrt(1 / 400), True),
    ("normal", initializers.RandomNormal, 0.05, False),
    ("random_normal", initializers.RandomNormal, 0.05, False),
    ("truncated_normal", initializers.TruncatedNormal, 0.05 * 0.8796, True),  # no rescaling, as Keras
])
def test_normal_initializers(name, cls, stddev, truncated):
    initializer = initializers.get(name)
    values = initializer(SHAPE, rng=np.random.default_rng(1))
    assert isinstance(initializer, cls)
    assert values.std() == pytest.approx(stddev, rel=0.02) and abs(values.mean()) < 0.02 * stddev
    # A truncated normal has nothing beyond two standard deviations of its underlying normal,
    # whose standard deviation is std / 0.8796.
    limit = np.abs(values).max() / values.std()
    assert (limit < 2.0 / 0.8796 * 1.01) if truncated else (limit > 3.5)


@pytest.mark.parametrize("name, value", [("zeros", 0.0), ("zero", 0.0), ("ones", 1.0), ("one", 1.0)])
def test_constant_initializers(name, value):
    np.testing.assert_array_equal(initializers.get(name)((2, 3)), np.full((2, 3), value, np.float32))
    np.testing.assert_array_equal(initializers.Constant(0.3)((2,)), np.float32([0.3, 0.3]))


@pytest.mark.parametrize("cls", [initializers.GlorotUniform, initializers.GlorotNormal, initializers.HeUniform,
                                 initializers.HeNormal, initializers.LecunUniform, initializers.LecunNormal,
                                 initializers.RandomUniform, initializers.RandomNormal,
                                 initializers.TruncatedNormal])
def test_seeded_initializers_repeat_and_round_trip(cls):
    seeded = cls(seed=7)
    first = seeded((20, 10), rng=np.random.default_rng(1))
    np.testing.assert_array_equal(first, seeded((20, 10), rng=np.random.default_rng(2)))  # the seed wins
    assert not np.array_equal(first, cls(seed=8)((20, 10)))
    restored = initializers.get(initializers.serialize(seeded))
    assert type(restored) is cls and restored.get_config() == seeded.get_config()
    np.testing.assert_array_equal(restored((20, 10)), first)


def test_truncated_normal_keeps_its_mean_and_config():
    initializer = initializers.TruncatedNormal(mean=1.0, stddev=0.1, seed=3)
    values = initializer((1000,))
    assert values.min() >= 0.8 and values.max() <= 1.2 and values.mean() == pytest.approx(1.0, abs=0.01)
    assert initializer.get_config() == {"mean": 1.0, "stddev": 0.1, "seed": 3}


def test_layers_take_initializers_by_name_and_object():
    layer = Dense(5, kernel_initializer="he_normal", bias_initializer=initializers.Constant(0.5))
    layer(np.ones((2, 3), np.float32))  # builds the weights
    kernel, bias = layer.get_weights()
    assert isinstance(layer.kernel_initializer, initializers.HeNormal) and kernel.shape == (3, 5)
    np.testing.assert_array_equal(bias, np.full(5, 0.5, np.float32))
    with pytest.raises(ValueError, match="Unknown initializer 'he_unifrom'.*Did you mean 'he_uniform'"):
        Dense(5, kernel_initializer="he_unifrom")
