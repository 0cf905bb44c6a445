"""Layers, activations, initialisers and utils on their own, on every available backend."""
import numpy as np
import pytest

import axonal
from axonal import activations, initializers
from axonal.layers import (Activation, Dense, Dropout, Embedding, Flatten, GlobalAveragePooling1D, Input, InputLayer,
                           Layer, Reshape, deserialize, serialize)
from axonal.models import Model, load_model
from axonal.utils import to_categorical

pytestmark = pytest.mark.usefixtures("backend")


def batch(rows, columns, seed=0):
    return np.random.default_rng(seed).standard_normal((rows, columns)).astype(np.float32)


def test_names_are_numbered_per_class_like_keras(backend):
    # A class name of its own per backend run, since names are counted for the whole session.
    gated_unit = type(f"GatedUnit{backend.capitalize()}", (Layer,), {})
    base = f"gated_unit_{backend}"
    assert [gated_unit().name for _ in range(3)] == [base, f"{base}_1", f"{base}_2"]
    assert Dense(2, name="head").name == "head"


def test_dense_builds_kernel_and_bias_from_the_input_width():
    layer = Dense(3, input_shape=(4,))
    output = layer(batch(5, 4))
    assert output.shape == (5, 3)
    assert [w.shape for w in layer.get_weights()] == [(4, 3), (3,)]
    assert layer.count_params() == 4 * 3 + 3
    assert layer.output_shape == (None, 3)


def test_dense_forward_matches_numpy_for_each_activation():
    x = batch(6, 4)
    for name, reference in [("linear", lambda z: z), ("relu", lambda z: np.maximum(z, 0)),
                            ("tanh", np.tanh), ("sigmoid", lambda z: 1 / (1 + np.exp(-z)))]:
        layer = Dense(3, activation=name)
        output = layer(x)
        kernel, bias = layer.get_weights()
        np.testing.assert_allclose(output, reference(x @ kernel + bias), rtol=1e-5, atol=1e-6)


def test_dense_backward_fills_gradients_and_input_gradient():
    layer = Dense(3)
    x = batch(5, 4)
    layer(x)  # builds and attaches
    dy = batch(5, 3, seed=1)
    layer.forward(x, training=True)
    dx = layer.backward(dy)
    kernel, _ = layer.get_weights()
    dkernel, dbias = layer.gradients
    np.testing.assert_allclose(dkernel, x.T @ dy, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dbias, dy.sum(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx, dy @ kernel.T, rtol=1e-5, atol=1e-5)


def test_first_layer_skips_the_input_gradient():
    layer = Dense(2)
    x = batch(3, 4)
    layer(x)
    layer.needs_input_gradient = False
    layer.forward(x, training=True)
    assert layer.backward(batch(3, 2)) is None


def test_frozen_layer_has_no_trainable_weights():
    layer = Dense(2, trainable=False)
    layer(batch(3, 4))
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 2
    assert layer.gradients == []


def test_buffers_are_reused_while_the_batch_shape_allows():
    layer = Dense(3)
    layer(batch(8, 4))
    first = layer.forward(batch(8, 4), training=False)
    again = layer.forward(batch(8, 4, seed=2), training=False)
    partial = layer.forward(batch(5, 4), training=False)
    assert np.shares_memory(first, again) and np.shares_memory(first, partial)
    assert partial.flags["C_CONTIGUOUS"]


def test_set_weights_round_trip_and_shape_check():
    layer = Dense(2)
    layer(batch(1, 3))
    kernel = np.arange(6, dtype=np.float32).reshape(3, 2)
    layer.set_weights([kernel, np.ones(2)])
    np.testing.assert_array_equal(layer.get_weights()[0], kernel)
    with pytest.raises(ValueError, match=r"has shape \(3, 2\), received an array of shape \(2, 3\)"):
        layer.set_weights([kernel.T, np.ones(2)])
    with pytest.raises(ValueError, match="expects 2 weight arrays"):
        layer.set_weights([kernel])


@pytest.mark.parametrize("layer", [
    Dense(7, activation="relu", use_bias=False, kernel_initializer="he_normal", input_shape=(5,)),
    Dense(3, kernel_initializer=initializers.RandomNormal(stddev=0.1, seed=4), trainable=False),
    Activation("softmax"), Dropout(0.3, seed=11), Flatten(), InputLayer(shape=(28, 28)),
], ids=lambda layer: type(layer).__name__)
def test_get_config_round_trip(layer):
    copy = deserialize(serialize(layer))
    assert type(copy) is type(layer)
    assert copy.get_config() == layer.get_config()


def test_dropout_is_identity_at_inference_and_inverted_in_training():
    layer = Dropout(0.5, seed=3)
    x = np.ones((64, 32), dtype=np.float32)
    np.testing.assert_array_equal(layer(x), x)
    output = layer.forward(x, training=True)
    kept = output != 0
    assert 0.35 < kept.mean() < 0.65
    np.testing.assert_allclose(output[kept], 2.0)
    dx = layer.backward(np.ones_like(x))
    np.testing.assert_array_equal(dx, output)


def test_dropout_mask_depends_on_the_step():
    layer = Dropout(0.5, seed=3)
    x = np.ones((16, 16), dtype=np.float32)
    layer(x)
    first = layer.forward(x, training=True).copy()
    assert np.array_equal(first, layer.forward(x, training=True))
    layer.steps.value += 1
    assert not np.array_equal(first, layer.forward(x, training=True))


def test_dropout_rejects_rates_outside_zero_to_one():
    with pytest.raises(ValueError, match=r"in \[0, 1\), received rate=1.5"):
        Dropout(1.5)


def test_flatten_and_activation_layers():
    images = np.random.default_rng(0).random((4, 3, 5)).astype(np.float32)
    flatten = Flatten()
    assert flatten(images).shape == (4, 15)
    assert flatten.compute_output_shape((None, 3, 5)) == (None, 15)
    np.testing.assert_array_equal(flatten.backward(np.ones((4, 15), np.float32)).shape, (4, 3, 5))
    probabilities = Activation("softmax")(batch(4, 6))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)


def test_activation_lookup():
    assert activations.get(None) == "linear"
    assert activations.get("ReLU") == "relu"
    assert activations.get(activations.leaky_relu) == "leaky_relu"
    np.testing.assert_allclose(activations.elu(np.array([[-1.0, 2.0]])), [[np.expm1(-1.0), 2.0]], rtol=1e-6)
    with pytest.raises(TypeError, match="fused kernels"):
        activations.get(lambda z: z)


def test_keras_3_activation_functions():
    """gelu (exact and approximate), silu/swish, softsign and mish as Keras 3 defines them."""
    import math
    x = np.array([[-3.0, -0.5, 0.0, 0.7, 2.5]], dtype=np.float32)
    z = x.astype(np.float64)
    erf = np.vectorize(math.erf)
    sigmoid = 1 / (1 + np.exp(-z))
    expected = {
        activations.gelu: 0.5 * z * (1 + erf(z / math.sqrt(2))),
        lambda v: activations.gelu(v, approximate=True):
            0.5 * z * (1 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z**3))),
        activations.silu: z * sigmoid,
        activations.swish: z * sigmoid,
        activations.softsign: z / (1 + np.abs(z)),
        activations.mish: z * np.tanh(np.log1p(np.exp(z))),
    }
    for function, values in expected.items():
        np.testing.assert_allclose(function(x), values, rtol=1e-5, atol=1e-7)
    assert [activations.get(name) for name in ("GELU", "gelu_approximate", "swish", "SiLU", "softsign", "mish")] \
        == ["gelu", "gelu_approximate", "silu", "silu", "softsign", "mish"]


def test_initializers_follow_keras_formulas_and_seeds():
    rng = np.random.default_rng(0)
    glorot = initializers.get("glorot_uniform")((300, 200), rng=rng)
    limit = np.sqrt(6 / 500)
    assert glorot.dtype == np.float32 and np.abs(glorot).max() <= limit
    assert abs(glorot.std() - limit / np.sqrt(3)) < 0.01 * limit
    he = initializers.HeNormal()((400, 300), rng=rng)
    assert np.abs(he).max() <= 2 * np.sqrt(2 / 400) / 0.87962566103423978 + 1e-6
    assert abs(he.std() - np.sqrt(2 / 400)) < 0.03 * np.sqrt(2 / 400)
    seeded = initializers.RandomUniform(seed=5)
    np.testing.assert_array_equal(seeded((3, 3)), seeded((3, 3)))
    np.testing.assert_array_equal(initializers.Constant(0.5)((2,)), [0.5, 0.5])
    restored = initializers.get(initializers.serialize(initializers.LecunNormal(seed=2)))
    assert isinstance(restored, initializers.LecunNormal) and restored.seed == 2


def test_layers_built_in_a_seeded_model_get_the_same_weights():
    from axonal.models import Sequential

    def weights():
        axonal.set_seed(123)
        return Sequential([Input(shape=(4,)), Dense(3), Dense(2)]).get_weights()

    for first, second in zip(weights(), weights()):
        np.testing.assert_array_equal(first, second)


def test_to_categorical_matches_keras():
    np.testing.assert_array_equal(to_categorical([0, 2, 1]), np.eye(3, dtype=np.float32)[[0, 2, 1]])
    assert to_categorical(np.array([[1], [3]]), num_classes=5).shape == (2, 5)
    with pytest.raises(ValueError, match=r"class ids in \[0, 3\), received values from 0 to 4"):
        to_categorical([0, 4], num_classes=3)


def test_a_custom_layer_trains_inside_a_model():
    from axonal.models import Sequential

    class Scale(Layer):
        def __init__(self, factor, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def forward(self, x, training):
            return np.multiply(x, self.factor, out=self.buffers.get("y", x.shape))

        def backward(self, dy):
            return np.multiply(dy, self.factor, out=self.buffers.get("dx", dy.shape))

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    axonal.set_seed(3)
    model = Sequential([Input(shape=(4,)), Dense(4), Scale(0.5), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = batch(32, 4)
    losses = model.fit(x, x.sum(axis=1), epochs=5, verbose=0).history["loss"]
    assert losses[-1] < losses[0]
    assert Scale.from_config(model.layers[1].get_config()).factor == 0.5


def test_reshape_infers_minus_one_and_passes_gradients_back():
    from axonal.models import Sequential

    layer = Reshape((-1, 2))
    x = batch(3, 6)
    np.testing.assert_array_equal(layer(x), x.reshape(3, 3, 2))
    assert layer.output_shape == (None, 3, 2)
    np.testing.assert_array_equal(layer.backward(x.reshape(3, 3, 2)), x)
    model = Sequential([Input(shape=(6,)), Reshape((3, 2)), Flatten(), Dense(1)])
    assert model.output_shape == (None, 1) and model.layers[0].get_config()["target_shape"] == (3, 2)
    with pytest.raises(ValueError, match=r"cannot reshape samples of shape \(6,\) \(6 values\) to "
                                         r"target_shape=\(4, 2\).*Fix"):
        Sequential([Input(shape=(6,)), Reshape((4, 2))])
    with pytest.raises(ValueError, match=r"at most one -1.*received target_shape=\(-1, -1\)"):
        Reshape((-1, -1))


def test_input_records_its_dtype_and_ids_train_through_an_embedding(tmp_path):
    ids = Input(shape=(6,), dtype="int32", name="ids")
    assert ids.dtype == "int32" and Input(shape=(3,)).dtype == "float32"
    model = Model(ids, Dense(2, activation="softmax")(GlobalAveragePooling1D()(Embedding(50, 4)(ids))))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).integers(0, 50, (16, 6))
    assert np.isfinite(model.fit(x, np.arange(16) % 2, epochs=1, verbose=0).history["loss"][0])
    for suffix in ("axonal", "keras"):
        model.save(tmp_path / f"m.{suffix}")
        loaded = load_model(tmp_path / f"m.{suffix}")
        assert loaded.get_layer("ids").dtype == "int32"
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("arguments, message", [
    ({"shape": (None,)}, r"variable length \(None\).*Fix: pad the samples to one length"),
    ({"shape": (3,), "dtype": "string"}, r"dtype='string' is not supported.*Fix:"),
])
def test_input_refuses_what_it_cannot_carry_with_the_fix(arguments, message):
    with pytest.raises(ValueError, match=message):
        Input(**arguments)


def test_input_takes_keras_batch_shape():
    assert Input(batch_shape=(None, 5)).shape == (None, 5)
    with pytest.raises(ValueError, match="not both"):
        Input(shape=(5,), batch_shape=(None, 5))
