"""The rest of Keras' model API: freezing layers without recompiling (transfer learning), pop,
train/test/predict_on_batch, sample and class weights, initial_epoch, evaluate(return_dict)."""
import numpy as np
import pytest

import axonal
from axonal.callbacks import Callback
from axonal.layers import Conv2D, Dense, Input
from axonal.models import Sequential
from axonal.optimizers import SGD
from axonal.utils import to_categorical

pytestmark = pytest.mark.usefixtures("backend")


def blobs(samples=240, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, samples)
    x = rng.normal(0, 0.5, (samples, 6)).astype(np.float32)
    x[np.arange(samples), labels] += 2.0
    return x, labels


def mlp(classes=3):
    axonal.set_seed(4)
    model = Sequential([Input(shape=(6,)), Dense(16, activation="relu"), Dense(16, activation="relu"),
                        Dense(classes, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_sparse_categorical_crossentropy_trains():
    x, labels = blobs()
    model = mlp()
    history = model.fit(x, labels, epochs=15, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert model.evaluate(x, labels, verbose=0)[1] > 0.9


def test_transfer_learning_freezes_and_unfreezes_without_recompiling():
    x, labels = blobs()
    model = mlp()
    model.fit(x, labels, epochs=2, verbose=0)
    for layer in model.layers[:-1]:
        layer.trainable = False
    base = [w.copy() for w in model.weights[:4]]
    head = [w.copy() for w in model.weights[4:]]
    slots = [s.copy() for s in model.optimizer.variables]
    model.fit(x, labels, epochs=2, verbose=0)  # no compile() in between
    for before, after in zip(base, model.weights[:4]):
        np.testing.assert_array_equal(before, after)  # frozen: bit for bit
    assert all(not np.array_equal(before, after) for before, after in zip(head, model.weights[4:]))
    assert len(model.optimizer.variables) == len(slots)  # the frozen weights keep their Adam slots...
    np.testing.assert_array_equal(model.optimizer.slots[0]["momentum"], slots[0])  # ...untouched
    for layer in model.layers:
        layer.trainable = True
    model.fit(x, labels, epochs=1, verbose=0)
    assert all(not np.array_equal(before, after) for before, after in zip(base, model.weights[:4]))


def test_freezing_takes_effect_at_the_next_step():
    x, labels = blobs()
    model = mlp()

    class FreezeFirstLayer(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 0:
                self.model.layers[0].trainable = False
                self.kernel = self.model.layers[0].get_weights()[0]

    freeze = FreezeFirstLayer()
    model.fit(x, labels, epochs=1, batch_size=32, verbose=0, callbacks=[freeze])
    np.testing.assert_array_equal(model.layers[0].get_weights()[0], freeze.kernel)


def test_model_trainable_freezes_every_layer():
    x, labels = blobs()
    model = mlp()
    model.trainable = False
    before = model.get_weights()
    loss = model.train_on_batch(x, labels)[0]
    assert not model.trainable and np.isfinite(loss)
    for expected, actual in zip(before, model.get_weights()):
        np.testing.assert_array_equal(expected, actual)
    assert model.trainable_weights == [] and len(model.non_trainable_weights) == 6


def test_pop_and_a_new_head_train_on_a_new_task():
    x, labels = blobs()
    model = mlp()
    model.fit(x, labels, epochs=1, verbose=0)
    old_head = model.pop()
    assert old_head.activation_in_loss is False and len(model.layers) == 2
    for layer in model.layers:
        layer.trainable = False
    model.add(Dense(2, activation="softmax"))
    model.optimizer.learning_rate = 0.01
    binary = (labels == 0).astype(np.int64)
    history = model.fit(x, binary, epochs=25, verbose=0)
    assert history.history["accuracy"][-1] > 0.9
    # The popped head's slots were dropped; the frozen base keeps its own (2 Adam slots each).
    assert len(model.optimizer.slots) == len(model.weights) and model.output_shape == (None, 2)
    with pytest.raises(TypeError, match="no layers to pop"):
        Sequential().pop()


def test_predict_after_pop_returns_what_the_remaining_layers_compute():
    """pop() rebuilds the plan; predict then returns the new last layer's output even while the
    compiled loss no longer fits the model (fit says so), as Keras' predict does."""
    x, labels = blobs()
    model = mlp()
    model.fit(x, labels, epochs=1, verbose=0)
    model.predict(x, verbose=0)  # an inference loop for the old plan exists now
    model.pop()
    hidden = model.layers[-1]
    expected = model.predict(x, batch_size=len(x), verbose=0)  # one batch, as model(x) runs
    assert expected.shape == (len(x), hidden.units)
    np.testing.assert_array_equal(model(x), expected)
    np.testing.assert_array_equal(model.predict_on_batch(x), expected)
    with pytest.raises(ValueError, match="to end in a softmax activation"):
        model.fit(x, labels, epochs=1, verbose=0)


def test_a_cross_entropy_on_a_per_pixel_output_is_refused_and_predict_keeps_the_pixel_softmax():
    model = Sequential([Input(shape=(4, 4, 1)), Conv2D(2, 3, padding="same", activation="softmax")])
    with pytest.raises(ValueError, match=r"output 'conv2d.*' has shape \(None, 4, 4, 2\)"):
        model.compile(optimizer="sgd", loss="categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(3, 4, 4, 1)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0).sum(-1), 1.0, rtol=1e-6)


LINEAR_X = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]], np.float32)
LINEAR_Y = np.array([[1.0], [0.0], [2.0]], np.float32)
KERNEL, BIAS = np.array([[0.5], [-1.5]], np.float32), np.array([0.25], np.float32)


def linear_model(metrics=("mae",)):
    model = Sequential([Input(shape=(2,)), Dense(1)])
    model.set_weights([KERNEL, BIAS])
    model.compile(optimizer=SGD(0.1), loss="mse", metrics=list(metrics))
    return model


def sgd_step(weights):
    """One SGD(0.1) step on the weighted MSE, Σ w_n e_n² / N, computed by hand."""
    error = LINEAR_X @ KERNEL + BIAS - LINEAR_Y
    delta = 2 * weights[:, None] * error / len(error)
    return KERNEL - 0.1 * LINEAR_X.T @ delta, BIAS - 0.1 * delta.sum(axis=0)


def test_train_on_batch_is_one_step_and_returns_loss_and_metrics():
    model = linear_model()
    error = LINEAR_X @ KERNEL + BIAS - LINEAR_Y
    loss, mae = model.train_on_batch(LINEAR_X, LINEAR_Y)
    assert loss == pytest.approx(np.mean(error**2), rel=1e-6) and mae == pytest.approx(np.mean(np.abs(error)))
    for expected, actual in zip(sgd_step(np.ones(3)), model.get_weights()):
        np.testing.assert_allclose(actual, expected, rtol=1e-6)
    # Metrics are reset at each call: the next results are about the next batch only.
    kernel, bias = sgd_step(np.ones(3))
    next_error = (LINEAR_X[:1] @ kernel + bias - LINEAR_Y[:1]).item()
    logs = model.train_on_batch(LINEAR_X[:1], LINEAR_Y[:1], return_dict=True)
    assert logs == pytest.approx({"loss": next_error**2, "mae": abs(next_error)}, rel=1e-5)
    assert linear_model(metrics=()).train_on_batch(LINEAR_X, LINEAR_Y) == pytest.approx(loss)  # a scalar


def test_test_and_predict_on_batch_match_evaluate_and_predict():
    model = linear_model()
    weights = model.get_weights()
    assert model.test_on_batch(LINEAR_X, LINEAR_Y) == pytest.approx(model.evaluate(LINEAR_X, LINEAR_Y, verbose=0))
    assert model.test_on_batch(LINEAR_X, LINEAR_Y, return_dict=True) == pytest.approx(
        model.evaluate(LINEAR_X, LINEAR_Y, verbose=0, return_dict=True))
    np.testing.assert_array_equal(model.predict_on_batch(LINEAR_X), model.predict(LINEAR_X, verbose=0))
    np.testing.assert_array_equal(model.predict(LINEAR_X, batch_size=2, verbose=0),
                                  model.predict(LINEAR_X, verbose=0))
    for before, after in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)


WEIGHTS = np.array([0.5, 0.0, 2.0], np.float32)


def test_sample_weights_in_evaluate_and_fit_match_a_hand_computation():
    model = linear_model()
    model.compile(optimizer=SGD(0.1), loss="mse", metrics=["mae"], weighted_metrics=["mae"])
    error = (LINEAR_X @ KERNEL + BIAS - LINEAR_Y)[:, 0]
    loss, mae, weighted_mae = model.evaluate(LINEAR_X, LINEAR_Y, sample_weight=WEIGHTS, verbose=0)
    assert model.metrics_names == ["loss", "mae", "weighted_mae"]  # Keras 3's names for the two
    assert loss == pytest.approx(np.dot(WEIGHTS, error**2) / 3, rel=1e-6)  # Σ w e² / N
    assert mae == pytest.approx(np.mean(np.abs(error)), rel=1e-6)  # metrics ignore the weights, as in Keras 3
    assert weighted_mae == pytest.approx(np.dot(WEIGHTS, np.abs(error)) / WEIGHTS.sum(), rel=1e-6)  # Σ w |e| / Σ w
    history = model.fit(LINEAR_X, LINEAR_Y, batch_size=3, sample_weight=WEIGHTS, shuffle=False, verbose=0)
    assert history.history["loss"][0] == pytest.approx(loss, rel=1e-6)
    for expected, actual in zip(sgd_step(WEIGHTS), model.get_weights()):
        np.testing.assert_allclose(actual, expected, rtol=1e-6)


def test_class_weights_are_sample_weights_chosen_by_label():
    x, labels = blobs(samples=60)
    class_weight = {0: 1.0, 1: 4.0}  # class 2 is not listed: weight 1
    runs = {}
    for name, kwargs in [("class", {"class_weight": class_weight}),
                         ("sample", {"sample_weight": np.array([class_weight.get(c, 1.0) for c in labels])})]:
        for y in (labels, to_categorical(labels, 3)):  # one-hot rows: the class is the argmax, as in Keras
            model = mlp()
            if y.ndim == 2:
                model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
            model.fit(x, y, epochs=2, batch_size=16, verbose=0, **kwargs)
            runs.setdefault(name, []).append(model.get_weights())
    for class_run, sample_run in zip(runs["class"], runs["sample"]):
        for a, b in zip(class_run, sample_run):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="cannot be given together"):
        mlp().fit(x, labels, class_weight=class_weight, sample_weight=np.ones(60), verbose=0)
    with pytest.raises(TypeError, match=r"class_weight must be a dict.*Fix"):
        mlp().train_on_batch(x, labels, class_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"shape \(60,\), received shape \(59,\)"):
        mlp().fit(x, labels, sample_weight=np.ones(59), verbose=0)


def test_validation_gets_its_share_of_sample_weights_but_no_class_weights():
    x, labels = blobs(samples=80)
    weights = np.linspace(0.1, 2.0, 80).astype(np.float32)
    model = mlp()
    history = model.fit(x, labels, sample_weight=weights, validation_split=0.25, epochs=1, verbose=0)
    expected = model.evaluate(x[60:], labels[60:], sample_weight=weights[60:], verbose=0, return_dict=True)
    assert history.history["val_loss"][0] == pytest.approx(expected["loss"], rel=1e-5)
    assert history.history["val_accuracy"][0] == pytest.approx(expected["accuracy"], rel=1e-5)
    history = model.fit(x, labels, class_weight={0: 5.0}, validation_split=0.25, epochs=1, verbose=0)
    unweighted = model.evaluate(x[60:], labels[60:], verbose=0)[0]
    assert history.history["val_loss"][0] == pytest.approx(unweighted, rel=1e-5)
    history = model.fit(x[:60], labels[:60], validation_data=(x[60:], labels[60:], weights[60:]), verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(
        model.evaluate(x[60:], labels[60:], sample_weight=weights[60:], verbose=0)[0], rel=1e-5)


def test_initial_epoch_numbers_epochs_like_keras(capsys):
    x, labels = blobs(samples=40)
    model = mlp()

    class Epochs(Callback):
        def on_train_begin(self, logs=None):
            self.seen = []

        def on_epoch_begin(self, epoch, logs=None):
            self.seen.append(epoch)

    epochs = Epochs()
    history = model.fit(x, labels, epochs=5, initial_epoch=2, verbose=2, callbacks=[epochs])
    assert history.epoch == [2, 3, 4] == epochs.seen and len(history.history["loss"]) == 3
    assert "Epoch 3/5" in capsys.readouterr().out
    before = model.get_weights()
    history = model.fit(x, labels, epochs=3, initial_epoch=3, verbose=0)
    assert history.epoch == [] and all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    with pytest.raises(ValueError, match=r"initial_epoch must be an integer >= 0 .*received -1.*Fix"):
        model.fit(x, labels, initial_epoch=-1, verbose=0)


def test_evaluate_return_dict_has_every_log_key():
    x, labels = blobs(samples=40)
    model = mlp()
    loss, accuracy = model.evaluate(x, labels, verbose=0)
    assert model.evaluate(x, labels, verbose=0, return_dict=True) == pytest.approx(
        {"loss": loss, "accuracy": accuracy})


def test_the_learning_rate_reads_and_assigns_as_keras_variable_does():
    x, labels = blobs()
    assigned, plain = mlp(), mlp()
    rate = assigned.optimizer.learning_rate
    assert isinstance(rate, float) and rate.numpy() == pytest.approx(0.001) and float(rate) * 2 == pytest.approx(0.002)
    assert rate.assign(0.01) == pytest.approx(0.01) and assigned.optimizer.learning_rate == pytest.approx(0.01)
    plain.optimizer.learning_rate = 0.01
    first, second = (model.fit(x, labels, epochs=2, verbose=0).history["loss"] for model in (assigned, plain))
    assert first == second
    with pytest.raises(ValueError, match="learning_rate must be in"):
        assigned.optimizer.learning_rate.assign(-1.0)


def test_class_weights_weigh_the_loss_and_the_weighted_metrics_only():
    x, labels = blobs(samples=60)
    model = mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  weighted_metrics=["accuracy"])
    logs = model.fit(x, labels, epochs=1, batch_size=60, verbose=0, class_weight={0: 0.0, 1: 0.0}).history
    assert set(logs) == {"loss", "accuracy", "weighted_accuracy"}
    plain, weighted = model.evaluate(x, labels, sample_weight=(labels == 2).astype(np.float32), verbose=0)[1:]
    predictions = np.argmax(model.predict(x, verbose=0), axis=1)
    assert plain == pytest.approx(np.mean(predictions == labels))  # every sample, as Keras 3's metrics
    assert weighted == pytest.approx(np.mean(predictions[labels == 2] == 2))  # class 2's samples only


def test_validation_freq_and_batch_size_choose_when_and_how_validation_runs():
    x, labels = blobs(samples=64)
    model = mlp()
    history = model.fit(x, labels, epochs=4, batch_size=16, validation_split=0.25, validation_freq=2, verbose=0)
    assert len(history.history["loss"]) == 4 and len(history.history["val_loss"]) == 2  # epochs 2 and 4
    listed = model.fit(x, labels, epochs=3, validation_data=(x, labels), validation_freq=[1, 3],
                       validation_batch_size=7, verbose=0).history
    final = model.evaluate(x, labels, batch_size=7, verbose=0)[0]
    assert len(listed["val_loss"]) == 2 and listed["val_loss"][-1] == pytest.approx(final, rel=1e-6)

    class Batches(axonal.utils.PyDataset):  # a batch source validates on the same schedule
        def __len__(self):
            return 4

        def __getitem__(self, index):
            return x[16 * index:16 * index + 16], labels[16 * index:16 * index + 16]

    sourced = model.fit(Batches(), epochs=2, validation_data=(x, labels), validation_freq=2, verbose=0)
    assert len(sourced.history["val_loss"]) == 1
    for bad in (0, 1.5, [0, 2], "2"):
        with pytest.raises(ValueError, match="validation_freq must be an integer >= 1.*Fix"):
            model.fit(x, labels, validation_freq=bad, verbose=0)
