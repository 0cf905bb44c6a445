"""Every activation of :data:`axonal.activations.TABLE` as ONNX operators.

Most have an operator of their own (``Relu``, ``Gelu``...); three are composed from standard
operators, with the same maths as axonal's kernels (``docs/onnx.md`` lists each):

- ``silu``: ``x * Sigmoid(x)`` (ONNX's ``Swish`` only arrives in opset 24);
- ``hard_step``: ``Cast(x >= 0)``, 1 where ``x >= 0`` else 0, as the perceptron's threshold;
- ``softmax``: ``Softmax`` over the model's last axis (axis 1 in an image the graph keeps with its
  channels moved first).

``alpha`` is the value the layer's kernels receive (``leaky_relu``'s slope, ``elu``'s scale).

Example:
    >>> apply_activation(graph, Value("dense/MatMul", 2), "gelu", 0.0, "dense")
    Value(name='dense/gelu', rank=2, layout='keras')
"""
from __future__ import annotations

import numpy as np

from axonal.export.onnx_graph import OnnxGraph, Value

# Activations that are one ONNX operator: name -> (operator, attributes given alpha).
_SINGLE_OPERATOR = {
    "relu": ("Relu", lambda alpha: {}),
    "leaky_relu": ("LeakyRelu", lambda alpha: {"alpha": float(alpha)}),
    "elu": ("Elu", lambda alpha: {"alpha": float(alpha)}),
    "sigmoid": ("Sigmoid", lambda alpha: {}),
    "tanh": ("Tanh", lambda alpha: {}),
    "softplus": ("Softplus", lambda alpha: {}),
    "softsign": ("Softsign", lambda alpha: {}),
    "gelu": ("Gelu", lambda alpha: {"approximate": "none"}),
    "gelu_approximate": ("Gelu", lambda alpha: {"approximate": "tanh"}),
    "mish": ("Mish", lambda alpha: {}),
}
# The activations written with several operators or with an axis, below.
_COMPOSED = ("linear", "softmax", "silu", "hard_step")
SUPPORTED = frozenset(_SINGLE_OPERATOR) | frozenset(_COMPOSED)
# One float32 zero, shared by every hard_step of a graph (OnnxGraph.weight keys on the array).
_ZERO = np.zeros((), dtype=np.float32)


def apply_activation(graph: OnnxGraph, value: Value, name: str, alpha: float, base: str) -> Value:
    """``value`` through activation ``name`` (a name of :data:`axonal.activations.TABLE`), in its layout.

    Args:
        graph: the graph to add the nodes to.
        value: the pre-activation tensor.
        name: the activation's canonical name.
        alpha: the activation's scalar parameter (see :func:`axonal.activations.default_alpha`).
        base: prefix of the new value's name (the layer's name).

    Raises:
        ValueError: for a name this module does not map (a new row of the table without an ONNX
            mapping yet); ``tests/test_onnx_export.py`` exports every row, so this fails a test first.
    """
    if name == "linear":
        return value
    if name in _SINGLE_OPERATOR:
        operator, attributes = _SINGLE_OPERATOR[name]
        output = graph.node(operator, [value.name], f"{base}/{name}", **attributes(alpha))
    elif name == "softmax":
        output = graph.node("Softmax", [value.name], f"{base}/softmax", axis=value.channel_axis)
    elif name == "silu":
        gate = graph.node("Sigmoid", [value.name], f"{base}/silu_gate")
        output = graph.node("Mul", [value.name, gate], f"{base}/silu")
    elif name == "hard_step":
        zero = graph.weight(_ZERO, "hard_step_threshold")
        above = graph.node("GreaterOrEqual", [value.name, zero], f"{base}/hard_step_test")
        output = graph.node("Cast", [above], f"{base}/hard_step", to=graph.onnx.TensorProto.FLOAT)
    else:
        raise ValueError(f"Activation {name!r} has no ONNX mapping in axonal.export (mapped: {sorted(SUPPORTED)}). "
                         f"Fix: add it to axonal/export/onnx_activations.py, or use one of those activations.")
    return Value(output, value.rank, value.layout)


def layer_activation(layer) -> tuple[str, float]:
    """The activation a layer's ``predict`` applies, and its alpha: the declared one, also when a
    compiled loss absorbs it during training (``predict`` returns probabilities, not logits)."""
    return layer.activation, float(layer.alpha)
