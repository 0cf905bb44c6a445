"""ONNX export (issue 21, point 3): the exported graph, run by onnxruntime, gives ``predict``'s outputs.

Every comparison exports a model whose weights (biases included) are random, runs the file under
onnxruntime on odd batch sizes and checks the outputs against axonal's ``predict`` within 1e-5.
The models: the seed MLP, the churn model, the seed CNN, functional models with two inputs and
two outputs, every activation (fused into Dense and Conv2D, and as an Activation layer), every
merge in both image layouts, pooling with either padding, Reshape/Flatten orders, a shared layer.
Then the file itself (checker, names, dynamic batch, opset), and every refusal.
"""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import axonal  # noqa: E402
from axonal import activations  # noqa: E402
from axonal.export import DEFAULT_OPSET, build_onnx_model, export_onnx  # noqa: E402
from axonal.layers import (ELU, Activation, Add, Average, AveragePooling2D, BatchNormalization,  # noqa: E402
                           Concatenate, Conv2D, Dense, Dropout, Flatten, GlobalAveragePooling2D, Input, Layer,
                           LeakyReLU, Maximum, MaxPooling2D, Minimum, Multiply, Normalization, RandomContrast,
                           RandomFlip, RandomRotation, RandomTranslation, RandomZoom, ReLU, Rescaling, Reshape, Softmax,
                           SpatialDropout2D, Subtract)
from axonal.models import Model, Sequential  # noqa: E402
from functional_models import BUILDERS  # noqa: E402

TOLERANCE = 1e-5
BATCHES = (1, 7)


# ----- helpers -----------------------------------------------------------------------------------

def randomize(model, seed: int = 0, scale: float = 0.3) -> None:
    """Random weights and biases (initialisers leave biases at zero, which would hide a wrong bias)."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, scale, w.shape).astype(np.float32) for w in model.get_weights()])


def session_for(path) -> ort.InferenceSession:
    return ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])


def onnx_outputs(model, x, path) -> list[np.ndarray]:
    """Export ``model`` to ``path`` and run it on ``x`` (an array, a list or a dict by input name)."""
    model.export(path, format="onnx")
    session = session_for(path)
    names = [i.name for i in session.get_inputs()]
    arrays = x if isinstance(x, (list, tuple)) else list(x.values()) if isinstance(x, dict) else [x]
    return session.run(None, dict(zip(names, arrays)))


def assert_matches_predict(model, x, path) -> None:
    expected = model.predict(x, verbose=0)
    expected = expected if isinstance(expected, list) else [expected]
    got = onnx_outputs(model, x, path)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape and g.dtype == np.float32
        np.testing.assert_allclose(g, e, rtol=TOLERANCE, atol=TOLERANCE)


def batch_of(model, rows: int, seed: int = 1):
    """Normal inputs for every model input, ``rows`` samples each."""
    rng = np.random.default_rng(seed)
    shapes = model.input_shape if len(model.input_names) > 1 else [model.input_shape]
    arrays = [rng.normal(size=(rows, *shape[1:])).astype(np.float32) for shape in shapes]
    return arrays if len(arrays) > 1 else arrays[0]


def seed_mlp():
    axonal.set_seed(3)
    model = Sequential([Input(shape=(784,)), Dense(512, activation="relu"), Dropout(0.2),
                        Dense(512, activation="relu"), Dropout(0.2), Dense(10, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def churn():
    axonal.set_seed(4)
    model = Sequential([Dense(6, activation="relu", input_shape=(11,)), Dense(6, activation="relu"),
                        Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def seed_cnn():
    axonal.set_seed(5)
    model = Sequential([Input(shape=(28, 28, 1)), Conv2D(32, kernel_size=(3, 3), activation="relu"),
                        Conv2D(32, (3, 3), activation="relu"), MaxPooling2D(pool_size=(2, 2)),
                        Conv2D(64, (3, 3), activation="relu"), Conv2D(64, (3, 3), activation="relu"),
                        MaxPooling2D(pool_size=(2, 2)), Flatten(), Dense(1024, activation="sigmoid"), Dropout(0.2),
                        Dense(1024, activation="sigmoid"), Dropout(0.2), Dense(10, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def two_input_model():
    """Two named inputs (an image and numbers), two named outputs, Concatenate."""
    axonal.set_seed(6)
    image, numbers = Input(shape=(9, 9, 2), name="image"), Input(shape=(3,), name="numbers")
    seen = Flatten()(MaxPooling2D()(Conv2D(4, 3, activation="relu")(image)))
    joined = Concatenate()([seen, Dense(5, activation="tanh")(numbers)])
    label = Dense(4, activation="softmax", name="label")(joined)
    box = Dense(2, name="box")(joined)
    model = Model([image, numbers], [label, box])
    model.compile(optimizer="adam", loss={"label": "sparse_categorical_crossentropy", "box": "mse"})
    return model


# ----- the models of the issue -----------------------------------------------------------------

@pytest.mark.parametrize("rows", BATCHES)
def test_seed_mlp_matches_predict(backend, rows, tmp_path):
    model = seed_mlp()
    randomize(model, scale=0.05)
    x = np.random.default_rng(rows).random((rows, 784), dtype=np.float32)
    assert_matches_predict(model, x, tmp_path / "mlp.onnx")
    # The file applies the softmax the compiled loss absorbs during training: probabilities.
    np.testing.assert_allclose(onnx_outputs(model, x, tmp_path / "mlp.onnx")[0].sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("rows", BATCHES)
def test_churn_model_matches_predict(backend, rows, tmp_path):
    model = churn()
    randomize(model, scale=0.8)
    assert_matches_predict(model, batch_of(model, rows), tmp_path / "churn.onnx")


@pytest.mark.parametrize("rows", BATCHES)
def test_seed_cnn_matches_predict(rows, tmp_path):
    model = seed_cnn()
    randomize(model, scale=0.05)
    x = np.random.default_rng(rows).random((rows, 28, 28, 1), dtype=np.float32)
    assert_matches_predict(model, x, tmp_path / "cnn.onnx")
    # One transpose at the input edge, none between the convolutions, one back before Flatten.
    graph = onnx.load(tmp_path / "cnn.onnx").graph
    assert [node.op_type for node in graph.node].count("Transpose") == 2


@pytest.mark.parametrize("rows", BATCHES)
def test_two_input_functional_model_matches_predict_with_its_names(backend, rows, tmp_path):
    model = two_input_model()
    randomize(model)
    x = batch_of(model, rows)
    assert_matches_predict(model, x, tmp_path / "two.onnx")
    session = session_for(tmp_path / "two.onnx")
    assert [i.name for i in session.get_inputs()] == ["image", "numbers"]
    assert [o.name for o in session.get_outputs()] == ["label", "box"]
    # Fed by name, in the other order, as predict takes a dict.
    label, box = session.run(["label", "box"], {"numbers": x[1], "image": x[0]})
    expected = model.predict({"image": x[0], "numbers": x[1]}, verbose=0)
    np.testing.assert_allclose(label, expected[0], rtol=TOLERANCE, atol=TOLERANCE)
    np.testing.assert_allclose(box, expected[1], rtol=TOLERANCE, atol=TOLERANCE)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_functional_test_models_match_predict(name, tmp_path):
    """The functional suite's models: residual Add, shared layer with Dropout, every merge with a
    tensor that is also an output, a frozen layer, a residual CNN with global pooling."""
    model, x, _ = BUILDERS[name]()
    randomize(model, seed=len(name))
    x = x[:7] if isinstance(x, np.ndarray) else [a[:7] for a in x]
    assert_matches_predict(model, x, tmp_path / f"{name}.onnx")


def test_a_shared_layer_stores_its_weights_once(tmp_path):
    model, _, _ = BUILDERS["shared_layer"]()
    proto = build_onnx_model(model)
    kernels = [i.name for i in proto.graph.initializer if i.name.startswith("shared/")]
    assert kernels == ["shared/kernel", "shared/bias"]
    assert [n.op_type for n in proto.graph.node].count("Gemm") == 3  # two calls of shared, one of the head


# ----- activations, layers and layouts ------------------------------------------------------------

@pytest.mark.parametrize("activation", sorted(activations.TABLE))
def test_every_activation_in_dense_conv_and_activation_layers(activation, tmp_path):
    axonal.set_seed(7)
    image = Input(shape=(5, 5, 2), name="image")
    conv = Conv2D(3, 3, padding="same", activation=activation)(image)        # fused, channels_first
    on_image = Activation(activation)(image)                                 # on the channels_last input
    flat = Flatten()(conv)
    dense = Dense(6, activation=activation)(flat)                              # fused into Gemm
    alone = Activation(activation, name="alone")(Dense(6)(flat))
    model = Model(image, [conv, on_image, dense, alone])
    randomize(model, scale=0.7)
    x = np.random.default_rng(2).normal(0, 2, (7, 5, 5, 2)).astype(np.float32)
    x[0, 0, 0] = 0.0  # hard_step's threshold: 1 at exactly 0
    assert_matches_predict(model, x, tmp_path / f"{activation}.onnx")


def test_every_mapped_activation_is_an_activation_of_axonal():
    from axonal.export.onnx_activations import SUPPORTED
    assert SUPPORTED == set(activations.TABLE)


@pytest.mark.parametrize("layout", ["dense", "image"])
def test_every_merge_in_either_layout(layout, tmp_path):
    """Every merge on three inputs (two for Subtract); on images the inputs come from convolutions
    (channels_first inside the graph) and one straight from the input (channels_last)."""
    axonal.set_seed(8)
    if layout == "dense":
        inputs = Input(shape=(6,), name="x")
        branches = [Dense(6, activation="tanh")(inputs) for _ in range(2)] + [inputs]
    else:
        inputs = Input(shape=(6, 6, 3), name="x")
        branches = [Conv2D(3, 3, padding="same", activation="tanh")(inputs) for _ in range(2)] + [inputs]
    merged = [Add()(branches), Subtract()(branches[:2]), Multiply()(branches), Average()(branches),
              Maximum()(branches), Minimum()(branches), Concatenate(name="joined")(branches)]
    model = Model(inputs, merged)
    randomize(model, scale=0.5)
    assert_matches_predict(model, batch_of(model, 7), tmp_path / "merges.onnx")


def test_pooling_padding_strides_and_global_average_in_either_layout(tmp_path):
    axonal.set_seed(9)
    image = Input(shape=(7, 9, 2), name="image")
    conv = Conv2D(4, (3, 2), strides=(2, 1), padding="same", activation="relu")(image)
    outputs = [MaxPooling2D(3, strides=2, padding="same")(conv),     # odd padding: bottom/right
               AveragePooling2D(2, strides=1, padding="same")(conv),  # padding not counted
               AveragePooling2D((2, 3), padding="valid")(image),
               MaxPooling2D(2)(image),
               GlobalAveragePooling2D(name="mean_of_conv")(conv),     # channels_first
               GlobalAveragePooling2D(name="mean_of_image")(image),   # channels_last
               Activation("softmax", name="channel_softmax")(conv)]   # over the channels
    model = Model(image, outputs)
    randomize(model)
    assert_matches_predict(model, batch_of(model, 7), tmp_path / "pool.onnx")


def test_flatten_and_reshape_keep_keras_value_order(tmp_path):
    """Flatten after a convolution flattens (H, W, C); Reshape to an image and back; the
    augmentations are identities."""
    axonal.set_seed(10)
    model = Sequential([Input(shape=(48,)), Reshape((4, -1, 3)), RandomFlip("horizontal"),
                        RandomTranslation(0.2, 0.2), Conv2D(5, 2, activation="elu"), Reshape((-1,)),
                        Dense(4), Reshape((2, 2, 1)), Conv2D(2, 1), Flatten(), Dense(3)])
    randomize(model)
    assert_matches_predict(model, batch_of(model, 7), tmp_path / "reshape.onnx")


def test_channels_first_layers_read_and_write_the_model_axis_order(tmp_path):
    """data_format='channels_first': images (N, C, H, W) in, Flatten moving the channels last as
    Keras' does; mixed with channels_last layers (which see the axes differently) in one model."""
    axonal.set_seed(13)
    image = Input(shape=(2, 9, 8), name="image")
    first = Conv2D(3, 3, padding="same", activation="relu", data_format="channels_first")(image)
    pooled = MaxPooling2D(2, data_format="channels_first")(first)
    averaged = AveragePooling2D(2, strides=1, padding="same", data_format="channels_first")(pooled)
    last = Conv2D(4, 2, data_format="channels_last")(averaged)        # reads (C=3, H=4, W=4) as (H, W, C)
    outputs = [Dense(3)(Flatten(data_format="channels_first")(averaged)),
               GlobalAveragePooling2D(data_format="channels_first", name="gap_first")(last),
               GlobalAveragePooling2D(data_format="channels_last", name="gap_last")(pooled),
               Flatten(data_format="channels_last", name="flat_last")(last), last]
    model = Model(image, outputs)
    randomize(model)
    assert_matches_predict(model, batch_of(model, 7), tmp_path / "first.onnx")


def test_channels_first_seed_cnn_matches_predict(tmp_path):
    axonal.set_seed(14)
    model = Sequential([Input(shape=(1, 28, 28)), Conv2D(8, 3, activation="relu", data_format="channels_first"),
                        MaxPooling2D(2, data_format="channels_first"), Flatten(data_format="channels_first"),
                        Dense(10, activation="softmax")])
    randomize(model, scale=0.1)
    assert_matches_predict(model, np.random.default_rng(4).random((7, 1, 28, 28), dtype=np.float32),
                           tmp_path / "cnn_first.onnx")


def test_preprocessing_layers_and_every_augmentation(tmp_path):
    """Rescaling and Normalization compute what forward computes; the augmentations are identities."""
    axonal.set_seed(15)
    rng = np.random.default_rng(6)
    per_feature = Normalization()
    per_feature.adapt(rng.normal(3, 2, (50, 6)))
    on_images = Normalization(axis=-1, mean=[0.5, -1.0], variance=[4.0, 0.0])  # a zero variance is floored
    image = Input(shape=(6, 6, 2), name="image")
    table = Input(shape=(6,), name="table")
    x = Rescaling(1 / 255, offset=-0.5)(image)
    x = Rescaling([2.0, 0.5])(x)
    for layer in (RandomFlip(), RandomTranslation(0.2, 0.2), RandomRotation(0.2), RandomZoom(0.2),
                  RandomContrast(0.3)):
        x = layer(x)
    conv = Conv2D(2, 3, activation="tanh")(x)
    normalized = on_images(conv)                                       # on a moved image: back first
    inverted = Normalization(axis=None, mean=1.0, variance=9.0, invert=True, name="inverted")(per_feature(table))
    model = Model([image, table], [normalized, inverted, Dense(2)(per_feature(table))])
    randomize(model)
    x = [rng.integers(0, 256, (7, 6, 6, 2)).astype(np.float32), rng.normal(3, 2, (7, 6)).astype(np.float32)]
    assert_matches_predict(model, x, tmp_path / "pre.onnx")


def test_batch_normalization_and_the_activation_layers(tmp_path):
    """BatchNormalization at inference (moving statistics) on rows, on channels_last images (moved
    inside the graph) and on channels_first images (axis=1); ReLU, LeakyReLU, ELU, Softmax layers;
    SpatialDropout2D is an identity."""
    axonal.set_seed(16)
    image = Input(shape=(6, 6, 3), name="image")
    x = BatchNormalization()(Conv2D(4, 3, padding="same")(image))
    x = SpatialDropout2D(0.3)(ReLU()(x))
    first = Conv2D(2, 3, data_format="channels_first")(Reshape((3, 6, 6))(image))
    first = BatchNormalization(axis=1, center=False)(first)
    rows = Dense(5)(Flatten()(x))
    outputs = [Softmax()(x), ELU(alpha=0.5)(BatchNormalization(scale=False)(rows)),
               LeakyReLU(negative_slope=0.2)(first), ReLU(negative_slope=0.1)(rows)]
    model = Model(image, outputs)
    randomize(model, scale=0.5)
    for layer in model.layers:  # positive variances, as training would leave them
        if isinstance(layer, BatchNormalization):
            layer.moving_variance = np.abs(layer.moving_variance) + 0.1
    assert_matches_predict(model, batch_of(model, 7), tmp_path / "bn.onnx")


def test_a_normalization_without_statistics_is_refused(tmp_path):
    model = Sequential([Input(shape=(3,)), Normalization(name="norm"), Dense(1)])
    with pytest.raises(ValueError, match=r"'norm' \(Normalization\) has no statistics yet.*adapt"):
        model.export(tmp_path / "m.onnx")
    assert not os.listdir(tmp_path)


def test_a_model_without_biases(tmp_path):
    axonal.set_seed(11)
    model = Sequential([Input(shape=(6, 6, 1)), Conv2D(2, 3, use_bias=False), Flatten(),
                        Dense(3, use_bias=False, activation="softmax")])
    randomize(model)
    assert_matches_predict(model, batch_of(model, 7), tmp_path / "nobias.onnx")


# ----- the file ------------------------------------------------------------------------------------

def test_the_file_passes_the_checker_with_a_dynamic_batch_and_the_model_names(tmp_path):
    model = two_input_model()
    path = tmp_path / "two.onnx"
    export_onnx(model, path)
    onnx.checker.check_model(os.fspath(path), full_check=True)
    proto = onnx.load(path)
    assert proto.opset_import[0].version == DEFAULT_OPSET and proto.producer_name == "axonal"
    for value, shape in zip(proto.graph.input, model.input_shape):
        dims = value.type.tensor_type.shape.dim
        assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == list(shape[1:])
    for value, shape in zip(proto.graph.output, model.output_shapes):
        dims = value.type.tensor_type.shape.dim
        assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == list(shape[1:])
    ops = {node.op_type for node in proto.graph.node}
    assert "Dropout" not in ops


def test_a_one_layer_sequential_renames_its_input_apart_from_its_output(tmp_path):
    axonal.set_seed(12)
    model = Sequential([Dense(2, input_shape=(3,), name="only")])
    model.export(tmp_path / "one.onnx")
    session = session_for(tmp_path / "one.onnx")
    assert [i.name for i in session.get_inputs()] == ["only_input"]
    assert [o.name for o in session.get_outputs()] == ["only"]


@pytest.mark.parametrize("opset", [DEFAULT_OPSET, DEFAULT_OPSET + 1, DEFAULT_OPSET + 2])
def test_other_opsets(opset, tmp_path):
    model = churn()
    model.export(tmp_path / "churn.onnx", format="onnx", opset_version=opset)
    assert onnx.load(tmp_path / "churn.onnx").opset_import[0].version == opset
    assert_matches_predict(model, batch_of(model, 7), tmp_path / "churn.onnx")


def test_verbose_prints_one_line(tmp_path, capsys):
    churn().export(tmp_path / "churn.onnx", format="onnx", verbose=True)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "churn.onnx" in out and f"opset {DEFAULT_OPSET}" in out


def test_an_existing_file_is_replaced_whole_and_no_temporary_is_left(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old")
    churn().export(path)
    assert onnx.load(path).graph.node and sorted(os.listdir(tmp_path)) == ["m.onnx"]


# ----- refusals -------------------------------------------------------------------------------------

class Doubling(Layer):
    def forward(self, x, training):
        return x * 2

    def backward(self, dy):
        return dy * 2


class MyDense(Dense):
    pass


@pytest.mark.parametrize("layer, class_name", [(Doubling(name="twice"), "Doubling"),
                                                (MyDense(4, name="twice"), "MyDense")])
def test_a_layer_without_mapping_is_refused_by_name_and_class_and_nothing_is_written(layer, class_name, tmp_path):
    model = Sequential([Input(shape=(4,)), Dense(4), layer, Dense(2)])
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old")
    with pytest.raises(ValueError, match=rf"Layer 'twice' \({class_name}\) has no ONNX mapping.*Dense.*Fix"):
        model.export(path, format="onnx")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["m.onnx"]


def test_a_replaced_forward_is_refused(tmp_path):
    model = churn()
    model.layers[1].forward = lambda x, training: x
    with pytest.raises(ValueError, match=r"Layer 'dense_\d+' \(Dense\) has its forward method replaced"):
        model.export(tmp_path / "m.onnx")


def test_an_unbuilt_model_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"is not built.*Fix: start it with Input"):
        Sequential([Dense(3)]).export(tmp_path / "m.onnx", format="onnx")


@pytest.mark.parametrize("kwargs, error, message", [
    ({"format": "tf_saved_model"}, ValueError, r"format='tf_saved_model'\) is a Keras format axonal does not write"),
    ({"format": "pickle"}, ValueError, r"unknown format 'pickle'.*Fix: pass format='onnx'"),
    ({"input_signature": [(None, 11)]}, ValueError, r"input_signature=...\) is not supported"),
    ({"format": "onnx", "optimize": True}, TypeError, r"unknown argument\(s\) \['optimize'\]"),
    ({"format": "onnx", "opset_version": 13}, ValueError, r"opset_version must be an integer from 20"),
    ({"format": "onnx", "opset_version": "20"}, ValueError, r"opset_version must be an integer"),
])
def test_bad_export_arguments_are_refused(kwargs, error, message, tmp_path):
    with pytest.raises(error, match=message):
        churn().export(tmp_path / "m.onnx", **kwargs)
    assert not os.listdir(tmp_path)


def test_the_format_is_needed_unless_the_path_says_onnx(tmp_path):
    with pytest.raises(ValueError, match=r"needs format='onnx'.*'.*m\.bin'"):
        churn().export(tmp_path / "m.bin")
    churn().export(tmp_path / "m.ONNX")  # the suffix in any case
    assert os.listdir(tmp_path) == ["m.ONNX"]


def test_a_repeated_output_is_refused(tmp_path):
    inputs = Input(shape=(3,))
    hidden = Dense(2, name="hidden")(inputs)
    with pytest.raises(ValueError, match=r"lists output\(s\) \['hidden'\] more than once"):
        Model(inputs, [hidden, hidden]).export(tmp_path / "m.onnx")


def test_axonal_imports_onnx_only_to_export():
    import subprocess
    code = ("import sys, axonal; from axonal.models import Sequential; from axonal.layers import Dense; "
            "Sequential([Dense(2, input_shape=(3,))]).predict([[1.0, 2.0, 3.0]], verbose=0); "
            "assert 'onnx' not in sys.modules and 'onnxruntime' not in sys.modules, 'imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_ir_version_is_the_oldest_that_carries_the_opset():
    proto = build_onnx_model(churn())
    assert proto.ir_version == onnx.helper.find_min_ir_version_for(list(proto.opset_import)) == 9


def test_without_onnx_the_export_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` raise ImportError
    with pytest.raises(ImportError, match=r"pip install 'axonal\[onnx\]'"):
        churn().export(tmp_path / "m.onnx")
