"""A model's plan: the layer calls of one step, in order, over numbered tensors.

``compile``/``build`` derive the plan once from the model's graph (a Sequential model is the
one-chain case). Tensors are numbered: the model's inputs first, then each call's output. A
:class:`Call` reads tensors and writes one; the plan also knows, for the current ``trainable``
flags, which calls the backward pass reaches and which input gradients each call must produce
(:meth:`Plan.prepare_backward`). Every executor runs this same plan:

- :class:`PlanRunner` here runs it layer by layer through the layers' ``forward``/``backward``
  on any backend's ops (the definition; the ``numpy`` and per-step ``cpu`` path, and on ``cuda``
  the device copies of the layers, captured as a CUDA graph);
- :mod:`axonal.models.executors.native_plan` hands it to the C++ loop (the native executor).

A layer called twice (shared weights) runs its later calls on *call clones*: shallow copies that
share its weights but own their buffers and weight-gradient arrays; after the backward pass the
clones' gradients are added into the layer's own (:meth:`PlanRunner.backward`), in call order.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from axonal._buffers import BufferCache
from axonal.layers.base import Layer

# A later call of a shared layer keys its dropout masks on position + call_index * CALL_STRIDE, so
# two calls of one Dropout draw different masks (as two Keras calls do).
CALL_STRIDE = 1 << 16


@dataclass
class Call:
    """One layer call: ``layer`` (the model's layer, or a call clone) reads ``inputs`` (tensor
    numbers) and writes tensor ``output``."""

    layer: Layer
    owner: Layer
    inputs: list[int]
    output: int
    backprop: bool = False                     # whether the backward pass runs this call
    needs_input_gradients: list[bool] = field(default_factory=list)

    @property
    def is_clone(self) -> bool:
        return self.layer is not self.owner


class Plan:
    """The calls of a model's step over tensors ``0 .. tensor_count - 1``.

    Args:
        inputs: the tensor numbers of the model's inputs, in order.
        calls: the calls, each after the calls whose outputs it reads.
        outputs: the tensor numbers of the model's outputs, in order.
    """

    def __init__(self, inputs: list[int], calls: list[Call], outputs: list[int]):
        self.inputs, self.calls, self.outputs = list(inputs), list(calls), list(outputs)
        self.tensor_count = len(self.inputs) + len(self.calls)
        self.producer = {call.output: call for call in calls}
        first_call = {id(call.owner): index for index, call in reversed(list(enumerate(calls)))}
        # Per call, the index of its layer's first call (itself unless it is a later call of a
        # shared layer), and the first calls of shared layers, whose gradients are complete only
        # once the later calls' are added.
        self.owner_call = [first_call[id(call.owner)] for call in calls]
        self.shared = {self.owner_call[index] for index, call in enumerate(calls) if call.is_clone}
        self.consumers = [0] * self.tensor_count  # calls reading each tensor, plus outputs
        for call in calls:
            for tensor in call.inputs:
                self.consumers[tensor] += 1
        for tensor in outputs:
            self.consumers[tensor] += 1

    @classmethod
    def chain(cls, layers: list[Layer]) -> "Plan":
        """The plan of a Sequential model: tensor 0 is the input, layer i writes tensor i + 1."""
        calls = [Call(layer, layer, [i], i + 1) for i, layer in enumerate(layers)]
        return cls([0], calls, [len(layers)])

    @classmethod
    def from_nodes(cls, input_nodes: list, nodes: list, output_tensors: list) -> "Plan":
        """The plan of a functional model: ``input_nodes`` (its Inputs' nodes, in order), the other
        ``nodes`` in graph order (:func:`axonal.layers.graph.collect_nodes`) and its outputs.

        The first call of a layer in this model runs on the layer itself, later ones on clones;
        the layers must be built by now (a clone shares its owner's weight arrays)."""
        number = {id(node.output): i for i, node in enumerate(input_nodes)}
        calls_of: dict[int, int] = {}
        calls = []
        for node in nodes:
            index = calls_of[id(node.layer)] = calls_of.get(id(node.layer), -1) + 1
            layer = node.layer if index == 0 else call_clone(node.layer, index)
            number[id(node.output)] = len(number)
            calls.append(Call(layer, node.layer, [number[id(t)] for t in node.inputs], number[id(node.output)]))
        return cls(list(range(len(input_nodes))), calls, [number[id(t)] for t in output_tensors])

    def prepare_backward(self) -> None:
        """Mark the calls the backward pass must run and the input gradients each must produce,
        from the layers' ``trainable`` flags now: a call runs backward when its layer has trainable
        weights or a call before it does; an input's gradient is wanted when its producer runs
        backward. Calls before the first trainable layer thus cost nothing in backward."""
        wanted = [False] * self.tensor_count
        for call in self.calls:
            if call.is_clone:
                call.layer._trainable = call.owner._trainable
            call.needs_input_gradients = [wanted[t] for t in call.inputs]
            call.backprop = bool(call.owner.trainable_weights) or any(call.needs_input_gradients)
            wanted[call.output] = call.backprop
            if call.layer.takes_several_inputs:
                call.layer.needs_input_gradients = list(call.needs_input_gradients)
            else:
                call.layer.needs_input_gradient = call.needs_input_gradients[0]


def call_clone(layer: Layer, call_index: int) -> Layer:
    """A copy of the built ``layer`` for its call ``call_index`` > 0: the same weight arrays (and
    weight attributes such as ``kernel``), but its own buffers, zeroed weight-gradient arrays
    (added into the layer's after backward) and a position of its own for dropout masks."""
    clone = copy.copy(layer)
    clone.buffers = BufferCache()
    clone._gradients = {name: np.zeros_like(gradient) for name, gradient in layer._gradients.items()}
    clone.position = layer.position + call_index * CALL_STRIDE
    return clone


class PlanRunner:
    """Runs a plan layer by layer: ``layers[i]`` runs ``plan.calls[i]`` (the calls' own layers
    on the host; device copies of them on ``cuda``) with the backend ``ops``.

    Args:
        plan: the model's plan.
        layers: one layer object per call.
        ops: the backend module (for gradient sums where a tensor feeds several calls).
    """

    def __init__(self, plan: Plan, layers: list[Layer], ops):
        self.plan, self.layers, self.ops = plan, list(layers), ops

    def forward(self, xs: list, training: bool, after_call=None) -> list:
        """The model's outputs (one array per output) for the batch inputs ``xs``;
        ``after_call(layer, x, y)``, when given, sees each call's input and output
        (``check_numerics`` uses it)."""
        values: list = [None] * self.plan.tensor_count
        for tensor, x in zip(self.plan.inputs, xs):
            values[tensor] = x
        for call, layer in zip(self.plan.calls, self.layers):
            args = [values[t] for t in call.inputs]
            x = args if layer.takes_several_inputs else args[0]
            values[call.output] = layer.forward(x, training)
            if after_call is not None:
                after_call(layer, x, values[call.output])
        return [values[t] for t in self.plan.outputs]

    def backward(self, doutputs: list, after_layer=None) -> None:
        """From d loss / d output (one array per output) back through the calls that need it,
        leaving every trainable weight's gradient in its layer's gradient arrays.

        A tensor read by several calls gets the sum of their input gradients, added in place into
        the first one to arrive; a shared layer's clones add their weight gradients into the
        layer's own at the end. ``after_layer(layer, dx)``, when given, is called after each call's
        backward (``check_numerics`` uses it).
        """
        plan = self.plan
        grads: list = [None] * plan.tensor_count
        for tensor, d in zip(plan.outputs, doutputs):
            self._add(grads, tensor, d)
        clones = []
        for index in range(len(plan.calls) - 1, -1, -1):
            call = plan.calls[index]
            if not call.backprop:
                continue
            layer = self.layers[index]
            result = layer.backward(grads[call.output])
            grads[call.output] = None
            dxs = result if layer.takes_several_inputs else [result]
            for tensor, dx, needed in zip(call.inputs, dxs, call.needs_input_gradients):
                if needed and dx is not None:
                    self._add(grads, tensor, dx)
            if call.is_clone:
                clones.append(index)
            elif index not in plan.shared:
                self._finish(layer, dxs[0], after_layer)
        for index in reversed(clones):  # in call order
            owner = self.layers[plan.owner_call[index]]
            if owner.trainable:
                for name, gradient in owner._gradients.items():
                    self.ops.accumulate(gradient, self.layers[index]._gradients[name])
        for index in sorted(plan.shared):
            self._finish(self.layers[index], None, after_layer)

    @staticmethod
    def _finish(layer: Layer, dx, after_layer) -> None:
        """A layer's weight gradients are complete: add its regularisers' (then check them)."""
        layer.add_regularization_gradients()
        if after_layer is not None:
            after_layer(layer, dx)

    def _add(self, grads: list, tensor: int, d) -> None:
        if grads[tensor] is None:
            grads[tensor] = d
        else:
            self.ops.accumulate(_rows(grads[tensor]), _rows(d))


def _rows(array):
    return array.reshape(-1, array.shape[-1])
