"""The ONNX graph under construction: nodes, weights, unique names and the axis order of each value.

ONNX's ``Conv`` and pooling operators take channels_first images, (N, C, H, W); axonal's images are
channels_last, (N, H, W, C), as Keras' default. Rather than transposing around every convolution,
each value carries its *layout* (:class:`Value`): :data:`KERAS`, the tensor exactly as the model
sees it, or :data:`MOVED`, that tensor with its last axis moved to position 1 (a channels_last image
stored channels_first). An image is moved once, where the first channels_last convolution or
pooling reads it, stays so through the layers that do not care (activations, merges, further
convolutions), and goes back to Keras' order only where the order of its values matters (Flatten,
Reshape, a model output). A layer with ``data_format="channels_first"`` reads its input in Keras'
order (already (N, C, H, W)). A conversion is made once per value, however many layers read it.

Example:
    >>> graph = OnnxGraph(onnx)
    >>> x = Value("image", rank=4)
    >>> graph.moved(x).name                   # one Transpose node, kept for the next reader
    'image/channels_moved_first'
"""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np

KERAS = "keras"
MOVED = "channels_moved_first"
# Transpose permutations between the two layouts of a rank-4 tensor.
TO_MOVED = (0, 3, 1, 2)
TO_KERAS = (0, 2, 3, 1)


@dataclass(frozen=True)
class Value:
    """A tensor of the graph: its name, its rank (batch included) and its layout.

    ``layout`` is always :data:`KERAS` for ranks other than 4 (there is nothing to move).
    """

    name: str
    rank: int
    layout: str = KERAS

    @property
    def moved(self) -> bool:
        return self.layout == MOVED

    @property
    def channel_axis(self) -> int:
        """Where Keras' last axis is (softmax, Concatenate): 1 in a moved image."""
        return 1 if self.moved else -1

    def axis(self, keras_axis: int) -> int:
        """The position of the model's axis ``keras_axis`` in this value's ONNX tensor."""
        keras_axis %= self.rank
        return TO_MOVED.index(keras_axis) if self.moved else keras_axis


class OnnxGraph:
    """Collects the nodes and initialisers of one graph with unique names.

    Args:
        onnx: the imported ``onnx`` package (imported by the caller, so that axonal imports without it).
    """

    def __init__(self, onnx: ModuleType):
        self.onnx = onnx
        self.nodes: list = []
        self.initializers: list = []
        self._used: set[str] = set()
        self._weights: dict[tuple[int, bool], str] = {}  # (id of the source array, stored as is) -> initialiser
        self._sources: list[np.ndarray] = []
        self._converted: dict[tuple[str, str], Value] = {}  # (value name, layout) -> converted value

    def reserve(self, name: str) -> None:
        """Keep ``name`` (a graph input or output) from being given to any other value."""
        self._used.add(name)

    def fresh(self, base: str) -> str:
        """``base``, or ``base_1``, ``base_2``... : a name no other value or node has yet."""
        name, number = base, 0
        while name in self._used:
            number += 1
            name = f"{base}_{number}"
        self._used.add(name)
        return name

    def node(self, op: str, inputs: list[str], base: str, **attributes) -> str:
        """Add one node of operator ``op`` reading ``inputs``; return the name of its output,
        ``base`` made unique (the node is named alike)."""
        output = self.fresh(base)
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [output], name=output, **attributes))
        return output

    def output_node(self, op: str, inputs: list[str], output: str) -> None:
        """A node writing the reserved name ``output`` (a graph output)."""
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [output], name=self.fresh(f"{output}/{op}")))

    def weight(self, array: np.ndarray, base: str, source: np.ndarray | None = None) -> str:
        """An initialiser holding ``array``; one per ``source`` array (``array`` itself unless it
        is a rearranged copy of ``source``, as a Conv2D kernel stored transposed), so a layer called
        twice reuses its weights."""
        key = (id(array if source is None else source), source is None)
        source = array if source is None else source
        if key not in self._weights:
            name = self.fresh(base)
            stored = np.ascontiguousarray(array, dtype=np.float32)
            self.initializers.append(self.onnx.numpy_helper.from_array(stored, name))
            self._weights[key] = name
            self._sources.append(source)  # alive until the export ends, so its id is not reused
        return self._weights[key]

    def constant(self, values, base: str) -> str:
        """An int64 initialiser (shapes and axes that operators take as inputs)."""
        name = self.fresh(base)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(values, dtype=np.int64), name))
        return name

    def moved(self, value: Value) -> Value:
        """``value`` with its last axis at position 1, as a channels_last image for ``Conv`` (one
        Transpose, made once per value)."""
        return self._convert(value, MOVED, TO_MOVED)

    def keras_order(self, value: Value) -> Value:
        """``value`` with its axes in the model's order (every rank but a moved image: unchanged)."""
        return self._convert(value, KERAS, TO_KERAS)

    def _convert(self, value: Value, layout: str, permutation: tuple) -> Value:
        if value.rank != 4 or value.layout == layout:
            return value
        key = (value.name, layout)
        if key not in self._converted:
            name = self.node("Transpose", [value.name], f"{value.name}/{layout}", perm=list(permutation))
            self._converted[key] = Value(name, 4, layout)
        return self._converted[key]

    def same_layout(self, values: list[Value]) -> list[Value]:
        """``values`` in one layout, for an elementwise merge or a concatenation: kept as they are
        when they agree, else all moved (the layout channels_last convolutions keep)."""
        if len({value.layout for value in values}) == 1:
            return list(values)
        return [self.moved(value) for value in values]
