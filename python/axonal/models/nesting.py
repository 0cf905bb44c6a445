"""Models used as layers: ``Sequential([base, Dense(10)])``, or ``base(inputs)`` in a functional model.

As in Keras, the outer model lists the nested model as one of its :attr:`layers` (its summary row,
``model.layers[0].trainable = False`` freezing all of it, ``get_layer("base")``). Its training
step does not see it: the plan inlines the nested model's own layer calls (:func:`flat_calls`),
so the outer model runs its layers directly, in the native loop and on every executor, and the
weights stay the nested model's arrays (transfer learning trains, or keeps frozen, the very base
that was passed in). A nested model may be called several times (its layers are then shared) and
may itself hold nested models. It must be built and have one output.

Example:
    >>> base = Sequential([Input(shape=(784,)), Dense(128, activation="relu")])
    >>> base.trainable = False
    >>> model = Sequential([base, Dense(10, activation="softmax")])
"""
from __future__ import annotations

from typing import Any

# Layer positions (dropout masks, weight seeds) of a nested model's layers: after the outer position.
NESTED_STRIDE = 1 << 20


class FlatCall:
    """One layer call of a flattened graph: ``layer`` reads the ``inputs`` tokens, writes ``output``
    (tokens are any objects, told apart by identity, as :meth:`Plan.from_nodes` reads them)."""

    __slots__ = ("layer", "inputs", "output")

    def __init__(self, layer, inputs: list, output: Any):
        self.layer, self.inputs, self.output = layer, list(inputs), output


_MODEL_CLASS: list = []  # axonal.models.model.Model, once imported (model imports this module)


def is_model(layer) -> bool:
    if not _MODEL_CLASS:
        from axonal.models.model import Model

        _MODEL_CLASS.append(Model)
    return isinstance(layer, _MODEL_CLASS[0])


def leaves(layers) -> list:
    """The layers that compute: nested models replaced by their own (recursively), each once, in order."""
    found, seen = [], set()
    for layer in layers:
        for leaf in (leaves(layer._layers) if is_model(layer) else [layer]):
            if id(leaf) not in seen:
                seen.add(id(leaf))
                found.append(leaf)
    return found


def flat_calls(calls) -> list:
    """``calls`` (graph nodes or FlatCalls) with each call of a nested model replaced by its layers' calls."""
    flat = []
    for call in calls:
        if is_model(call.layer):
            flat += inline(call.layer, list(call.inputs), call.output)
        else:
            flat.append(call)
    return flat


def inline(model, inputs: list, output: Any) -> list:
    """The calls of ``model``'s layers reading the tokens ``inputs`` (one per model input) and
    writing ``output``; its inner tensors get fresh tokens, so a model inlined twice shares layers
    but no tensors."""
    if hasattr(model, "_stack"):  # a Sequential: one chain
        calls, token = [], inputs[0]
        for position, layer in enumerate(model._stack):
            result = output if position == len(model._stack) - 1 else object()
            calls += flat_calls([FlatCall(layer, [token], result)])
            token = result
        return calls
    tokens = {id(tensor): token for tensor, token in zip(model._input_tensors, inputs)}
    final = model._output_tensors[0]
    renamed = []
    for node in model._nodes:
        result = output if node.output is final else object()
        tokens[id(node.output)] = result
        renamed.append(FlatCall(node.layer, [tokens[id(tensor)] for tensor in node.inputs], result))
    return flat_calls(renamed)


def check_nestable(model, caller: str) -> None:
    """Refuse, with the fix, a model that cannot be used as a layer."""
    if not model.built:
        raise ValueError(f"Model {model.name!r} is not built, so it cannot be used as a layer of {caller}. "
                         "Fix: give it an input shape first (start it with Input(shape=...)).")
    if len(model.output_names) != 1:
        raise ValueError(f"Model {model.name!r} has {len(model.output_names)} outputs; a model used as a layer "
                         "must have one. Fix: call its layers directly in the outer model.")
    if not hasattr(model, "_stack") and any(t.node is n for t in model._output_tensors for n in model._input_nodes):
        raise ValueError(f"Model {model.name!r} returns its input unchanged; it cannot be used as a layer.")


MODEL_CLASS_NAMES = ("Sequential", "Model", "Functional")


def deserialize(record: dict, custom_objects: dict | None = None):
    """A layer, or a nested model, from ``{"class_name", "config"}`` (``layers.serialize``'s form)."""
    from axonal.layers import deserialize as deserialize_layer
    from axonal.models.model import Model
    from axonal.models.sequential import Sequential

    name = record.get("class_name")
    if name == "Sequential":
        return Sequential.from_config(record["config"])
    if name in ("Model", "Functional"):
        return Model.from_config(record["config"], custom_objects)
    return deserialize_layer(record)
