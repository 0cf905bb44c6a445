"""NaN/inf mid-training: compile(check_numerics=True) names the first layer where it appeared and
keeps the last good step; TerminateOnNaN stops at the batch whose loss went bad; ModelCheckpoint
does not overwrite a good checkpoint with a diverged model."""
import numpy as np
import pytest

import axonal
from axonal.callbacks import ModelCheckpoint, TerminateOnNaN
from axonal.layers import Dense, Dropout, Input, Layer
from axonal.models import Sequential, load_model
from axonal.models.numerics import NonFiniteError
from axonal.optimizers import SGD


def data(samples=64, features=20):
    rng = np.random.default_rng(0)
    return (rng.normal(size=(samples, features)).astype(np.float32),
            rng.normal(size=(samples, 1)).astype(np.float32))


def mlp(learning_rate=0.01, check_numerics=True, middle=()):
    axonal.set_seed(5)
    model = Sequential([Input(shape=(20,)), Dense(16, activation="relu"), *middle, Dense(16, activation="relu"),
                        Dense(1)])
    model.compile(optimizer=SGD(learning_rate), loss="mse", check_numerics=check_numerics)
    return model


def fit_expecting_error(model, x, y, **kwargs):
    before = model.get_weights()
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError) as caught:  # numpy warns on overflow
        model.fit(x, y, batch_size=8, verbose=0, shuffle=False, **kwargs)
    return caught.value, before


def test_a_huge_learning_rate_is_caught_where_the_forward_pass_overflows(backend):
    x, y = data()
    model = mlp(learning_rate=1e30)
    error, _ = fit_expecting_error(model, x, y, epochs=2)
    # Step 1 multiplies the weights by ~1e30 (still finite); step 2's second Dense overflows.
    name = model.layers[1].name
    assert isinstance(error, NonFiniteError) and (error.layer, error.stage, error.step) == (name, "forward", 1)
    message = str(error)
    assert message.startswith("Epoch 1, batch 1: check_numerics: NaN/inf first appeared at training step 2")
    assert f"the output of layer {name!r} (Dense, layer 2 of 3) is non-finite" in message
    assert "overflowed float32" in message and "lower the learning rate" in message
    # The failing step was not applied: one completed step, all weights still finite.
    assert model.steps.value == model.optimizer.iterations == 1
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_injected_inf_weights_are_named_and_nothing_is_updated(backend):
    x, y = data()
    model = mlp()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.layers[1].kernel[3, 4] = np.inf  # a corrupted weight, as a bad file or a bug would leave it
    error, before = fit_expecting_error(model, x, y, epochs=1)
    assert (error.layer, error.stage) == (model.layers[1].name, "forward")
    assert "its weights kernel already hold NaN/inf" in str(error)
    after = model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after)) and model.steps.value == 8


def test_a_layer_whose_backward_pass_makes_nan_is_named(backend):
    class Poison(Layer):
        """The identity forward; its gradient is NaN from the third step on."""

        def forward(self, x, training):
            return x

        def backward(self, dy):
            dx = self.buffers.get("dx", dy.shape)
            np.multiply(dy, np.nan if self.steps.value >= 2 else 1.0, out=dx)
            return dx

    x, y = data()
    model = mlp(middle=(Poison(name="poison"),))
    error, before = fit_expecting_error(model, x, y, epochs=1)
    assert (error.layer, error.stage, error.step) == ("poison", "backward", 2)
    assert "the input gradient of layer 'poison' (Poison, layer 2 of 4)" in str(error)
    assert model.steps.value == 2


def test_an_update_that_overflows_is_undone(backend):
    x, y = data()
    model = mlp(learning_rate=1e38)  # finite, but lr·g overflows float32 at the first step
    error, before = fit_expecting_error(model, x, 1000 * y, epochs=1)
    assert error.stage == "update" and error.step == 0
    assert "The update was undone" in str(error) and "SGD update (learning_rate=1e+38)" in str(error)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert model.steps.value == model.optimizer.iterations == 0


def test_checking_changes_no_number_and_is_off_by_default(backend, monkeypatch):
    x, y = data()
    checked, plain = mlp(middle=(Dropout(0.3),)), mlp(check_numerics=None, middle=(Dropout(0.3),))
    assert checked.check_numerics and not plain.check_numerics
    for model in (checked, plain):
        model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(checked.get_weights(), plain.get_weights()))
    monkeypatch.setenv("AXONAL_CHECK_NUMERICS", "1")
    assert mlp(check_numerics=None).check_numerics and not mlp(check_numerics=False).check_numerics
    monkeypatch.setenv("AXONAL_CHECK_NUMERICS", "maybe")
    with pytest.raises(ValueError, match="AXONAL_CHECK_NUMERICS='maybe' is not understood"):
        mlp(check_numerics=None)


def diverging_model():
    axonal.set_seed(0)
    model = Sequential([Input(shape=(4,)), Dense(1)])
    model.compile(optimizer=SGD(30.0), loss="mse")
    x = np.random.default_rng(1).normal(10.0, 3.0, size=(160, 4)).astype(np.float32)
    return model, x, 10 * x[:, :1]


def test_terminate_on_nan_stops_at_the_batch_whose_loss_went_bad(backend, capsys):
    # The batch losses of the same run, one train_on_batch at a time: the first non-finite one
    # is where TerminateOnNaN must stop.
    replay, x, y = diverging_model()
    with np.errstate(all="ignore"):
        losses = [replay.train_on_batch(x[i:i + 8], y[i:i + 8]) for i in range(0, 160, 8)]
    bad = int(np.flatnonzero(~np.isfinite(losses))[0])
    assert 0 < bad < 19
    model, x, y = diverging_model()
    callback = TerminateOnNaN()
    with np.errstate(all="ignore"):
        history = model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0, callbacks=[callback])
    assert (callback.stopped_epoch, callback.stopped_batch) == (0, bad)
    assert model.steps.value == bad + 1 and len(history.history["loss"]) == 1
    out = capsys.readouterr().out
    assert f"Batch {bad}: Invalid loss, terminating training (epoch 1, batch {bad}: loss " in out


def test_model_checkpoint_keeps_the_last_good_file_when_the_loss_is_nan(tmp_path):
    model, x, y = diverging_model()
    path = tmp_path / "last.axonal"
    checkpoint = ModelCheckpoint(path)
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0, {"loss": 1.5})
    good = path.read_bytes()
    with pytest.warns(UserWarning, match="not saving epoch 2: its loss is nan"):
        checkpoint.on_epoch_end(1, {"loss": float("nan")})
    assert path.read_bytes() == good and load_model(path).steps.value == 0
