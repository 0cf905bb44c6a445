"""Sequential's Keras API: summary, compile/fit/evaluate/predict, History, weights and configs."""
import io

import numpy as np
import pytest

import axonal
from axonal.backend import backend_name
from axonal.callbacks import Callback
from axonal.layers import Activation, Dense, Dropout, Input
from axonal.models import Sequential
from axonal.optimizers import SGD, Adadelta, Adagrad, Adam, RMSprop
from axonal.utils import Progbar, to_categorical
from conftest import AVAILABLE_BACKENDS

pytestmark = pytest.mark.usefixtures("backend")


def classification_data(samples=240, features=12, classes=3, seed=0):
    """Separable blobs: class k is centred on feature k."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, samples)
    x = rng.normal(0, 0.3, (samples, features)).astype(np.float32)
    x[np.arange(samples), labels] += 2.0
    return x, labels


def small_model(classes=3, features=12):
    axonal.set_seed(7)
    return Sequential([Input(shape=(features,)), Dense(16, activation="relu"), Dropout(0.1),
                       Dense(classes, activation="softmax")])


KERAS_SUMMARY = """\
Model: "mlp"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ dense (Dense)                   │ (None, 512)            │       401,920 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dropout (Dropout)               │ (None, 512)            │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_1 (Dense)                 │ (None, 10)             │         5,130 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 407,050 (1.55 MB)
 Trainable params: 407,050 (1.55 MB)
 Non-trainable params: 0 (0.00 B)
"""


def test_summary_matches_keras_table_and_counts(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")  # Keras sizes the table to the terminal: 76 characters here
    model = Sequential([Dense(512, activation="relu", input_shape=(784,), name="dense"),
                        Dropout(0.2, name="dropout"), Dense(10, activation="softmax", name="dense_1")],
                       name="mlp")
    model.summary()
    assert capsys.readouterr().out == KERAS_SUMMARY
    assert model.count_params() == 407_050
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy")
    model.fit(np.zeros((2, 784)), np.eye(10)[:2], verbose=0)
    model.summary()
    assert capsys.readouterr().out.splitlines()[-1] == " Optimizer params: 407,050 (1.55 MB)"


def test_classic_mnist_mlp_counts():
    model = Sequential([Dense(512, activation="relu", input_shape=(784,)), Dropout(0.2),
                        Dense(512, activation="relu"), Dropout(0.2), Dense(10, activation="softmax")])
    assert [layer.count_params() for layer in model.layers] == [401_920, 0, 262_656, 0, 5_130]
    assert model.count_params() == 669_706


def test_fit_evaluate_predict_shapes_and_history():
    x, labels = classification_data()
    model = small_model()
    model.compile(optimizer=Adam(0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, to_categorical(labels), batch_size=32, epochs=3, verbose=0,
                        validation_data=(x[:40], to_categorical(labels[:40])))
    assert list(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(values) == 3 for values in history.history.values())
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.history is history and history.epoch == [0, 1, 2]
    loss, accuracy = model.evaluate(x, to_categorical(labels), verbose=0)
    assert accuracy > 0.9
    predictions = model.predict(x, batch_size=50, verbose=0)
    assert predictions.shape == (240, 3) and predictions.dtype == np.float32
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=1e-5)  # probabilities, as in Keras
    assert np.mean(predictions.argmax(axis=1) == labels) == pytest.approx(accuracy)


def test_sparse_binary_and_mse_losses_train():
    x, labels = classification_data()
    sparse = small_model()
    sparse.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    first = sparse.fit(x, labels, epochs=2, verbose=0).history["loss"]
    assert first[1] < first[0]
    binary = Sequential([Input(shape=(12,)), Dense(8, activation="tanh"), Dense(1, activation="sigmoid")])
    binary.compile(optimizer=Adam(0.05), loss="binary_crossentropy", metrics=["accuracy"])
    binary.fit(x, labels == 0, epochs=5, verbose=0)
    probabilities = binary.predict(x, verbose=0)
    assert probabilities.min() >= 0 and probabilities.max() <= 1
    assert binary.evaluate(x, labels == 0, verbose=0)[1] > 0.9
    regression = Sequential([Input(shape=(12,)), Dense(1)])
    regression.compile(optimizer=SGD(0.05), loss="mse")
    targets = x[:, :1] * 2.0
    before = regression.evaluate(x, targets, verbose=0)
    regression.fit(x, targets, epochs=3, verbose=0)
    assert regression.evaluate(x, targets, verbose=0) < before  # a scalar without metrics


def test_validation_split_holds_out_the_last_samples():
    x, labels = classification_data(samples=100)
    y = to_categorical(labels)
    model = small_model()
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    seen = []

    class CountBatches(Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)

    history = model.fit(x, y, batch_size=10, epochs=1, verbose=0, validation_split=0.2,
                        callbacks=[CountBatches()])
    assert len(seen) == 8  # 80 training samples in batches of 10
    held_out = model.evaluate(x[80:], y[80:], verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(held_out[0], rel=1e-5)
    assert history.history["val_accuracy"][0] == pytest.approx(held_out[1])


def test_seeded_training_is_repeatable():
    x, labels = classification_data()

    def train():
        model = small_model()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        return model.fit(x, labels, epochs=2, verbose=0).history["loss"], model.get_weights()

    (loss_a, weights_a), (loss_b, weights_b) = train(), train()
    assert loss_a == loss_b
    for a, b in zip(weights_a, weights_b):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("optimizer", [SGD(0.1, momentum=0.9, nesterov=True),
                                       RMSprop(centered=True, momentum=0.5), Adagrad(0.1), Adadelta(1.0),
                                       Adam(amsgrad=True, weight_decay=0.01)],
                         ids=lambda optimizer: type(optimizer).__name__)
def test_every_optimizer_trains_and_round_trips_its_config(optimizer):
    x, labels = classification_data()
    model = small_model()
    model.compile(optimizer=type(optimizer).from_config(optimizer.get_config()),
                  loss="sparse_categorical_crossentropy")
    losses = model.fit(x, labels, epochs=3, verbose=0).history["loss"]
    assert losses[-1] < losses[0]
    assert model.optimizer.iterations == 3 * 8
    assert model.optimizer.get_config() == optimizer.get_config()


def test_weights_and_config_round_trip():
    x, _ = classification_data()
    model = small_model()
    copy = Sequential.from_config(model.get_config())
    assert [layer.get_config() for layer in copy.layers] == [layer.get_config() for layer in model.layers]
    copy.set_weights(model.get_weights())
    np.testing.assert_array_equal(copy.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(ValueError, match="has 4 weight arrays, received 3"):
        copy.set_weights(model.get_weights()[:3])


def test_model_builds_from_the_first_batch_and_layers_excludes_input():
    x, labels = classification_data()
    model = Sequential()
    model.add(Dense(4, activation="relu"))
    model.add(Dense(3))
    model.add(Activation("softmax"))
    assert not model.built
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, to_categorical(labels), epochs=1, verbose=0)
    assert model.built and model.input_shape == (None, 12)
    assert [type(layer).__name__ for layer in small_model().layers] == ["Dense", "Dropout", "Dense"]


def test_verbose_1_without_a_terminal_prints_plain_lines(capsys):
    x, labels = classification_data()
    model = small_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, labels, epochs=2, verbose=1, validation_split=0.25)
    out = capsys.readouterr().out
    assert "\r" not in out and "\x1b" not in out
    lines = out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    assert lines[1].startswith("6/6 ━━━━━━━━━━━━━━━━━━━━ ")
    assert "/step - accuracy: " in lines[1] and " - loss: " in lines[1] and " - val_loss: " in lines[1]


def test_verbose_2_prints_one_line_per_epoch(capsys):
    x, labels = classification_data()
    model = small_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, labels, epochs=3, verbose=2)
    lines = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("Epoch")]
    assert len(lines) == 3 and all(line.startswith("8/8 - ") and "/step - loss: " in line for line in lines)


def test_progress_bar_redraws_in_place_on_a_terminal():
    class Terminal(io.StringIO):
        encoding = "utf-8"

        def isatty(self):
            return True

    stream = Terminal()
    bar = Progbar(target=3, stream=stream, interval=0)
    for step in (1, 2, 3):
        bar.update(step, [("loss", 0.5)], finalize=step == 3)
    text = stream.getvalue()
    assert text.count("\r") == 3 and text.endswith("\n") and "3/3" in text and "loss: 0.5000" in text


def test_callbacks_see_every_hook_and_can_stop_training():
    x, labels = classification_data()
    model = small_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    events = []

    class StopAfterFirstEpoch(Callback):
        def on_train_begin(self, logs=None):
            events.append("train_begin")

        def on_epoch_end(self, epoch, logs=None):
            events.append(("epoch_end", sorted(logs)))
            self.model.stop_training = True

        def on_train_end(self, logs=None):
            events.append("train_end")

    history = model.fit(x, labels, epochs=5, verbose=0, callbacks=[StopAfterFirstEpoch()])
    assert events == ["train_begin", ("epoch_end", ["loss"]), "train_end"]
    assert len(history.history["loss"]) == 1


def test_training_steps_allocate_no_arrays(monkeypatch):
    """After the first epoch, the loop only reuses buffers: with kernels that do no work, the memory
    traced over two more epochs stays far below the size of one batch buffer (256 KB here)."""
    import tracemalloc
    import types

    from axonal.models import model as model_module

    reference = axonal.get_backend()
    idle_kernels = {name: (lambda *args: 0.0) for name in dir(reference) if name.endswith(
        ("_forward", "_backward", "_update", "_entropy", "_error"))}
    monkeypatch.setattr(model_module, "host_backend", lambda: types.SimpleNamespace(**idle_kernels))
    model = Sequential([Input(shape=(256,)), Dense(512, activation="relu"), Dropout(0.2),
                        Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    x = np.ones((1000, 256), np.float32)
    y = np.eye(10, dtype=np.float32)[np.arange(1000) % 10]
    model.fit(x, y, batch_size=128, epochs=1, verbose=0)

    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        model.fit(x, y, batch_size=128, epochs=2, verbose=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak - start < 32_000  # the per-epoch permutation (8 KB) and small Python objects


def test_backends_agree_on_a_seeded_run_with_dropout():
    """The same seed gives the same shuffles, weights and dropout masks on every backend."""
    x, labels = classification_data()
    results, previous = {}, backend_name()
    try:
        for name in AVAILABLE_BACKENDS:  # numpy and cpu (cuda runs on cupy arrays: test_cuda_parity.py)
            axonal.set_backend(name)
            model = small_model()
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
            model.fit(x, labels, epochs=2, verbose=0)
            results[name] = model.get_weights()
    finally:
        axonal.set_backend(previous)
    reference = results.pop("numpy")
    for weights in results.values():
        for expected, actual in zip(reference, weights):
            np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)
