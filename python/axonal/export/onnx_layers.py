"""Each axonal layer's inference computation as ONNX nodes.

A converter takes the graph, the layer (for a shared layer's later call, its call clone: the same
weight arrays) and the layer's input values, and returns its output value. :data:`CONVERTERS` maps
each layer class to its converter by exact class: a subclass may compute something else, so it
is refused like any layer without a mapping (:func:`converter_for`).

At inference Dropout and the image augmentations are the identity, as in ``predict``: they add no
node. Dense is ``Gemm`` (``MatMul`` without a bias) and its activation; Conv2D is ``Conv`` on the
kernel stored as ONNX wants it, (F, C, KH, KW); pooling is ``MaxPool``/``AveragePool`` with
axonal's explicit padding (which neither picks nor counts padded positions, as ONNX's defaults).
Rescaling and Normalization are ``Mul``/``Add`` and ``Sub``/``Div`` by the constants axonal's
``forward`` uses. The image layers take either ``data_format`` (:mod:`axonal.export.onnx_graph`
explains the layouts).

Example:
    >>> converter_for(Dense(3))(graph, layer, [Value("x", 2)])
    Value(name='dense/Gemm', rank=2, layout='keras')
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from axonal.export.onnx_activations import apply_activation, layer_activation
from axonal.export.onnx_graph import KERAS, MOVED, OnnxGraph, Value
from axonal.backend.reference_normalization import _inv_std, _scale_shift
from axonal.layers import (ELU, Activation, Add, AveragePooling1D, AveragePooling2D, Average, BatchNormalization,
                           Concatenate, Conv1D, Conv2D, Dense, Dropout, Embedding, Flatten, GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D,
                           GlobalMaxPooling2D, InputLayer, LayerNormalization, LeakyReLU, Maximum, MaxPooling1D,
                           MaxPooling2D,
                           Minimum, Multiply, Normalization, RandomContrast, RandomFlip, RandomRotation,
                           RandomTranslation, RandomZoom, ReLU, Rescaling, Reshape, Softmax, SpatialDropout2D, Subtract,
                           UpSampling2D, ZeroPadding2D)

Converter = Callable[[OnnxGraph, object, list], Value]


def _identity(graph: OnnxGraph, layer, inputs: list[Value]) -> Value:
    """Dropout, the augmentations, an InputLayer: unchanged at inference (no node)."""
    return inputs[0]


def _dense(graph: OnnxGraph, layer, inputs: list[Value]) -> Value:
    x = inputs[0]  # Dense takes (N, C) only (Dense.check_input_shape), so no layout to mind
    kernel = graph.weight(layer.kernel, f"{layer.name}/kernel")
    if layer.bias is not None:
        bias = graph.weight(layer.bias, f"{layer.name}/bias")
        z = graph.node("Gemm", [x.name, kernel, bias], f"{layer.name}/Gemm")
    else:
        z = graph.node("MatMul", [x.name, kernel], f"{layer.name}/MatMul")
    return apply_activation(graph, Value(z, 2), *layer_activation(layer), layer.name)


def _window_attributes(window: tuple, strides: tuple, padding: tuple) -> dict:
    """ONNX's kernel_shape, strides and pads ([top, left, bottom, right]) from axonal's explicit
    (top, bottom, left, right) padding."""
    top, bottom, left, right = padding
    return {"kernel_shape": list(window), "strides": list(strides), "pads": [top, left, bottom, right]}


def _image_input(graph: OnnxGraph, layer, x: Value) -> tuple[Value, str]:
    """The (N, C, H, W) tensor ``Conv``/pooling read, and the layout of what they write: a
    channels_last layer's image moved, a channels_first layer's as the model sees it."""
    if layer.channels_first:
        return graph.keras_order(x), KERAS
    return graph.moved(x), MOVED


def _conv2d(graph: OnnxGraph, layer, inputs: list[Value]) -> Value:
    x, layout = _image_input(graph, layer, inputs[0])
    # (KH, KW, C, F) -> (F, C, KH, KW), stored once per layer (a shared layer reuses it).
    kernel = graph.weight(layer.kernel.transpose(3, 2, 0, 1), f"{layer.name}/kernel", source=layer.kernel)
    names = [x.name, kernel] + ([graph.weight(layer.bias, f"{layer.name}/bias")] if layer.bias is not None else [])
    z = graph.node("Conv", names, f"{layer.name}/Conv",
                   **_window_attributes(layer.kernel_size, layer.strides, layer.explicit_padding))
    return apply_activation(graph, Value(z, 4, layout), *layer_activation(layer), layer.name)


def _pooling(operator: str, **extra) -> Converter:
    def convert(graph: OnnxGraph, layer, inputs: list[Value]) -> Value:
        x, layout = _image_input(graph, layer, inputs[0])
        y = graph.node(operator, [x.name], f"{layer.name}/{operator}",
                       **_window_attributes(layer.pool_size, layer.strides, layer.explicit_padding), **extra)
        return Value(y, 4, layout)
    return convert


def _global_average_pooling(graph: OnnxGraph, layer, inputs: list[Value]) -> Value:
    x = inputs[0]
    image_axes = (2, 3) if layer.channels_first else (1, 2)  # in the model's order; found in either layout
    axes = graph.constant([x.axis(a) for a in image_axes], f"{layer.name}/axes")
    return Value(graph.node("ReduceMean", [x.name, axes], f"{layer.name}/ReduceMean", keepdims=0), 2)


def _global_pooling(operator: str) -> Converter:
    """A global pooling over the image (or sequence) axes, in either layout; ``keepdims`` kept."""
    def convert(graph: OnnxGraph, layer, inputs: list[Value]) -> Value:
        x = inputs[0]
        channels_first = getattr(layer, "channels_first", False)
        spatial = range(2, x.rank) if channels_first else range(1, x.rank - 1)  # in the model's order
        axes = graph.constant([x.axis(a) for a in spatial], f"{layer.name}/axes")
        keep = bool(getattr(layer, "keepdims", False))
        y = graph.node(operator, [x.name, axes], f"{layer.name}/{operator}", keepdims=int(keep))
        return Value(y, x.rank, x.layout) if keep else Value(y, 2)
    return convert


def _layer_normalization(graph: OnnxGraph, layer, inputs: list[Value]) -> Value:
    """ONNX's LayerNormalization over the last axis (opset 17+); other axes and rms_scaling are refused."""
    if layer.rms_scaling or layer.axis not in (-1, [-1], layer.input_shape and len(layer.input_shape) - 1):
        raise ValueError(f"Layer {layer.name!r} (LayerNormalization) normalises axis {layer.axis!r}"
                         f"{' with rms_scaling' if layer.rms_scaling else ''}; the ONNX export maps the last axis "
                         "without rms_scaling only. Fix: export a model that normalises the last axis.")
    x = graph.keras_order(inputs[0])
    width = layer.input_shape[-1]
    gamma = layer.gamma if layer.gamma is not None else np.ones(width, np.float32)
    beta = layer.beta if layer.beta is not None else np.zeros(width, np.float32)
    names = [x.name, graph.weight(gamma, f"{layer.name}/gamma"), graph.weight(beta, f"{layer.name}/beta")]
    y = graph.node("LayerNormalization", names, f"{layer.name}/LayerNormalization", axis=-1,
                   epsilon=float(layer.epsilon))
    return Value(y, x.rank)


def _image_axes(layer, x: Value) -> tuple[int, int]:
    """Where the model's rows and columns axes sit in ``x`` (either data_format, either layout)."""
    rows = layer.rows_axis  # 1 (channels_last) or 2 (channels_first) in the model's order
    return x.axis(rows), x.axis(rows + 1)


def _zero_padding(graph: OnnxGraph, layer, inputs: list[Value]) -> Value:
    x = inputs[0]
    (top, bottom), (left, right) = layer.padding
    rows, columns = _image_axes(layer, x)
    begin, end = [0] * x.rank, [0] * x.rank
    begin[rows], end[rows], begin[columns], end[columns] = top, bottom, left, right
    pads = graph.constant(begin + end, f"{layer.name}/pads")
    return Value(graph.node("Pad", [x.name, pads], f"{layer.name}/Pad", mode="constant"), x.rank, x.layout)


def _upsampling(graph: OnnxGraph, layer, inputs: list[Value]) -> Value:
    """Nearest-neighbour repetition: ``Resize`` by whole factors, each output row (column) reading
    input row floor(i / factor), as axonal's repeat does."""
    x = inputs[0]
    rows, columns = _image_axes(layer, x)
    factors = [1.0] * x.rank
    factors[rows], factors[columns] = float(layer.size[0]), float(layer.size[1])
    scales = graph.weight(np.asarray(factors, np.float32), f"{layer.name}/scales")
    y = graph.node("Resize", [x.name, "", scales], f"{layer.name}/Resize", mode="nearest",
                   coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    return Value(y, x.rank, x.layout)


def _on_steps(graph: OnnxGraph, layer, x: Value, operator: str, extra_inputs: list[str], window: int,
              strides: int, **attributes) -> Value:
    """Conv1D and the 1-D poolings: ``operator`` on the (N, C, T) tensor between two Transposes of
    the (N, T, C) sequence (axonal runs them as one-row images: top and bottom padding are 0)."""
    _, _, left, right = layer.explicit_padding
    x = graph.keras_order(x)
    channels_first = graph.node("Transpose", [x.name], f"{layer.name}/to_NCT", perm=[0, 2, 1])
    y = graph.node(operator, [channels_first, *extra_inputs], f"{layer.name}/{operator}", kernel_shape=[window],
                   strides=[strides], pads=[left, right], **attributes)
    return Value(graph.node("Transpose", [y], f"{layer.name}/to_NTC", perm=[0, 2, 1]), 3)


def _conv1d(graph: OnnxGraph, layer, inputs: list[Value]) -> Value:
    # (K, C, F) -> (F, C, K), stored once per layer.
    kernel = graph.weight(layer.kernel.transpose(2, 1, 0), f"{layer.name}/kernel", source=layer.kernel)
    extra = [kernel] + ([graph.weight(layer.bias, f"{layer.name}/bias")] if layer.bias is not None else [])
    y = _on_steps(graph, layer, inputs[0], "Conv", extra, layer.kernel_size, layer.strides)
    return apply_activation(graph, y, *layer_activation(layer), layer.name)


def _pooling_1d(operator: str, **attributes) -> Converter:
    def convert(graph: OnnxGraph, layer, inputs: list[Value]) -> Value:
        return _on_steps(graph, layer, inputs[0], operator, [], layer.pool_size, layer.strides, **attributes)
    return convert


def _embedding(graph: OnnxGraph, layer, inputs: list[Value]) -> Value:
    """``Gather`` of the ids' rows (the graph input is int32 when only Embeddings read it)."""
    table = graph.weight(layer.embeddings, f"{layer.name}/embeddings")
    x = inputs[0]
    return Value(graph.node("Gather", [table, x.name], f"{layer.name}/Gather", axis=0), x.rank + 1)


def _flatten(graph: OnnxGraph, layer, inputs: list[Value]) -> Value:
    # Keras flattens the model's axes in order, so a moved image goes back first; a channels_first
    # Flatten moves the channels last before flattening, as Keras' does.
    x = graph.keras_order(inputs[0])
    if x.rank == 2:
        return x
    name = x.name
    if layer.transposes_channels:
        order = [0, *range(2, x.rank), 1]
        name = graph.node("Transpose", [name], f"{layer.name}/channels_last", perm=order)
    return Value(graph.node("Flatten", [name], f"{layer.name}/Flatten", axis=1), 2)


def _reshape(graph: OnnxGraph, layer, inputs: list[Value]) -> Value:
    x = graph.keras_order(inputs[0])
    # 0 copies the batch dimension (so the batch stays dynamic); the rest is resolved at build.
    shape = graph.constant([0, *layer.sample_shape], f"{layer.name}/shape")
    return Value(graph.node("Reshape", [x.name, shape], f"{layer.name}/Reshape"), 1 + len(layer.sample_shape))


def _rescaling(graph: OnnxGraph, layer, inputs: list[Value]) -> Value:
    x = graph.keras_order(inputs[0])  # a per-channel scale broadcasts over the model's last axis
    scale = graph.weight(np.asarray(layer.scale, dtype=np.float32), f"{layer.name}/scale")
    offset = graph.weight(np.asarray(layer.offset, dtype=np.float32), f"{layer.name}/offset")
    scaled = graph.node("Mul", [x.name, scale], f"{layer.name}/Mul")
    return Value(graph.node("Add", [scaled, offset], f"{layer.name}/Add"), x.rank)


def _normalization(graph: OnnxGraph, layer, inputs: list[Value]) -> Value:
    x = graph.keras_order(inputs[0])
    # The very constants forward() uses: the statistics shaped for one sample, the deviation floored.
    mean, deviation = layer._statistics(np.zeros((1, *layer.input_shape[1:]), dtype=np.float32))
    mean = graph.weight(np.asarray(mean, dtype=np.float32), f"{layer.name}/mean")
    deviation = graph.weight(np.asarray(deviation, dtype=np.float32), f"{layer.name}/deviation")
    if layer.invert:
        scaled = graph.node("Mul", [x.name, deviation], f"{layer.name}/Mul")
        return Value(graph.node("Add", [scaled, mean], f"{layer.name}/Add"), x.rank)
    centred = graph.node("Sub", [x.name, mean], f"{layer.name}/Sub")
    return Value(graph.node("Div", [centred, deviation], f"{layer.name}/Div"), x.rank)


def _batch_normalization(graph: OnnxGraph, layer, inputs: list[Value]) -> Value:
    """Inference: ``x * a + b`` per channel with the reference kernel's own a and b (from the moving
    statistics, gamma and beta), broadcast along the layer's channel axis in either layout."""
    x = inputs[0]
    inv_std = _inv_std(layer.moving_variance.astype(np.float64), layer.epsilon, np.float32)
    a, b = _scale_shift(layer.moving_mean, inv_std, layer.gamma, layer.beta)
    trailing = x.rank - 1 - x.axis(layer.axis)  # axes after the channel one, where the constants broadcast
    shape = (-1,) + (1,) * trailing
    a = graph.weight(np.asarray(a, np.float32).reshape(shape), f"{layer.name}/scale")
    b = graph.weight(np.asarray(b, np.float32).reshape(shape), f"{layer.name}/shift")
    scaled = graph.node("Mul", [x.name, a], f"{layer.name}/Mul")
    return Value(graph.node("Add", [scaled, b], f"{layer.name}/Add"), x.rank, x.layout)


def _activation(graph: OnnxGraph, layer, inputs: list[Value]) -> Value:
    return apply_activation(graph, inputs[0], *layer_activation(layer), layer.name)


def _merge(operator: str, variadic: bool) -> Converter:
    """An elementwise merge: one node of a variadic operator (Sum, Mean, Max, Min), or a chain of
    a binary one (Sub, Mul) applied left to right, as axonal's kernels combine the inputs."""
    def convert(graph: OnnxGraph, layer, inputs: list[Value]) -> Value:
        values = graph.same_layout(inputs)
        if variadic:
            name = graph.node(operator, [v.name for v in values], f"{layer.name}/{operator}")
        else:
            name = values[0].name
            for value in values[1:]:
                name = graph.node(operator, [name, value.name], f"{layer.name}/{operator}")
        return Value(name, values[0].rank, values[0].layout)
    return convert


def _concatenate(graph: OnnxGraph, layer, inputs: list[Value]) -> Value:
    values = graph.same_layout(inputs)
    axis = values[0].channel_axis  # Keras' last axis (Concatenate refuses any other)
    name = graph.node("Concat", [v.name for v in values], f"{layer.name}/Concat", axis=axis)
    return Value(name, values[0].rank, values[0].layout)


CONVERTERS: dict[type, Converter] = {
    InputLayer: _identity, Dropout: _identity, RandomFlip: _identity, RandomTranslation: _identity,
    RandomRotation: _identity, RandomZoom: _identity, RandomContrast: _identity, SpatialDropout2D: _identity,
    Dense: _dense, Conv2D: _conv2d, Flatten: _flatten, Reshape: _reshape, BatchNormalization: _batch_normalization,
    # The activation layers are Activations with Keras' arguments (their activation and alpha).
    Activation: _activation, ReLU: _activation, LeakyReLU: _activation, ELU: _activation, Softmax: _activation,
    Rescaling: _rescaling, Normalization: _normalization,
    MaxPooling2D: _pooling("MaxPool"),
    # count_include_pad=0: 'same' padding is not counted in the mean, as in axonal and Keras.
    AveragePooling2D: _pooling("AveragePool", count_include_pad=0),
    GlobalAveragePooling2D: _global_average_pooling, GlobalMaxPooling2D: _global_pooling("ReduceMax"),
    GlobalAveragePooling1D: _global_pooling("ReduceMean"), GlobalMaxPooling1D: _global_pooling("ReduceMax"),
    LayerNormalization: _layer_normalization, ZeroPadding2D: _zero_padding, UpSampling2D: _upsampling,
    Conv1D: _conv1d, MaxPooling1D: _pooling_1d("MaxPool"), AveragePooling1D: _pooling_1d("AveragePool", count_include_pad=0),
    Embedding: _embedding,
    Add: _merge("Sum", variadic=True), Subtract: _merge("Sub", variadic=False),
    Multiply: _merge("Mul", variadic=False), Average: _merge("Mean", variadic=True),
    Maximum: _merge("Max", variadic=True), Minimum: _merge("Min", variadic=True),
    Concatenate: _concatenate,
}


def converter_for(layer) -> Converter:
    """The converter of ``layer``'s exact class.

    Raises:
        ValueError: naming the layer and its class, for a class without a mapping (a user's layer,
            a subclass of axonal's) or an instance whose ``forward`` was replaced.
    """
    converter = CONVERTERS.get(type(layer))
    if converter is None or "forward" in vars(layer):
        what = "has its forward method replaced" if converter is not None else "has no ONNX mapping"
        mapped = ", ".join(sorted(cls.__name__ for cls in CONVERTERS))
        raise ValueError(f"Layer {layer.name!r} ({type(layer).__name__}) {what}, so the model cannot be exported "
                         f"to ONNX. axonal.export maps these layer classes: {mapped}. Fix: build the model from "
                         "those layers (a subclass is refused too: it may compute something else), or export "
                         "the weights with model.save_weights() instead.")
    return converter
