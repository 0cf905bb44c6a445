"""The native executor (``models/executors/native.py``, ``native_plan.py``, ``cpp/training_loop.h``).

``fit`` hands whole runs of batches to C++ when the model allows it. The loop promises the very
bits of the per-step Python path: each case trains the same model from the same seed both ways
(odd sizes, a partial last batch, shuffling, dropout, frozen layers, every optimiser option) and
compares weights, optimiser slots, counters and History exactly. Then: when the loop is not used
and why, stopping on NaN, Ctrl-C between runs, and the binding's argument checks.
"""
from __future__ import annotations

import signal

import numpy as np
import pytest

import axonal
from axonal import optimizers
from axonal.callbacks import Callback, EarlyStopping, TerminateOnNaN
from axonal.layers import (Activation, AveragePooling2D, BatchNormalization, Conv2D, Dense, Dropout, Flatten,
                           GlobalMaxPooling2D, Input, LayerNormalization, MaxPooling2D,
                           Normalization, RandomContrast, RandomFlip, RandomRotation, RandomTranslation, RandomZoom,
                           Rescaling, Reshape, SpatialDropout2D, UpSampling2D, ZeroPadding2D)
from axonal.losses import CategoricalCrossentropy
from axonal.models import Sequential
from axonal.models.executors import NativeExecutor, support
from model_checks import fit_on_path
from axonal import regularizers

native = pytest.importorskip("axonal._native")



# The loop exists on ``cpu`` only; other test modules may leave another backend active.
pytestmark = pytest.mark.usefixtures("cpu_backend")


ROWS, BATCH = 103, 10  # 11 batches, the last of 3 rows

CASES = {  # name: (layers, optimizer, loss, metrics, label kind)
    "churn: adam, binary cross-entropy, accuracy": (
        lambda: [Input(shape=(11,)), Dense(6, activation="relu"), Dense(6, activation="relu"),
                 Dense(1, activation="sigmoid")], lambda: "adam", "binary_crossentropy", ["accuracy"], "binary"),
    "dropout MLP: centered rmsprop with momentum, one-hot": (
        lambda: [Input(shape=(4, 5)), Flatten(), Dense(17, activation="relu"), Dropout(0.3),
                 Dense(9, activation="tanh"), Dropout(0.2), Dense(5, activation="softmax")],
        lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True), "categorical_crossentropy",
        ["accuracy"], "onehot"),
    "sparse labels: nesterov sgd, activation layer": (
        lambda: [Input(shape=(20,)), Dense(13, activation="elu"), Activation("relu"), Dense(4),
                 Activation("softmax")], lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True),
        "sparse_categorical_crossentropy", ["accuracy"], "sparse"),
    "mse: adagrad, no metrics, reshape": (
        lambda: [Input(shape=(20,)), Reshape((4, 5)), Flatten(), Dense(7, activation="sigmoid"), Dense(3)],
        lambda: optimizers.Adagrad(0.05), "mse", [], "regression"),
    "adadelta, leaky relu, dropout on the inputs": (
        lambda: [Input(shape=(20,)), Dropout(0.1), Dense(8, activation="leaky_relu"), Dense(5, activation="softmax")],
        lambda: optimizers.Adadelta(1.0), "categorical_crossentropy", ["categorical_accuracy"], "onehot"),
    "amsgrad with weight decay, no bias": (
        lambda: [Input(shape=(20,)), Dense(9, activation="softplus", use_bias=False), Dense(5, activation="softmax")],
        lambda: optimizers.Adam(0.01, amsgrad=True, weight_decay=0.05), "categorical_crossentropy",
        ["accuracy"], "onehot"),
    "logits loss, frozen first layer": (
        lambda: [Input(shape=(20,)), Dense(12, activation="relu", trainable=False), Dense(5)],
        lambda: "rmsprop", CategoricalCrossentropy(from_logits=True), ["accuracy"], "onehot"),
    # 16 filters, stride 1: the direct conv kernels; 32 filters, stride (2, 1): im2col + GEMM.
    "cnn: same/valid convs, max and average pooling, adam": (
        lambda: [Input(shape=(9, 7, 3)), Conv2D(16, 3, padding="same", activation="relu"),
                 MaxPooling2D(2, padding="same"), Conv2D(32, (2, 3), strides=(2, 1), activation="elu"),
                 AveragePooling2D(2, strides=1), Flatten(), Dropout(0.2), Dense(4, activation="softmax")],
        lambda: "adam", "sparse_categorical_crossentropy", ["accuracy"], "sparse"),
    "cnn: frozen first conv": (
        lambda: [Input(shape=(6, 5, 4)), Conv2D(16, 3, activation="tanh", trainable=False), MaxPooling2D(2),
                 Flatten(), Dense(5, activation="softmax")],
        lambda: optimizers.SGD(0.05, momentum=0.9), "categorical_crossentropy", ["accuracy"], "onehot"),
    # GELU, SiLU and Mish take their derivative from the pre-activation: dense and conv2d apply
    # them after the fused kernel, the Activation layer keeps its input.
    "lion, gelu/silu/softsign dense, mish activation layer": (
        lambda: [Input(shape=(20,)), Dense(11, activation="gelu"), Dense(9, activation="silu"), Activation("mish"),
                 Dense(7, activation="softsign"), Dense(5, activation="softmax")],
        lambda: optimizers.Lion(0.003, weight_decay=0.01), "categorical_crossentropy", ["accuracy"], "onehot"),
    "cnn: swish conv, approximate gelu, lion": (
        lambda: [Input(shape=(6, 5, 4)), Conv2D(16, 3, activation="swish", padding="same"),
                 Activation("gelu_approximate"), MaxPooling2D(2), Flatten(), Dense(5, activation="softmax")],
        lambda: optimizers.Lion(), "sparse_categorical_crossentropy", ["accuracy"], "sparse"),
    "adamax with weight decay": (
        lambda: [Input(shape=(13,)), Dense(9, activation="tanh"), Dense(5, activation="softmax")],
        lambda: optimizers.Adamax(0.01, weight_decay=0.02), "categorical_crossentropy", ["accuracy"], "onehot"),
    # BatchNormalization: batch statistics and moving averages in training steps, the moving ones in
    # the validation and evaluation batches; gamma, beta and the moving statistics compared bit for bit.
    "mlp with batch normalization, sgd": (
        lambda: [Input(shape=(20,)), Dense(13), BatchNormalization(), Activation("relu"),
                 Dense(9, activation="tanh"), BatchNormalization(momentum=0.9, center=False),
                 Dense(5, activation="softmax")],
        lambda: optimizers.SGD(0.1, momentum=0.9), "categorical_crossentropy", ["accuracy"], "onehot"),
    # No bias before a BatchNormalization (as Keras programs write it): its gradient would be 0 up to
    # rounding, which Adam scales into steps of the learning rate that differ between backends.
    "cnn with batch normalization, adam": (
        lambda: [Input(shape=(7, 6, 3)), Conv2D(16, 3, padding="same", use_bias=False), BatchNormalization(),
                 Activation("relu"), MaxPooling2D(2), Conv2D(8, 2, use_bias=False),
                 BatchNormalization(scale=False, epsilon=0.01), Flatten(), Dense(4, activation="softmax")],
        lambda: "adam", "sparse_categorical_crossentropy", ["accuracy"], "sparse"),
    # Augmentation (issue #19 point 5): training steps draw per image from Philox in C++ exactly as
    # the layers' ops do; evaluation and prediction pass images through.
    "cnn with random flip, rotation and contrast": (
        lambda: [Input(shape=(7, 6, 3)), RandomFlip(), RandomRotation(0.2, fill_mode="constant", fill_value=0.1),
                 RandomContrast(0.3, value_range=(-3, 3)), Conv2D(8, 3, activation="relu"), MaxPooling2D(2),
                 Flatten(), Dense(4, activation="softmax")],
        lambda: "adam", "sparse_categorical_crossentropy", ["accuracy"], "sparse"),
    "augmentation between trainable layers": (
        lambda: [Input(shape=(12,)), Dense(36), Reshape((6, 6, 1)), RandomTranslation(0.2, 0.3, fill_mode="wrap"),
                 RandomZoom(0.2, width_factor=(-0.1, 0.3), interpolation="nearest", seed=9),
                 RandomContrast((0.2, 0.4), value_range=(-2, 2)), RandomFlip("vertical"), Flatten(),
                 Dense(5, activation="softmax")],
        lambda: optimizers.SGD(0.1, momentum=0.9), "categorical_crossentropy", ["accuracy"], "onehot"),
    "mlp with normalization and rescaling": (
        lambda: [Input(shape=(20,)), Normalization(mean=0.2, variance=2.0), Dense(11, activation="relu"),
                 Rescaling(0.5, offset=0.1), Normalization(invert=True, mean=[0.1] * 11, variance=[4.0] * 11),
                 Dense(7), Normalization(axis=None, mean=-0.5, variance=0.25), Dense(5, activation="softmax")],
        lambda: "adam", "categorical_crossentropy", ["accuracy"], "onehot"),
    "frozen batch normalization first, layer normalization": (
        lambda: [Input(shape=(20,)), BatchNormalization(trainable=False), Dense(11, activation="relu"),
                 LayerNormalization(), Dense(7), LayerNormalization(center=False, epsilon=0.1),
                 Dense(5, activation="softmax")],
        lambda: "rmsprop", "categorical_crossentropy", ["accuracy"], "onehot"),
    "cnn: layer normalization over whole images, frozen batch normalization inside": (
        lambda: [Input(shape=(5, 4, 3)), Conv2D(8, 2, activation="relu"), LayerNormalization(axis=[1, 2, 3]),
                 BatchNormalization(trainable=False), Flatten(), Dense(4, activation="softmax")],
        lambda: optimizers.SGD(0.05), "sparse_categorical_crossentropy", ["accuracy"], "sparse"),
    # Issue #19's image layers as native steps: padding on uneven sides, upsampling by (2, 3), whole
    # channels dropped (Philox masks keyed like Dropout's).
    "cnn: zero padding, upsampling, spatial dropout": (
        lambda: [Input(shape=(5, 3, 2)), ZeroPadding2D(((1, 0), (2, 1))), Conv2D(8, 3, activation="relu"),
                 SpatialDropout2D(0.4), UpSampling2D((2, 3)), Conv2D(4, 2, strides=2), SpatialDropout2D(0.25),
                 Flatten(), Dense(5, activation="softmax")],
        lambda: "adam", "categorical_crossentropy", ["accuracy"], "onehot"),
    # channels_first: transposes only at the input and before Flatten (native_layout.py); the layers
    # that take either layout (padding, upsampling, spatial dropout) compute on the channels_last form.
    "channels_first cnn: convs, pools, padding, upsampling, spatial dropout, batch normalization axis 1": (
        lambda: [Input(shape=(3, 7, 6)), Conv2D(16, 3, padding="same", activation="relu", data_format="channels_first"),
                 ZeroPadding2D(1, data_format="channels_first"), MaxPooling2D(2, data_format="channels_first"),
                 BatchNormalization(axis=1), SpatialDropout2D(0.3, data_format="channels_first"),
                 UpSampling2D(2, data_format="channels_first"),
                 Conv2D(8, (2, 3), strides=(2, 1), activation="elu", data_format="channels_first"),
                 AveragePooling2D(2, strides=1, data_format="channels_first"), Flatten(data_format="channels_first"),
                 Dense(4, activation="softmax")],
        lambda: "adam", "sparse_categorical_crossentropy", ["accuracy"], "sparse"),
    # A channels_first tensor read by a layer that needs it as the model has it (Dropout's mask
    # depends on the layout): transposed back, and the padding then runs on (N, C, H, W) itself.
    "channels_first: dropout between convs, padding on the channels_first layout, global pooling": (
        lambda: [Input(shape=(2, 6, 5)), ZeroPadding2D((1, 2), data_format="channels_first"),
                 Conv2D(8, 3, activation="tanh", data_format="channels_first"), Dropout(0.2),
                 UpSampling2D((1, 2), data_format="channels_first"), SpatialDropout2D(0.2, data_format="channels_first"),
                 Conv2D(6, 2, data_format="channels_first"), GlobalMaxPooling2D(data_format="channels_first"),
                 Dense(5, activation="softmax")],
        lambda: optimizers.SGD(0.05, momentum=0.9), "categorical_crossentropy", ["accuracy"], "onehot"),
}


def _data(kind: str, features: int):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(ROWS, features)).astype(np.float32)
    if kind == "binary":
        return x, (x[:, 0] + 0.3 * rng.normal(size=ROWS) > 0).astype(np.float32)
    if kind == "regression":
        return x, rng.normal(size=(ROWS, 3)).astype(np.float32)
    labels = rng.integers(0, 5 if kind != "sparse" else 4, ROWS)
    return x, labels if kind == "sparse" else np.eye(5, dtype=np.float32)[labels]


def train(case: str, use_native: bool, monkeypatch, epochs: int = 2, **fit_args):
    layers, optimizer, loss, metrics, kind = CASES[case]
    axonal.set_seed(3)
    model = Sequential(layers())
    model.compile(optimizer=optimizer(), loss=loss, metrics=metrics)
    x, y = _data(kind, int(np.prod(model.input_shape[1:])))
    x = x.reshape((ROWS,) + model.input_shape[1:])
    history = fit_on_path(model, x, y, use_native, monkeypatch, batch_size=BATCH, epochs=epochs, **fit_args)
    return model, history


def state(model) -> list[np.ndarray]:
    return model.get_weights() + model.optimizer.variables


@pytest.mark.parametrize("case", CASES)
def test_native_loop_gives_the_bits_of_the_python_steps(case, monkeypatch):
    python_model, python_history = train(case, False, monkeypatch)
    native_model, native_history = train(case, True, monkeypatch)
    assert native_history.history == python_history.history
    assert native_model.optimizer.iterations == python_model.optimizer.iterations == 2 * 11
    assert native_model.steps.value == python_model.steps.value
    for ours, theirs in zip(state(native_model), state(python_model), strict=True):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("case", ["churn: adam, binary cross-entropy, accuracy", "cnn with batch normalization, adam",
                                  "cnn with random flip, rotation and contrast"])
def test_native_loop_without_shuffling_and_with_validation(monkeypatch, case):
    args = dict(shuffle=False, validation_split=0.2)
    python_model, python_history = train(case, False, monkeypatch, **args)
    native_model, native_history = train(case, True, monkeypatch, **args)
    assert native_history.history == python_history.history
    for ours, theirs in zip(state(native_model), state(python_model), strict=True):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("case, weighting", [
    ("churn: adam, binary cross-entropy, accuracy", "class_weight"),
    ("sparse labels: nesterov sgd, activation layer", "sample_weight"),
    ("dropout MLP: centered rmsprop with momentum, one-hot", "class_weight"),
    ("mse: adagrad, no metrics, reshape", "sample_weight")])
def test_native_loop_weighs_the_losses_with_the_python_bits(case, weighting, monkeypatch):
    """Sample and class weights run natively: the losses weighted per row (gathered in the
    shuffled order), the metrics not (Keras 3), evaluate with weights too."""
    weights = np.linspace(0.0, 2.0, ROWS, dtype=np.float32)
    args = {"sample_weight": weights} if weighting == "sample_weight" else {"class_weight": {0: 0.5, 1: 3.0}}
    runs = []
    for use_native in (False, True):
        model, history = train(case, use_native, monkeypatch, **args)
        x, y = _data(CASES[case][4], int(np.prod(model.input_shape[1:])))
        x = x.reshape((ROWS,) + model.input_shape[1:])
        with monkeypatch.context() as patch:
            if not use_native:
                patch.setattr(support, "testing_problem", lambda *args: "the test asks for Python")
            runs.append((model, history.history, model.evaluate(x, y, sample_weight=weights, verbose=0)))
    (python_model, python_history, python_test), (native_model, native_history, native_test) = runs
    assert native_history == python_history and native_test == python_test
    for ours, theirs in zip(state(native_model), state(python_model), strict=True):
        np.testing.assert_array_equal(ours, theirs)


class BatchPrinter(Callback):
    def on_train_batch_end(self, batch, logs=None):
        pass


@pytest.mark.parametrize("change, reason", [
    (lambda model: model.compile(optimizer="adam", loss="mse", check_numerics=True), "check_numerics"),
    (lambda model: setattr(model.layers[0], "_regularizers", {"kernel": regularizers.l2(0.1)}), "regulariser"),
    (lambda model: model.compile(optimizer="adam", loss="mse", metrics=["mae"]), "metric"),
    (lambda model: model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["auc"]), "metric"),
])
def test_models_the_loop_does_not_cover_say_why(change, reason):
    model = Sequential([Input(shape=(4,)), Dense(3, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    x, y = np.zeros((8, 4), np.float32), np.zeros((8, 1), np.float32)
    assert support.training_problem(model, [x], [y], None, []) is None
    change(model)
    model.ops = axonal.backend.get_backend()
    assert reason in support.training_problem(model, [x], [y], None, [])


def test_batch_callbacks_use_the_python_steps_and_sample_weights_do_not():
    model = Sequential([Input(shape=(4,)), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    x, y = np.zeros((8, 4), np.float32), np.zeros((8, 1), np.float32)
    assert "batch hooks" in support.training_problem(model, [x], [y], None, [BatchPrinter()])
    assert support.training_problem(model, [x], [y], None, [EarlyStopping(), TerminateOnNaN()]) is None
    assert support.training_problem(model, [x], [y], np.ones(8, np.float32), []) is None  # weights: native
    flipping = Sequential([Input(shape=(5, 5, 1)), RandomFlip(), Flatten(), Dense(1, activation="sigmoid")])
    flipping.compile(optimizer="adam", loss="binary_crossentropy")
    images = np.zeros((8, 5, 5, 1), np.float32)
    assert support.training_problem(flipping, [images], [y], None, []) is None  # augmentation is native now


def test_terminate_on_nan_stops_at_the_same_batch_on_both_paths(monkeypatch, capsys):
    def diverging(use_native):
        axonal.set_seed(0)
        model = Sequential([Input(shape=(11,)), Dense(6, activation="relu"), Dense(3)])
        model.compile(optimizer=optimizers.SGD(1e3), loss="mse")
        x = np.random.default_rng(0).normal(size=(200, 11)).astype(np.float32) * 100
        callback = TerminateOnNaN()
        with monkeypatch.context() as patch:
            if not use_native:
                patch.setattr(support, "training_problem", lambda *args: "Python")
            model.fit(x, np.ones((200, 3), np.float32), batch_size=10, epochs=3, verbose=0, callbacks=[callback])
        return callback.stopped_epoch, callback.stopped_batch, model.steps.value

    python_stop, native_stop = diverging(False), diverging(True)
    assert python_stop[1] is not None
    assert native_stop == python_stop


class InterruptAtSecondEpoch(Callback):
    """Presses Ctrl-C as epoch 1 begins; keeps the weights at the end of each epoch."""

    def __init__(self):
        super().__init__()
        self.snapshots = []

    def on_epoch_end(self, epoch, logs=None):
        self.snapshots.append(self.model.get_weights())

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            signal.raise_signal(signal.SIGINT)


def fit_interrupted(device=None):
    """A churn-like model whose 3-epoch fit (10 batches an epoch) is interrupted at epoch 1, on the
    host or on ``device``; returns the model and the callback."""
    axonal.set_seed(0)
    model = Sequential([Input(shape=(11,)), Dense(6, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.device = device
    x = np.random.default_rng(1).normal(size=(100, 11)).astype(np.float32)
    callback = InterruptAtSecondEpoch()
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, np.ones(100, np.float32), batch_size=10, epochs=3, verbose=0, callbacks=[callback])
    assert len(model.history.history["loss"]) == 1
    return model, callback


def test_ctrl_c_lands_between_native_runs_and_leaves_whole_steps():
    model, _ = fit_interrupted()
    assert model.optimizer.iterations == model.steps.value
    assert 10 < model.steps.value <= 20  # epoch 0 whole, then one whole run of epoch 1


# ----- the binding's argument checks ----------------------------------------------------------

def _loop_arguments():
    rng = np.random.default_rng(0)
    W1, b1 = rng.normal(size=(4, 3)).astype(np.float32), np.zeros(3, np.float32)
    W2, b2 = rng.normal(size=(3, 2)).astype(np.float32), np.zeros(2, np.float32)
    grads = [np.zeros_like(a) for a in (W1, b1, W2, b2)]
    # (kind, input tensors, output tensor, needs_dx per input, backprop, the kind's items...)
    layers = [("dense", (0,), 1, (False,), True, W1, b1, grads[0], grads[1], "relu", 0.0, "linear"),
              ("dense", (1,), 2, (True,), True, W2, b2, grads[2], grads[3], "linear", 0.0, "linear")]
    params = [(p, g, np.zeros_like(p), np.zeros_like(p), None) for p, g in zip((W1, b1, W2, b2), grads)]
    return dict(layers=layers, input_widths=[4],
                outputs=[(2, "softmax_cross_entropy", "softmax", 1.0, [("categorical_accuracy", 0.5)])],
                optimizer="adam_update", hyper={"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False},
                params=params,
                sums=[], max_batch=8)


def _run_arguments():
    return dict(xs=[np.zeros((10, 4), np.float32)], targets=[np.eye(2, dtype=np.float32)[np.arange(10) % 2]],
                order=None, batch_size=4, first_batch=0, max_steps=3, seconds=1.0, step=0, iteration=0,
                learning_rate=0.01, loss_sum=0.0, output_loss_sums=[])


def test_a_valid_loop_runs_every_batch():
    loop = native.TrainingLoop(**_loop_arguments())
    steps, seen, loss_sum, non_finite, totals, output_sums = loop.run(**_run_arguments())
    assert (steps, seen, non_finite, output_sums) == (3, 10, False, [])
    assert np.isfinite(loss_sum) and len(totals) == 1 and 0 <= totals[0] <= 10


def _output(arguments, **changes):
    tensor, loss, absorbed, weight, metrics = arguments["outputs"][0]
    values = {**dict(tensor=tensor, loss=loss, absorbed=absorbed, weight=weight, metrics=metrics), **changes}
    arguments["outputs"] = [tuple(values.values())]


def _step(kind, *items, inputs=(2,)):
    """A step appended after the two dense layers: it reads tensor 2 and writes tensor 3."""
    return (kind, inputs, 3, (True,) * len(inputs), True, *items)


@pytest.mark.parametrize("damage, word", [
    (lambda a: a["layers"].__setitem__(0, a["layers"][0][:5] + (a["layers"][0][5].astype(np.float64),)
                                       + a["layers"][0][6:]), "float32"),
    (lambda a: a.update(input_widths=[5]), "rows"),
    (lambda a: a.update(optimizer="lamb"), "optimizer"),
    (lambda a: _output(a, loss="hinge"), "loss"),
    (lambda a: _output(a, metrics=[("sparse_categorical_accuracy", 0.5)]), "metric"),
    (lambda a: _output(a, tensor=7), "no such tensor"),
    (lambda a: a["params"].__setitem__(0, a["params"][0][:3] + (a["params"][1][3],) + (None,)), "slot"),
    (lambda a: a["params"].__setitem__(0, a["params"][0][:2] + (None, None, None)), "'m' is required"),
    (lambda a: a["hyper"].pop("amsgrad"), "needs the hyper-parameter 'amsgrad'"),
    (lambda a: a["params"].__setitem__(1, (a["params"][0][0],) + a["params"][1][1:]), "param"),
    (lambda a: a["layers"].append(_step("dropout", 1.5, 0, 2)), "rate"),
    (lambda a: a["layers"].append(_step("pool", 2)), "unknown layer"),
    (lambda a: a["layers"].append(_step("identity", inputs=(5,))), "not written before"),
    (lambda a: a["layers"].append(("identity", (2,), 4, (True,), True)), "the next one"),
    (lambda a: a["layers"].append(("identity", (2,), 3, (True, True), True)), "needs_dx"),
    (lambda a: a["layers"].append(_step("merge", "add", inputs=(1, 2))), "one width"),
    (lambda a: a["layers"].append(_step("merge", "mean", inputs=(2, 2))), "unknown merge op"),
    (lambda a: a["layers"].append(_step("merge", "add", inputs=(2,) * 9)), "at most 8"),
    # The dense output (2 features) as a 1x2 image of one channel:
    (lambda a: a["layers"].append(_step("max_pool2d", (1, 1), (1, 3, 1), (1, 1), (0, 0, 0, 0))), "does not hold"),
    (lambda a: a["layers"].append(_step("max_pool2d", (1, 1), (1, 2, 1), (0, 1), (0, 0, 0, 0))), "strides"),
    (lambda a: a["layers"].append(_step("avg_pool2d", (1, 2), (1, 2, 1), (1, 1), (0, 0, 0, 2))), "padding"),
    (lambda a: a["layers"].append(_step("conv2d", np.zeros((1, 1, 2, 3), np.float32), None, None, None, "relu", 0.0,
                                        "linear", (1, 2, 1), (1, 1), (0, 0, 0, 0))), "channels"),
    (lambda a: a["layers"].__setitem__(0, a["layers"][0][:9] + ("gelu",) + a["layers"][0][10:]), "from its input"),
    (lambda a: a["layers"].__setitem__(0, a["layers"][0][:11] + ("swish",)), "unknown activation"),
    (lambda a: a.update(max_batch=0), "max_batch"),
])
def test_loop_construction_checks_its_arrays(damage, word):
    arguments = _loop_arguments()
    damage(arguments)
    with pytest.raises(ValueError, match=word):
        native.TrainingLoop(**arguments)


@pytest.mark.parametrize("damage, word", [
    (lambda a: a.update(xs=[np.zeros((10, 5), np.float32)]), "features"),
    (lambda a: a.update(xs=[np.zeros((10, 4), np.float64)]), "float32"),
    (lambda a: a.update(xs=[np.zeros((10, 4), np.float32)] * 2), "holds 2 arrays"),
    (lambda a: a.update(targets=[np.zeros((9, 2), np.float32)]), "targets"),
    (lambda a: a.update(targets=[]), "targets"),
    (lambda a: a.update(output_loss_sums=[0.0, 0.0]), "output_loss_sums"),
    (lambda a: a.update(order=np.arange(10) + 1), "order"),
    (lambda a: a.update(order=np.arange(10, dtype=np.int32)), "order"),
    (lambda a: a.update(batch_size=9), "batch_size"),
    (lambda a: a.update(first_batch=-1), "negative"),
    (lambda a: a.update(xs=[np.zeros((20, 4), np.float32)[::2]]), "contiguous"),
    (lambda a: a.update(sample_weights=np.ones(9, np.float32)), "sample_weights"),
    (lambda a: a.update(sample_weights=np.ones(10, np.float64)), "sample_weights"),
])
def test_loop_runs_check_their_data(damage, word):
    loop = native.TrainingLoop(**_loop_arguments())
    arguments = _run_arguments()
    damage(arguments)
    with pytest.raises(ValueError, match=word):
        loop.run(**arguments)


def test_loop_refuses_data_that_overlaps_what_it_writes():
    arguments = _loop_arguments()
    loop = native.TrainingLoop(**arguments)
    run = _run_arguments()
    run["xs"] = [arguments["params"][0][2].reshape(-1)[:8].reshape(2, 4)]  # W1's first slot
    run["targets"] = [np.eye(2, dtype=np.float32)]
    with pytest.raises(ValueError, match="shares memory"):
        loop.run(**run)


def test_sparse_loop_refuses_labels_outside_the_outputs():
    arguments = _loop_arguments()
    _output(arguments, loss="sparse_softmax_cross_entropy", metrics=[])
    loop = native.TrainingLoop(**arguments)
    run = _run_arguments()
    run["targets"] = [np.array([0, 1, 2, 0, 1, 0, 1, 0, 1, 0], np.int64)]
    with pytest.raises(ValueError, match="label 2"):
        loop.run(**run)


# ----- predict ----------------------------------------------------------------------------------

def predict_both_ways(model, x, monkeypatch, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    calls = []
    with monkeypatch.context() as patch:
        native_predict = NativeExecutor.predict
        patch.setattr(NativeExecutor, "predict", lambda *args: calls.append(1) or native_predict(*args))
        native = model.predict(x, **kwargs)
        patch.setattr(support, "inference_problem", lambda *args: "the test asks for Python")
        python = model.predict(x, **kwargs)
    assert calls == [1]
    return native, python


@pytest.mark.parametrize("case", CASES)
def test_native_predict_gives_the_bits_of_the_python_batches(case, monkeypatch):
    model, _ = train(case, True, monkeypatch, epochs=1)
    x, _ = _data(CASES[case][4], int(np.prod(model.input_shape[1:])))
    native, python = predict_both_ways(model, x.reshape((ROWS,) + model.input_shape[1:]), monkeypatch,
                                       batch_size=16, verbose=0)
    assert native.dtype == np.float32 and native.shape == python.shape
    assert native.tobytes() == python.tobytes()


def test_native_predict_runs_an_uncompiled_model_with_a_progress_bar(monkeypatch, capsys):
    axonal.set_seed(0)
    model = Sequential([Input(shape=(20,)), Dense(7, activation="tanh"), Dropout(0.5), Dense(3, activation="softmax")])
    x = np.random.default_rng(1).normal(size=(50, 20)).astype(np.float32)
    native, python = predict_both_ways(model, x, monkeypatch, batch_size=8, verbose=1)
    assert native.tobytes() == python.tobytes()
    np.testing.assert_allclose(native.sum(axis=1), 1.0, rtol=1e-6)  # softmax applied, dropout not
    assert "7/7" in capsys.readouterr().out


def test_predict_callbacks_with_batch_hooks_use_the_python_batches():
    class Spy(Callback):
        def on_predict_batch_end(self, batch, logs=None):
            pass

    model = Sequential([Input(shape=(4,)), Dense(2)])
    x = np.zeros((8, 4), np.float32)
    assert "batch hooks" in support.inference_problem(model, [x], [Spy()])
    assert support.inference_problem(model, [x], []) is None


def test_an_inference_loop_refuses_to_train_and_checks_its_output():
    arguments = _loop_arguments()
    _output(arguments, loss="none", metrics=[])
    arguments.update(optimizer="none", hyper={}, params=[])
    loop = native.TrainingLoop(**arguments)
    with pytest.raises(ValueError, match="inference"):
        loop.run(**_run_arguments())
    x = np.zeros((10, 4), np.float32)
    out = np.empty((10, 2), np.float32)
    assert loop.predict([x], [out], 4, 0, 100, 1.0) == 3
    with pytest.raises(ValueError, match="outs"):
        loop.predict([x], [np.empty((10, 3), np.float32)], 4, 0, 100, 1.0)
    with pytest.raises(ValueError, match="shares memory"):  # out written over the first kernel
        loop.predict([x[:6]], [arguments["layers"][0][5].reshape(6, 2)], 4, 0, 100, 1.0)
    with pytest.raises(ValueError, match="batch_size"):
        loop.predict([x], [out], 9, 0, 100, 1.0)


def test_a_test_loop_computes_losses_but_refuses_to_train():
    arguments = _loop_arguments()
    arguments.update(optimizer="none", hyper={}, params=[])
    loop = native.TrainingLoop(**arguments)
    steps, seen, loss_sum, non_finite, totals, _ = loop.run(**dict(_run_arguments(), train=False))
    assert (steps, seen, non_finite) == (3, 10, False) and np.isfinite(loss_sum)
    with pytest.raises(ValueError, match="built for testing"):
        loop.run(**_run_arguments())


def test_evaluating_an_untrained_model_leaves_its_optimiser_unbuilt():
    model = Sequential([Input(shape=(4,)), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.evaluate(np.zeros((8, 4), np.float32), np.zeros(8, np.int64), verbose=0)
    assert not model.optimizer.built


def _text_model(pooling):
    from axonal.layers import Embedding, GlobalAveragePooling1D

    axonal.set_seed(5)
    model = Sequential([Input(shape=(9,)), Embedding(37, 6, name="words"), GlobalAveragePooling1D() if pooling else Flatten(),
                        Dense(7, activation="relu"), Dropout(0.2), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


@pytest.mark.parametrize("pooling", [True, False], ids=["global average pooling", "flatten"])
def test_native_loop_trains_an_embedding_text_model_with_the_python_bits(pooling, monkeypatch):
    rng = np.random.default_rng(11)
    ids = rng.integers(0, 37, (ROWS, 9)).astype(np.int64)  # int64 data: the model keeps it as exact int32
    labels = (ids[:, 0] > 18).astype(np.float32)
    results = []
    for use_native in (False, True):
        model = _text_model(pooling)
        history = fit_on_path(model, ids, labels, use_native, monkeypatch, batch_size=BATCH, epochs=2,
                              validation_split=0.2)
        results.append((model, history))
    (python_model, python_history), (native_model, native_history) = results
    assert native_history.history == python_history.history
    for ours, theirs in zip(state(native_model), state(python_model), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(native_model.predict(ids, verbose=0), python_model.predict(ids, verbose=0))


def test_out_of_range_ids_get_the_layer_paths_error_in_the_native_loop(monkeypatch):
    ids = np.zeros((12, 9), np.int32)
    ids[7, 4] = 37
    messages = []
    for use_native in (False, True):
        model = _text_model(True)
        with pytest.raises(ValueError) as caught:
            fit_on_path(model, ids, np.zeros(12, np.float32), use_native, monkeypatch, batch_size=4, epochs=1)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert "input_dim=37" in messages[0] and "(7, 4)" in messages[0]


def test_the_loop_refuses_ids_it_was_not_told_of_and_bad_ids():
    embeddings = np.zeros((5, 3), np.float32)
    spec = ("embedding", (0,), 1, (False,), False, embeddings, None)
    outputs = [(1, "none", "linear", 1.0, [])]
    with pytest.raises(ValueError, match="not an id input"):
        native.TrainingLoop([spec], [4], outputs, "none", {}, [], [], 8)
    loop = native.TrainingLoop([spec], [4], outputs, "none", {}, [], [], 8, [True])
    out = np.zeros((2, 12), np.float32)
    with pytest.raises(ValueError, match="xs"):  # float data for an id input
        loop.predict([np.zeros((2, 4), np.float32)], [out], 2, 0, 1, 1.0)
    with pytest.raises(ValueError, match="id 5 at position 3"):
        loop.predict([np.array([[0, 1, 2, 5], [0, 0, 0, 0]], np.int32)], [out], 2, 0, 1, 1.0)
    loop.predict([np.array([[0, 1, 2, 4], [3, 0, 0, 0]], np.int32)], [out], 2, 0, 1, 1.0)
    assert out.shape == (2, 12) and not out.any()  # rows of the (zero) matrix
