"""A functional model's configuration: its layers once, and the calls between them.

``config_of(model)`` gives ``{"name", "trainable", "layers", "nodes", "input_layers",
"output_layers"}``: ``layers`` holds each layer's ``{"class_name", "config"}`` once, in the model's
layer order; ``nodes`` lists the calls in graph order as ``[layer name, [[source layer, source
call], ...]]``; ``input_layers`` and ``output_layers`` are ``[layer name, call, 0]`` triples, as in
Keras. :func:`replay` makes the layers and calls them again, in order, on new Input tensors.
"""
from __future__ import annotations

from typing import Any, Callable

from axonal.layers import Layer, serialize
from axonal.models import nesting


def config_of(model) -> dict:
    """The configuration of functional ``model`` (see the module docstring)."""
    return {"name": model.name, "trainable": model._trainable,
            "layers": [serialize(layer) for layer in model.layers],
            "nodes": [[node.layer.name, [[t.node.layer.name, call_of(model, t.node)] for t in node.inputs]]
                      for node in model._nodes],
            "input_layers": [[t.name, 0, 0] for t in model._input_tensors],
            "output_layers": _output_layers(model),
            # the dict's key order, which a file that sorts its keys (.axonal) would lose
            **({"output_keys": list(model._output_keys)} if model._output_keys else {})}


def _output_layers(model) -> list | dict:
    """``[[layer, call, 0], ...]`` in output order, or keyed as the dict the outputs were given in."""
    endpoints = [[t.name, call_of(model, t.node), 0] for t in model._output_tensors]
    return model.per_output_key(endpoints) if model._output_keys else endpoints


def call_of(model, node) -> int:
    """Which call of its layer ``node`` is within ``model`` (0 for the first)."""
    if node.is_input:
        return 0
    return [n for n in model._nodes if n.layer is node.layer].index(node)


def layer_maker(custom_objects: dict | None) -> Callable[[int, dict], Layer]:
    """``make_layer(index, record)``: a layer of axonal's, or the user's class of that name."""
    def make_layer(index: int, record: dict) -> Layer:
        custom = (custom_objects or {}).get(record.get("class_name"))
        if custom is not None:
            return custom.from_config(dict(record["config"]))
        return nesting.deserialize(record, custom_objects)
    return make_layer


def replay(config: dict, make_layer: Callable[[int, dict], Layer]) -> tuple[list, list]:
    """Make the layers of ``config`` and replay its calls in order: its (inputs, outputs) tensors."""
    layers = {}
    for index, record in enumerate(config["layers"]):
        layer = make_layer(index, record)
        layers[layer.name] = layer
    tensors: dict[tuple[str, int], Any] = {(name, 0): layers[name].output for name, _, _ in config["input_layers"]}
    calls: dict[str, int] = {}
    for name, sources in config["nodes"]:
        inputs = [tensors[(source, call)] for source, call in sources]
        layer = layers[name]
        tensors[(name, calls.get(name, 0))] = layer(inputs if layer.takes_several_inputs else inputs[0])
        calls[name] = calls.get(name, 0) + 1
    outputs = config["output_layers"]
    if isinstance(outputs, dict):  # a model built with a dict of outputs, in the order it was given
        order = config.get("output_keys") or list(outputs)
        return ([tensors[(name, 0)] for name, _, _ in config["input_layers"]],
                {key: tensors[(outputs[key][0], outputs[key][1])] for key in order})
    return ([tensors[(name, 0)] for name, _, _ in config["input_layers"]],
            [tensors[(name, call)] for name, call, _ in outputs])
