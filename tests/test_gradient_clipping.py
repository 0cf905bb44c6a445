"""Gradient clipping (clipnorm, global_clipnorm, clipvalue) and Keras 2's decay on every optimiser.

The model is tests/test_optimizer_trajectories.py's: Input(1) -> Dense(1) from w = 0.5, b = 1.5 on
x = (1, 2), t = (4, 7), mse, one batch per step; its first gradients are g_w = -11, g_b = -6.5. The
expected weights after each of three steps are Keras 3.15.1's (JAX backend), recorded by hand once:
clipnorm=1 clips each gradient to norm 1, so SGD(0.01) moves w and b by exactly 0.01 a step;
global_clipnorm=1 scales both by 1/|(g_w, g_b)|; clipvalue=2 clamps both to 2.
"""
import warnings

import numpy as np
import pytest

from axonal import optimizers
from axonal.layers import Dense, Input
from axonal.models import Sequential, load_model

X, T = np.array([[1.0], [2.0]], np.float32), np.array([[4.0], [7.0]], np.float32)

KERAS = {  # optimiser -> (w, b) after steps 1..3, from Keras 3.15.1
    "clipnorm": (lambda: optimizers.SGD(0.01, clipnorm=1.0),
                 [(0.5099999904632568, 1.5099999904632568), (0.5199999809265137, 1.5199999809265137),
                  (0.5299999713897705, 1.5299999713897705)]),
    "global_clipnorm": (lambda: optimizers.SGD(0.01, global_clipnorm=1.0),
                        [(0.5086092352867126, 1.5050872564315796), (0.5172190070152283, 1.5101736783981323),
                         (0.5258293151855469, 1.5152591466903687)]),
    "clipvalue": (lambda: optimizers.SGD(0.01, clipvalue=2.0),
                  [(0.5199999809265137, 1.5199999809265137), (0.5399999618530273, 1.5399999618530273),
                   (0.559999942779541, 1.559999942779541)]),
}


def _model(optimizer):
    model = Sequential([Input(shape=(1,)), Dense(1)])
    model.set_weights([np.array([[0.5]], np.float32), np.array([1.5], np.float32)])
    model.compile(optimizer=optimizer, loss="mse")
    return model


def _trajectory(model, steps=3):
    points = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the fast-path note, checked in test_fast_path.py
        for _ in range(steps):
            model.fit(X, T, batch_size=2, epochs=1, shuffle=False, verbose=0)
            points.append((float(model.get_weights()[0][0, 0]), float(model.get_weights()[1][0])))
    return points


@pytest.mark.parametrize("name", KERAS)
def test_clipping_follows_keras(backend, name):
    make, expected = KERAS[name]
    assert _trajectory(_model(make())) == [pytest.approx(point, rel=2e-7) for point in expected]


def test_keras2_decay_lowers_the_rate_each_step_as_keras2_did():
    with pytest.warns(DeprecationWarning, match="lr / \\(1 \\+ decay"):
        optimizer = optimizers.SGD(0.01, decay=0.5)
    w, b, expected = 0.5, 1.5, []
    for step in range(1, 4):  # SGD by hand, the rate lr / (1 + decay·(step − 1))
        r = (1 * w + b - 4, 2 * w + b - 7)
        rate = 0.01 / (1 + 0.5 * (step - 1))
        w, b = w - rate * (r[0] + 2 * r[1]), b - rate * (r[0] + r[1])
        expected.append((w, b))
    assert _trajectory(_model(optimizer)) == [pytest.approx(point, rel=1e-6) for point in expected]


@pytest.mark.parametrize("arguments, message", [
    (dict(clipnorm=1.0, clipvalue=1.0), "only one of clipnorm, clipvalue and global_clipnorm"),
    (dict(clipnorm=-1.0), "clipnorm must be a non-negative number"),
    (dict(global_clipnorm="1"), "global_clipnorm must be"),
    (dict(decay=float("nan")), "decay must be"),
])
def test_bad_settings_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        optimizers.Adam(**arguments)


def test_an_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError, match="unexpected keyword arguments \\['clip_norm'\\]"):
        optimizers.RMSprop(clip_norm=1.0)


@pytest.mark.parametrize("suffix", ["axonal", "keras"])
def test_clipping_survives_get_config_and_saving(tmp_path, suffix):
    optimizer = optimizers.Adamax(0.01, global_clipnorm=2.5)
    assert optimizers.Adamax.from_config(optimizer.get_config()).global_clipnorm == 2.5
    model = _model(optimizer)
    _trajectory(model, steps=1)
    model.save(tmp_path / f"m.{suffix}")
    loaded = load_model(tmp_path / f"m.{suffix}")
    assert (loaded.optimizer.global_clipnorm, loaded.optimizer.clipnorm) == (2.5, None)
    assert _trajectory(loaded, steps=2) == _trajectory(model, steps=2)


def test_a_decay_cannot_be_written_for_keras3(tmp_path):
    with pytest.warns(DeprecationWarning):
        model = _model(optimizers.SGD(0.01, decay=1e-3))
    with pytest.raises(ValueError, match="Keras 3, which dropped Keras 2's decay"):
        model.save(tmp_path / "m.keras")
    assert not (tmp_path / "m.keras").exists()
