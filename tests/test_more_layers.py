"""Conv1D, the 1-D and global max poolings, Embedding, SpatialDropout2D, ZeroPadding2D, UpSampling2D:
gradients (float64 finite differences on the reference), parity of cpu with the reference, the
native loop's bits, integer inputs through fit, refusals, save/load."""
import numpy as np
import pytest

import axonal
from axonal.backend import cpu, reference
from axonal.layers import (AveragePooling1D, Conv1D, Conv2D, Dense, Embedding, Flatten, GlobalAveragePooling1D,
                           GlobalMaxPooling1D, GlobalMaxPooling2D, Input, MaxPooling1D, SpatialDropout2D,
                           UpSampling2D, ZeroPadding2D)
from axonal.models import Sequential
from axonal.models.executors import NativeExecutor, support

RNG = np.random.default_rng(5)


def _built(layer, shape, ops=reference, dtype=np.float64):
    layer.attach(ops, 0, 11, layer.steps)
    layer.build((None, *shape))
    for name, weight in layer._weights.items():  # float64 copies for the finite differences
        layer._weights[name] = weight.astype(dtype)
        layer._gradients[name] = np.zeros_like(layer._weights[name])
        object.__setattr__(layer, name, layer._weights[name])
    layer.buffers = type(layer.buffers)()
    return layer


def _numeric_gradient(f, array, eps=1e-6):
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        old = array[index]
        array[index] = old + eps
        up = f()
        array[index] = old - eps
        down = f()
        array[index] = old
        grad[index] = (up - down) / (2 * eps)
    return grad


# Layers whose NumPy code keeps the input dtype: float64 end to end on the reference.
HOST_LAYERS = {
    "zero_padding": (lambda: ZeroPadding2D(((1, 0), (2, 1))), (3, 4, 2)),
    "up_sampling": (lambda: UpSampling2D((2, 3)), (3, 2, 2)),
    "spatial_dropout": (lambda: SpatialDropout2D(0.5, seed=3), (2, 2, 5)),
}


@pytest.mark.parametrize("name", HOST_LAYERS)
def test_host_layer_gradients_match_finite_differences(name):
    make, shape = HOST_LAYERS[name]
    layer = _built(make(), shape)
    x = RNG.standard_normal((2, *shape))
    r = RNG.standard_normal(layer.forward(x, True).shape)
    dx = layer.backward(r).copy()
    np.testing.assert_allclose(dx, _numeric_gradient(lambda: float(np.sum(layer.forward(x, True) * r)), x),
                               rtol=1e-6, atol=1e-8)


def test_embedding_gradient_matches_finite_differences():
    ids = np.array([[0, 3, 3], [2, 0, 3]], np.int32).reshape(-1)
    W, r = RNG.standard_normal((5, 3)), RNG.standard_normal((6, 3))
    y, dW = np.empty((6, 3)), np.empty((5, 3))

    def loss():
        reference.embedding_forward(y, ids, W)
        return float(np.sum(y * r))

    reference.embedding_backward(dW, r, ids)
    np.testing.assert_allclose(dW, _numeric_gradient(loss, W), rtol=1e-6, atol=1e-8)
    assert not dW[1].any() and not dW[4].any()  # rows never looked up


def test_the_embedding_scatter_add_has_the_reference_bits_on_cpu():
    ids = RNG.integers(0, 7, 4000).astype(np.int32)  # many repeats per row: order of the sums matters
    dy = RNG.standard_normal((4000, 33)).astype(np.float32)
    want, got = np.empty((7, 33), np.float32), np.empty((7, 33), np.float32)
    reference.embedding_backward(want, dy, ids)
    cpu.embedding_backward(got, dy, ids)
    np.testing.assert_array_equal(got, want)


# (layer, per-sample shape, its 2-D twin on the (1, T, C) image, or None)
SEQUENCE_LAYERS = {
    "conv1d_same_s2": (lambda: Conv1D(4, 3, strides=2, padding="same", activation="tanh"), (9, 3)),
    "conv1d_causal": (lambda: Conv1D(3, 4, padding="causal"), (7, 2)),
    "max_pooling1d": (lambda: MaxPooling1D(3, strides=2, padding="same"), (9, 3)),
    "average_pooling1d": (lambda: AveragePooling1D(2), (8, 3)),
    "global_average_pooling1d": (lambda: GlobalAveragePooling1D(), (6, 3)),
    "global_max_pooling1d": (lambda: GlobalMaxPooling1D(), (6, 3)),
    "global_max_pooling2d": (lambda: GlobalMaxPooling2D(), (4, 5, 3)),
}


@pytest.mark.parametrize("name", SEQUENCE_LAYERS)
def test_layer_gradients_match_finite_differences(name):
    """The layers keep float32 buffers, so the differences are taken in float32 with a loose
    tolerance; the ops below them are checked in float64 by test_reference_conv_gradients.py."""
    make, shape = SEQUENCE_LAYERS[name]
    layer = _built(make(), shape, dtype=np.float32)
    x = RNG.permutation(np.arange(2 * np.prod(shape))).reshape(2, *shape).astype(np.float32) / 7
    r = RNG.standard_normal(layer.forward(x, True).shape).astype(np.float32)
    dx = layer.backward(r).copy()
    numeric = _numeric_gradient(lambda: float(np.sum(layer.forward(x, True).astype(np.float64) * r)), x, eps=1e-2)
    np.testing.assert_allclose(dx, numeric, rtol=2e-2, atol=2e-2)
    if layer.weights:
        kernel = layer._weights["kernel"]
        layer.forward(x, True)
        layer.backward(r)
        analytic = layer._gradients["kernel"].copy()
        numeric = _numeric_gradient(lambda: float(np.sum(layer.forward(x, True).astype(np.float64) * r)), kernel,
                                    eps=1e-2)
        np.testing.assert_allclose(analytic, numeric, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("name", SEQUENCE_LAYERS)
def test_cpu_matches_the_reference(name):
    make, shape = SEQUENCE_LAYERS[name]
    x = RNG.standard_normal((3, *shape)).astype(np.float32)
    results = []
    for ops in (reference, cpu):
        layer = _built(make(), shape, ops=ops, dtype=np.float32)
        y = layer.forward(x, True).copy()
        r = np.cos(np.arange(y.size)).reshape(y.shape).astype(np.float32)
        results.append((y, layer.backward(r).copy(), [g.copy() for g in layer.gradients]))
    (y0, dx0, g0), (y1, dx1, g1) = results
    np.testing.assert_allclose(y1, y0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx1, dx0, rtol=1e-5, atol=1e-6)
    for a, b in zip(g1, g0):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def _sequence_model(seed=3):
    axonal.set_seed(seed)
    model = Sequential([Input(shape=(16, 4)), Conv1D(8, 3, padding="causal", activation="relu"),
                        MaxPooling1D(2), Conv1D(6, 3, strides=2, padding="same"), AveragePooling1D(2, padding="same"),
                        GlobalMaxPooling1D(), Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _image_model(seed=3):
    axonal.set_seed(seed)
    model = Sequential([Input(shape=(6, 6, 2)), Conv2D(4, 3, activation="relu"), GlobalMaxPooling2D(),
                        Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.mark.parametrize("make, shape", [(_sequence_model, (16, 4)), (_image_model, (6, 6, 2))])
def test_models_run_natively_with_the_bits_of_the_layer_by_layer_path(make, shape, monkeypatch):
    x = RNG.standard_normal((50, *shape)).astype(np.float32)
    y = RNG.integers(0, 3, 50)
    native = make()
    assert support.training_problem(native, [x], [y], None, []) is None
    history = native.fit(x, y, batch_size=8, epochs=2, verbose=0)
    predictions = native.predict(x, verbose=0)
    layerwise = make()
    monkeypatch.setattr(NativeExecutor, "train_epoch", lambda *a: pytest.fail("ran natively"))
    monkeypatch.setattr(support, "training_problem", lambda *a: "the test asks for Python")
    monkeypatch.setattr(support, "inference_problem", lambda *a: "the test asks for Python")
    assert layerwise.fit(x, y, batch_size=8, epochs=2, verbose=0).history == history.history
    for a, b in zip(layerwise.get_weights(), native.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(layerwise.predict(x, verbose=0), predictions)


def test_integer_ids_train_through_fit_on_every_backend_and_stay_exact():
    x = RNG.integers(0, 40, (64, 10))
    y = (x[:, 0] > 20).astype(np.float32)
    results = {}
    for backend in ("numpy", "cpu"):
        axonal.set_backend(backend)
        try:
            axonal.set_seed(4)
            model = Sequential([Input(shape=(10,)), Embedding(40, 8), Flatten(), Dense(1, activation="sigmoid")])
            model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
            model.fit(x, y, epochs=30, batch_size=16, verbose=0)
            results[backend] = (model.get_weights(), model.evaluate(x, y, verbose=0))
        finally:
            axonal.set_backend("cpu")
    assert results["cpu"][1][1] > 0.9  # it learns the first id's threshold
    for a, b in zip(*(results[name][0] for name in ("numpy", "cpu"))):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    from axonal.models.data import prepare_inputs
    ids = prepare_inputs(model, np.array([[2**24 + 1] * 10], np.int64) % 40)
    assert ids[0].dtype == np.int32


def test_ids_above_float32_precision_stay_exact():
    layer = Embedding(2**24 + 3, 1)
    layer.attach(cpu, 0, 1, layer.steps)
    layer.build = lambda shape: None  # no 64 MiB matrix: a small one standing for its last rows
    layer.built, layer.input_shape = True, (None, 1)
    layer.embeddings = np.zeros((2**24 + 3, 1), np.float32)  # plain attribute: not a layer weight here
    layer.embeddings[2**24 + 1] = 7.0
    assert layer(np.array([[2**24 + 1]], np.int64))[0, 0, 0] == 7.0  # float32 would read row 2**24


@pytest.mark.parametrize("x, message", [
    (np.array([[0, 40]]), "ids must be in [0, 40); x holds the id 40 at index (0, 1)"),
    (np.array([[0, -1]]), "the id -1 at index (0, 1)"),
    (np.array([[0.0, 1.5]]), "takes whole-number ids, but x holds 1.5 at index (0, 1)"),
])
def test_bad_ids_are_refused_with_the_layer_and_the_id(x, message):
    model = Sequential([Input(shape=(2,)), Embedding(40, 3, name="words"), Flatten(), Dense(1)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match=r"Layer 'words' \(Embedding\)") as error:
        model.fit(x, np.zeros((1, 1)), verbose=0)
    assert message in str(error.value)
    with pytest.raises(ValueError, match="words"):
        model.predict(x, verbose=0)


@pytest.mark.parametrize("make, words", [
    (lambda: Embedding(10, 2, mask_zero=True), "mask_zero=True is not supported"),
    (lambda: UpSampling2D(interpolation="bilinear"), "interpolation='bilinear' is not supported"),
    (lambda: Conv1D(2, 3, dilation_rate=2), "dilation_rate=2 is not supported"),
    (lambda: Conv1D(2, 3, groups=2), "groups=2 is not supported"),
    (lambda: Conv1D(2, 3, data_format="channels_first"), "sequences (batch, steps, channels) only"),
    (lambda: MaxPooling1D(padding="causal"), "padding must be one of 'valid', 'same'"),
    (lambda: ZeroPadding2D((1, -1)), "ZeroPadding2D padding must be"),
    (lambda: SpatialDropout2D(1.0), "rate must be a number in [0, 1)"),
])
def test_unsupported_arguments_are_refused_clearly(make, words):
    with pytest.raises(ValueError) as error:
        make()
    assert words in str(error.value)


def test_shape_errors_name_the_layer_and_the_fix():
    with pytest.raises(ValueError, match=r"Layer 'c1' \(Conv1D\) expects sequences .* x\[\.\.\., None\]"):
        Sequential([Input(shape=(10,)), Conv1D(2, 3, name="c1")])
    with pytest.raises(ValueError, match=r"window of 5 steps but its input sequences have 3"):
        Sequential([Input(shape=(3, 2)), MaxPooling1D(5)])


def test_embedding_input_length_is_keras_2s_input_shape():
    with pytest.warns(DeprecationWarning, match="input_length"):
        layer = Embedding(30, 4, input_length=7)
    model = Sequential([layer, Flatten(), Dense(2)])
    assert model.layers[0].output_shape == (None, 7, 4)
    assert model.count_params() == 30 * 4 + 28 * 2 + 2


def test_spatial_dropout_drops_whole_channels_and_is_the_identity_at_inference():
    layer = _built(SpatialDropout2D(0.5, seed=9), (3, 3, 40), dtype=np.float32)
    x = np.ones((4, 3, 3, 40), np.float32)
    assert layer.forward(x, False) is x
    y = layer.forward(x, True).copy()
    per_channel = y.reshape(4, 9, 40)
    assert np.all(per_channel == per_channel[:, :1, :])  # one value per image and channel
    assert set(np.unique(y)) == {0.0, 2.0}
    layer.steps.value += 1
    assert not np.array_equal(layer.forward(x, True), y)  # a new mask at the next step


def test_a_model_with_every_new_layer_saves_and_loads(tmp_path):
    axonal.set_seed(2)
    model = Sequential([Input(shape=(6, 6, 2)), ZeroPadding2D(1), Conv2D(3, 3), SpatialDropout2D(0.2),
                        UpSampling2D(2), GlobalMaxPooling2D(), Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = RNG.standard_normal((20, 6, 6, 2)).astype(np.float32), RNG.integers(0, 2, 20)
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.axonal")
    loaded = axonal.models.load_model(tmp_path / "m.axonal")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    words = Sequential([Input(shape=(5,)), Embedding(9, 3), Conv1D(4, 2), GlobalAveragePooling1D(), Dense(1)])
    words.compile("sgd", "mse")
    ids = RNG.integers(0, 9, (8, 5))
    words.fit(ids, np.zeros((8, 1)), verbose=0)
    words.save(tmp_path / "w.axonal")
    np.testing.assert_array_equal(axonal.models.load_model(tmp_path / "w.axonal").predict(ids, verbose=0),
                                  words.predict(ids, verbose=0))


def test_every_layer_of_this_module_runs_in_the_compiled_executors():
    """The 1-D layers, GlobalMaxPooling2D and (since their native steps) SpatialDropout2D,
    ZeroPadding2D, UpSampling2D and Embedding: no fast-path reason."""
    model = Sequential([Input(shape=(4, 4, 1)), UpSampling2D(), ZeroPadding2D(1), SpatialDropout2D(0.1), Flatten(),
                        Dense(1)])
    model.compile("sgd", "mse")
    assert support.training_problem(model, [], [], None, []) is None
    for cls in (Conv1D, MaxPooling1D, AveragePooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D,
                GlobalMaxPooling2D, SpatialDropout2D, ZeroPadding2D, UpSampling2D, Embedding):
        assert cls in support.LAYERS


@pytest.mark.parametrize("make, shape", [(_sequence_model, (16, 4)), (_image_model, (6, 6, 2))])
def test_models_run_on_the_emulated_device_with_the_bits_of_the_native_loop(make, shape, monkeypatch):
    from emulated_device import EmulatedDevice

    x = RNG.standard_normal((40, *shape)).astype(np.float32)
    y = RNG.integers(0, 3, 40)
    host = make()
    host.fit(x, y, batch_size=8, epochs=2, verbose=0)
    device_model = make()
    device_model.device = EmulatedDevice()
    monkeypatch.setattr(NativeExecutor, "train_epoch", lambda *a: pytest.fail("device model ran on the host"))
    device_model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    for a, b in zip(device_model.get_weights(), host.get_weights()):
        np.testing.assert_array_equal(a, b)
