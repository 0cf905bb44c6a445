"""Symbolic tensors and the layer graph behind functional models.

``Input(shape=...)`` returns a :class:`KerasTensor`: a placeholder with a shape (batch first,
``None`` for the batch) and no values. Calling a layer on KerasTensors records a :class:`Node`
(the layer, the tensors it read, the tensor it made) and returns a new KerasTensor, as in Keras:
no weights are created yet. ``Model(inputs, outputs)`` then walks back from its outputs
(:func:`collect_nodes`) and orders the nodes so that every node comes after the nodes it reads
from; the model's plan (:mod:`axonal.models.plan`) is derived from that order.

Example:
    >>> inputs = Input(shape=(16,))
    >>> hidden = Dense(16, activation="relu")(inputs)
    >>> outputs = Add()([inputs, hidden])          # a residual connection
    >>> Model(inputs, outputs).summary()
"""
from __future__ import annotations

from typing import Any, Sequence


class KerasTensor:
    """A symbolic tensor: the output of a layer call (or an ``Input``) inside a graph.

    Attributes:
        shape: batch first, ``None`` for the batch, e.g. ``(None, 784)``.
        dtype: ``"float32"``, or what an ``Input(dtype=...)`` declared for its tensor.
        node: the :class:`Node` that made it.
        name: the producing layer's name (Keras names a functional model's outputs after it).
    """

    dtype = "float32"

    def __init__(self, shape: tuple, node: "Node"):
        self.shape = tuple(shape)
        self.node = node

    @property
    def name(self) -> str:
        return self.node.layer.name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, name={self.name}>"

    def __array__(self, *args, **kwargs):
        raise TypeError(f"{self!r} is a symbolic tensor of a functional model and holds no values. Fix: build "
                        "a Model(inputs, outputs) from it and call model.predict(x).")


class Node:
    """One call of ``layer``: it read ``inputs`` (KerasTensors) and made ``output``.

    ``call_index`` counts the layer's calls (0 for its first): a layer called twice shares its
    weights between the calls.
    """

    def __init__(self, layer, inputs: list[KerasTensor], output_shape: tuple):
        self.layer = layer
        self.inputs = list(inputs)
        self.call_index = len(layer._inbound_nodes)
        layer._inbound_nodes.append(self)
        self.output = KerasTensor(output_shape, self)

    @property
    def is_input(self) -> bool:
        return not self.inputs

    @property
    def input_shapes(self) -> tuple | list[tuple]:
        """The input shape as the layer takes it: one tuple, or a list for layers of several inputs."""
        shapes = [tensor.shape for tensor in self.inputs]
        return shapes if self.layer.takes_several_inputs else shapes[0]

    def __repr__(self) -> str:
        return f"<Node {self.layer.name}[{self.call_index}]>"


def is_symbolic(value: Any) -> bool:
    """Whether ``value`` is a KerasTensor or a non-empty list/tuple of them."""
    if isinstance(value, KerasTensor):
        return True
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, KerasTensor) for v in value)


def call_symbolic(layer, inputs: KerasTensor | Sequence[KerasTensor]) -> KerasTensor:
    """Record ``layer(inputs)`` in the graph and return its symbolic output.

    The input shapes are checked now (so a wrong shape is reported at the line that wires the
    layer), but no weights are made: the model that uses the layer builds it from its seed.
    """
    several = not isinstance(inputs, KerasTensor)
    tensors = list(inputs) if several else [inputs]
    if several != layer.takes_several_inputs:
        if layer.takes_several_inputs:
            raise TypeError(f"Layer {layer.name!r} ({type(layer).__name__}) merges several tensors: call it on a "
                            f"list, e.g. {type(layer).__name__}()([a, b]), received one tensor {inputs!r}.")
        raise TypeError(f"Layer {layer.name!r} ({type(layer).__name__}) takes one tensor, received a list of "
                        f"{len(tensors)}. Fix: merge them first, e.g. Concatenate()([a, b]).")
    shapes = [tensor.shape for tensor in tensors]
    shape_argument = shapes if several else shapes[0]
    if layer.built:
        expected = layer.input_shape
        if (_feature_shapes(expected, several) != _feature_shapes(shape_argument, several)):
            raise ValueError(f"Layer {layer.name!r} was built for inputs {expected} and cannot be called on "
                             f"inputs of shape {shape_argument}. Fix: use a new layer for these inputs.")
    elif layer._inbound_nodes:
        first = layer._inbound_nodes[0].input_shapes
        if _feature_shapes(first, several) != _feature_shapes(shape_argument, several):
            raise ValueError(f"Layer {layer.name!r} is shared: its first call had inputs {first}, this one "
                             f"{shape_argument}. A shared layer uses the same weights for every call, so "
                             "the shapes must agree. Fix: use a separate layer.")
    layer.check_input_shape(shape_argument, [tensor.name for tensor in tensors])
    return Node(layer, tensors, layer.compute_output_shape(shape_argument)).output


def _feature_shapes(shapes, several: bool):
    """Shapes without the batch axis, for comparisons."""
    return [tuple(s[1:]) for s in shapes] if several else tuple(shapes[1:])


def output_keys(outputs: Any) -> list[str] | None:
    """The keys of ``Model(outputs={...})`` in the order given (None for a tensor or a list)."""
    if not isinstance(outputs, dict):
        return None
    if not all(isinstance(key, str) and key for key in outputs):
        raise TypeError(f"Model(outputs={{...}}) names outputs by string keys, received keys {list(outputs)!r:.120}. "
                        "Fix: e.g. outputs={'label': label, 'box': box}.")
    return list(outputs)


def as_tensor_list(value: Any, argument: str) -> list[KerasTensor]:
    """``inputs``/``outputs`` of ``Model(...)`` as a list: one tensor, a list, or a dict of them."""
    items = list(value.values()) if isinstance(value, dict) else value
    items = [items] if isinstance(items, KerasTensor) else items
    if not isinstance(items, (list, tuple)) or not items or not all(isinstance(t, KerasTensor) for t in items):
        raise TypeError(f"Model({argument}=...) takes a KerasTensor, or a list or dict of them (made by Input() "
                        f"and layer calls), received {value!r:.120}. Fix: e.g. inputs = Input(shape=(784,)); "
                        "outputs = Dense(10)(inputs); Model(inputs, outputs).")
    return list(items)


def collect_nodes(inputs: list[KerasTensor], outputs: list[KerasTensor]) -> tuple[list[Node], list]:
    """Every node between ``inputs`` and ``outputs``, each after the nodes it reads from, and the
    layers in Keras 3's order.

    The walk is Keras': depth-first from the outputs in order, each node's inputs in order; nodes
    are listed as they finish. Layers are ordered by their depth (the longest path to an output)
    from the deepest, ties by when the walk first met them, as ``keras.Model.layers`` lists them
    (so weights come in Keras' order too). Raises with the layer names when an output does not
    depend on the inputs (a missing ``Input``), or when an input is never used.
    """
    input_nodes = {id(tensor.node) for tensor in inputs}
    ordered: list[Node] = []
    first_seen: dict[int, int] = {}  # id(layer) -> when the walk first met it
    done: set[int] = set()
    for output in outputs:
        stack = [(output.node, False)]
        while stack:  # iterative, so a deep graph does not hit Python's recursion limit
            node, expanded = stack.pop()
            if id(node) in done:
                continue
            first_seen.setdefault(id(node.layer), len(first_seen))
            if expanded or id(node) in input_nodes:
                done.add(id(node))
                ordered.append(node)
                continue
            if node.is_input:
                raise ValueError(
                    f"Output {output.name!r} depends on input {node.layer.name!r}, which is not among the model's "
                    f"inputs {[t.name for t in inputs]}: the graph is disconnected. Fix: pass every Input the "
                    "outputs use in Model(inputs=[...]).")
            stack.append((node, True))
            stack.extend((tensor.node, False) for tensor in reversed(node.inputs))
    unused = [tensor.name for tensor in inputs if id(tensor.node) not in done]
    if unused:
        raise ValueError(f"Input(s) {unused} are not used by any of the outputs {[t.name for t in outputs]}. "
                         "Fix: remove them from Model(inputs=...), or connect them to an output.")
    return ordered, _layers_by_depth(ordered, first_seen)


def _layers_by_depth(ordered: list[Node], first_seen: dict[int, int]) -> list:
    """Layers from the deepest (furthest from an output) to the outputs, ties in walk order."""
    node_depth: dict[int, int] = {}
    layer_depth: dict[int, int] = {}
    layers: dict[int, object] = {}
    for node in reversed(ordered):
        depth = max(node_depth.get(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = depth
        layers[id(node.layer)] = node.layer
        for tensor in node.inputs:
            node_depth[id(tensor.node)] = max(depth + 1, node_depth.get(id(tensor.node), 0))
    return sorted(layers.values(), key=lambda layer: (-layer_depth[id(layer)], first_seen[id(layer)]))
