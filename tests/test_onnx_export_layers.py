"""ONNX export of the layers added with issue #19 (Conv1D and the 1-D poolings, global poolings,
LayerNormalization, Embedding on an int32 input, ZeroPadding2D, UpSampling2D) and of nested
models, against ``predict`` under onnxruntime within 1e-5 (the helpers of
tests/test_onnx_export.py)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

import axonal  # noqa: E402
from axonal.layers import (AveragePooling1D, Conv1D, Conv2D, Dense, Embedding, GlobalAveragePooling1D,  # noqa: E402
                           GlobalMaxPooling1D, GlobalMaxPooling2D, Input, Layer, LayerNormalization, MaxPooling1D,
                           UpSampling2D, ZeroPadding2D)
from axonal.models import Model, Sequential  # noqa: E402
from test_onnx_export import assert_matches_predict, randomize  # noqa: E402

RNG = np.random.default_rng(5)
IMAGES = RNG.normal(size=(7, 6, 5, 3)).astype(np.float32)
SEQUENCES = RNG.normal(size=(7, 9, 4)).astype(np.float32)


def _image_model(*layers, data_format=None):
    axonal.set_seed(1)
    return Sequential([Input(shape=(6, 5, 3)), *layers])


MODELS = {
    "zero padding + conv + global max": lambda: _image_model(
        ZeroPadding2D(((1, 2), (0, 1))), Conv2D(4, 3, activation="relu"), GlobalMaxPooling2D(), Dense(2)),
    "upsampling + conv + global max keepdims": lambda: _image_model(
        UpSampling2D((2, 3)), Conv2D(2, 3), GlobalMaxPooling2D(keepdims=True)),
    "channels_first padding and upsampling": lambda: _image_model(
        ZeroPadding2D(1, data_format="channels_first"), UpSampling2D(2, data_format="channels_first"),
        GlobalMaxPooling2D(data_format="channels_first"), Dense(3)),
    "layer normalization on images": lambda: _image_model(Conv2D(4, 1), LayerNormalization(), GlobalMaxPooling2D()),
    "sequence poolings and layer normalization": lambda: Sequential([
        Input(shape=(9, 4)), LayerNormalization(center=False), GlobalAveragePooling1D(), Dense(3)]),
    "global max over steps": lambda: Sequential([Input(shape=(9, 4)), GlobalMaxPooling1D(), Dense(2)]),
    "conv1d valid, max pool": lambda: Sequential([
        Input(shape=(9, 4)), Conv1D(5, 3, activation="relu"), MaxPooling1D(2), GlobalAveragePooling1D(), Dense(2)]),
    "conv1d causal strided, average pool same": lambda: Sequential([
        Input(shape=(9, 4)), Conv1D(3, 2, strides=2, padding="causal", activation="softmax"),
        AveragePooling1D(2, padding="same")]),
    "conv1d same without bias": lambda: Sequential([Input(shape=(9, 4)), Conv1D(4, 4, padding="same", use_bias=False)]),
}


@pytest.mark.parametrize("name", MODELS)
def test_newer_layers_export_with_predicts_outputs(name, tmp_path):
    model = MODELS[name]()
    randomize(model, seed=3)
    x = SEQUENCES if model.input_shape[1:] == (9, 4) else IMAGES
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the fast-path note of host layers
        assert_matches_predict(model, x, tmp_path / "m.onnx")


def test_a_nested_model_exports_as_its_layers(tmp_path):
    axonal.set_seed(2)
    base = Sequential([Input(shape=(6, 5, 3)), Conv2D(3, 3, activation="relu"), GlobalMaxPooling2D()], name="base")
    source = Input(shape=(6, 5, 3))
    model = Model(source, Dense(2, activation="softmax")(base(source)))
    randomize(model, seed=4)
    assert_matches_predict(model, IMAGES, tmp_path / "m.onnx")


def test_an_embedding_model_takes_int32_ids(tmp_path):
    axonal.set_seed(6)
    model = Sequential([Input(shape=(5,)), Embedding(12, 4), GlobalAveragePooling1D(), Dense(3, activation="softmax")])
    randomize(model, seed=7)
    ids = np.random.default_rng(8).integers(0, 12, (7, 5)).astype(np.int32)
    assert_matches_predict(model, ids, tmp_path / "m.onnx")


class _Doubling(Layer):
    def forward(self, x, training):
        return 2 * x


def test_a_layer_without_a_mapping_is_refused_by_name(tmp_path):
    model = Sequential([Input(shape=(9, 4)), _Doubling(name="twice")])
    with pytest.raises(ValueError, match="'twice' \\(_Doubling\\) has no ONNX mapping"):
        model.export(tmp_path / "m.onnx", format="onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_layer_normalization_over_other_axes_is_refused(tmp_path):
    model = Sequential([Input(shape=(9, 4)), LayerNormalization(axis=[1, 2])])
    with pytest.raises(ValueError, match="maps the last axis"):
        model.export(tmp_path / "m.onnx", format="onnx")
