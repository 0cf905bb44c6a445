"""Model: a graph of layer calls from ``Input`` tensors to outputs, trained as in Keras.

``Model(inputs, outputs)`` is Keras' functional API: several inputs and outputs, merge layers,
layers shared between calls, a layer's output read by several layers. :class:`Sequential` is the
one-chain case of the same class. Either way ``build`` derives the model's :class:`~axonal.models.plan.Plan`
and every method of :class:`~axonal.models.trainer.Trainer` (compile, fit, evaluate, predict,
the ``*_on_batch`` methods) runs that plan.

Example:
    >>> image = Input(shape=(28, 28, 1), name="image")
    >>> numbers = Input(shape=(3,), name="numbers")
    >>> x = Flatten()(Conv2D(8, 3, activation="relu")(image))
    >>> x = Concatenate()([x, numbers])
    >>> label = Dense(10, activation="softmax", name="label")(x)
    >>> box = Dense(4, name="box")(x)
    >>> model = Model(inputs=[image, numbers], outputs=[label, box])
    >>> model.compile(optimizer="adam", loss={"label": "sparse_categorical_crossentropy", "box": "mse"},
    ...               loss_weights={"label": 1.0, "box": 0.5}, metrics={"label": ["accuracy"]})
    >>> model.fit([images, extras], [labels, boxes], epochs=5)  # or dicts keyed by name
"""
from __future__ import annotations

import sys
from typing import Any

import numpy as np

from axonal import saving
from axonal._buffers import BufferCache
from axonal.backend import get_backend, host_backend
from axonal.backend.device import device_for
from axonal.layers import InputLayer, Layer
from axonal.layers import graph
from axonal.layers._weight_checks import set_weights_of
from axonal.layers.base import SHUFFLE_STREAM, StepCounter, unique_name
from axonal.models import graph_config, nesting, summary
from axonal.models.guards import exclusive, structural
from axonal.models.plan import Plan, PlanRunner
from axonal.models.trainer import Trainer
from axonal.random import draw_seed


class Model(Trainer):
    """A functional model: the layers called from ``inputs`` to ``outputs``.

    Args:
        inputs: an :func:`~axonal.layers.Input` tensor, or a list or dict of them.
        outputs: the tensor(s) the model computes from them (layer calls), one, a list or a dict.
        name: model name; ``functional``, ``functional_1``... when None.

    The model draws its seed when created (``axonal.set_seed`` makes it repeatable): weights come
    from it, by the layer's position in :attr:`layers`. Arrays given to ``fit``/``predict``
    follow ``inputs``: one array, a list in order, or a dict keyed by input name; labels
    likewise by output (an output is named after the layer that computes it).
    """

    def __init__(self, inputs: Any = None, outputs: Any = None, name: str | None = None):
        self._init_state(name)
        if type(self) is Model or inputs is not None or outputs is not None:
            self._init_graph(inputs, outputs)

    def _init_state(self, name: str | None) -> None:
        """Everything but the graph: the seed and the generators, counters and caches."""
        Trainer.__init__(self)
        self.name = name or unique_name(Functional if type(self) is Model else type(self))
        self.seed = draw_seed()
        self.shuffle_rng = np.random.default_rng([self.seed, SHUFFLE_STREAM])
        self.steps = StepCounter()
        self.buffers = BufferCache()
        self.ops = None
        self.device = None  # the GPU a cuda model trains on (models/executors/device_copy.py)
        self.plan: Plan | None = None
        self.runner: PlanRunner | None = None
        self.built = False
        self._trainable = True
        self._inbound_nodes: list = []  # its calls when used as a layer of another model (nesting.py)
        self._output_keys: list[str] | None = None  # the keys of a dict of outputs, in the order given

    # ----- structure ---------------------------------------------------------------------------

    def _init_graph(self, inputs: Any, outputs: Any) -> None:
        if inputs is None or outputs is None:
            raise TypeError(f"Model() needs inputs= and outputs=, received inputs={inputs!r:.60}, "
                            f"outputs={outputs!r:.60}. Fix: inputs = Input(shape=(784,)); outputs = "
                            "Dense(10)(inputs); Model(inputs=inputs, outputs=outputs); or use Sequential([...]).")
        self._input_tensors = graph.as_tensor_list(inputs, "inputs")
        # Outputs given as a dict are named by its keys and taken in the keys' sorted order, as in
        # Keras 3 (its tree.flatten sorts them); predict and model(x) return a dict in the keys' order.
        self._output_keys = graph.output_keys(outputs)
        self._output_tensors = graph.as_tensor_list(
            {key: outputs[key] for key in sorted(self._output_keys)} if self._output_keys else outputs, "outputs")
        for tensor in self._input_tensors:
            if not tensor.node.is_input:
                raise ValueError(f"Model inputs must be Input() tensors, but {tensor!r} is the output of layer "
                                 f"{tensor.name!r}. Fix: pass the Input tensors the graph starts from.")
        nodes, layers = graph.collect_nodes(self._input_tensors, self._output_tensors)
        self._input_nodes = [tensor.node for tensor in self._input_tensors]
        self._nodes = [node for node in nodes if not node.is_input]
        self._all_layers = layers  # Keras' order, InputLayers included, a nested model as one entry
        self._layers = nesting.leaves(layer for layer in layers if not isinstance(layer, InputLayer))
        for layer in layers:
            if nesting.is_model(layer):
                nesting.check_nestable(layer, f"model {self.name!r}")
        names = [layer.name for layer in self.layers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"Model {self.name!r} has several layers named {duplicates}; layer names must be "
                             "unique. Fix: give each layer its own name= (or leave names to axonal).")
        shapes = [tensor.shape for tensor in self._input_tensors]
        self.input_shape = shapes[0] if len(shapes) == 1 else shapes
        self.build()

    @property
    def layers(self) -> list[Layer]:
        """Every layer once, InputLayers included, in Keras 3's order: by depth (the longest path to
        an output) from the deepest, ties in the order a walk from the outputs meets them."""
        return list(self._all_layers)

    @property
    def inputs(self) -> list:
        """The model's Input tensors."""
        return list(self._input_tensors)

    @property
    def outputs(self) -> list:
        """The model's output tensors."""
        return list(self._output_tensors)

    @property
    def input(self):
        """The Input tensor (a list of them for several inputs), as Keras' ``model.input``."""
        return one_or_list(self.inputs)

    @property
    def output(self):
        """The output tensor (a list of them for several outputs; the dict a model was built with),
        as Keras' ``model.output``."""
        if self._output_keys:
            return self.per_output_key(self.outputs)
        return one_or_list(self.outputs)

    def per_output_key(self, values: list) -> dict:
        """``values`` (one per output, in output order) keyed as the dict the outputs were given in."""
        by_key = dict(zip(sorted(self._output_keys), values))
        return {key: by_key[key] for key in self._output_keys}

    @property
    def input_names(self) -> list[str]:
        return [tensor.name for tensor in self._input_tensors]

    @property
    def output_names(self) -> list[str]:
        """The outputs' names: the layers that compute them, or the keys of the dict the outputs were
        given in (keys of ``loss={...}`` and of logs)."""
        if self._output_keys:
            return sorted(self._output_keys)
        return [tensor.name for tensor in self._output_tensors]

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """The layer called ``name`` (or at ``index`` in :attr:`layers`), as in Keras."""
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"Model {self.name!r} has {len(layers)} layers, received index={index}.")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"Model {self.name!r} has no layer named {name!r}; its layers are "
                         f"{[layer.name for layer in layers]}.")

    @property
    def trainable(self) -> bool:
        """The model's own flag; setting it sets every layer's, as in Keras (``model.trainable =
        False`` freezes the whole model, from the next training step)."""
        return self._trainable

    @trainable.setter
    @structural("Setting model.trainable", allowed_while_training=True)
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for layer in self.layers:  # a nested model's own flag too (it passes it to its layers)
            if not isinstance(layer, InputLayer):
                layer.trainable = value

    def build(self, input_shape: Any = None) -> None:
        """Create every layer's weights (layers already built keep theirs) and derive the plan.

        The model runs on the backend active now (on ``cuda``: its weights stay on the host, and
        fit/evaluate/predict run on a GPU copy).
        """
        self._attach_backend()
        for position, layer in enumerate(self.layers):
            layer.attach(self.ops, position, self.seed, self.steps)
        for node in self._nodes:
            if not node.layer.built:
                node.layer.build(node.input_shapes)
        self._set_plan(Plan.from_nodes(self._input_nodes, nesting.flat_calls(self._nodes), self._output_tensors))

    # ----- as a layer of another model (axonal.models.nesting) -----------------------------------

    def attach(self, ops, position: int, seed: int, steps) -> None:
        """Attach this model's layers to the model that nests it (its seed, steps and backend)."""
        for index, layer in enumerate(self._layers):
            layer.attach(ops, position + (index + 1) * nesting.NESTED_STRIDE, seed, steps)

    @property
    def takes_several_inputs(self) -> bool:
        return len(self.input_names) > 1

    @property
    def input_shape_arg(self) -> tuple | None:
        """The per-sample input shape, as a layer's ``input_shape`` argument (None before build)."""
        return tuple(self.input_shape[1:]) if self.built and not self.takes_several_inputs else None

    def check_input_shape(self, shape, sources) -> None:
        expected = self.input_shape if self.takes_several_inputs else [self.input_shape]
        received = shape if self.takes_several_inputs else [shape]
        if [tuple(s[1:]) for s in expected] != [tuple(s[1:]) for s in received]:
            raise ValueError(f"Model {self.name!r} takes inputs of shape {self.input_shape}, but {sources} have "
                             f"shape {shape}. Fix: feed it tensors of its input shape.")

    def compute_output_shape(self, input_shape) -> tuple:
        self.check_input_shape(input_shape, "its inputs")
        return self.output_shape

    @property
    def gradients(self) -> list[np.ndarray]:
        return [g for layer in self._layers for g in layer.gradients]

    @property
    def _regularizers(self) -> list:
        return [r for layer in self._layers for r in layer._regularizers]

    def regularization_loss(self) -> float:
        return sum(layer.regularization_loss() for layer in self._layers)

    def _attach_backend(self) -> None:
        # On cuda, fit/evaluate/predict run on a device copy of the model (models/executors/device.py);
        # the layers themselves, and any step the device cannot run, use the host backend.
        self.device = device_for(get_backend())
        self.ops = host_backend()

    def _set_plan(self, plan: Plan) -> None:
        self.plan = plan
        self.runner = PlanRunner(plan, [call.layer for call in plan.calls], self.ops)
        self._prepared_for = None  # the backward marks and optimiser lists are made at the next step
        self.built = True

    @property
    def output_shape(self) -> tuple | list[tuple]:
        shapes = [tensor.shape for tensor in self._output_tensors]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shapes(self) -> list[tuple]:
        """One shape per output (also for a model of one output)."""
        return [tuple(tensor.shape) for tensor in self._output_tensors]

    @property
    def weights(self) -> list[np.ndarray]:
        return [w for layer in self._layers for w in layer.weights]

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        return [w for layer in self._layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        return [w for layer in self._layers for w in layer.non_trainable_weights]

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self._layers)

    def summary(self, line_length: int | None = None, print_fn=None) -> None:
        """Print the Keras-style table of layers, output shapes, parameter counts and, for a
        model that is not a plain chain, the "Connected to" column.

        Args:
            line_length: table width; Keras' default (88, or 108 with "Connected to", or the
                terminal width less 4) when None.
            print_fn: called with the whole text instead of ``print``.
        """
        text = summary.summary_text(self, line_length, sys.stdout)
        (print_fn or print)(text)

    def connections(self, layer: Layer) -> list[str] | None:
        """The summary's "Connected to" entries of ``layer`` (``dense[0][0]``: the source layer
        and which of its calls), or None for a plain chain (Keras then leaves the column out)."""
        if not self._is_graph():
            return None
        return [f"{t.node.layer.name}[{graph_config.call_of(self, t.node)}][0]"
                for node in self._nodes if node.layer is layer for t in node.inputs]

    def _is_graph(self) -> bool:
        """Whether the model is more than a chain: several inputs or outputs, a layer with several
        inputs, or a layer called twice (Keras' test for the "Connected to" column)."""
        if len(self._input_nodes) > 1 or len(self._output_tensors) > 1:
            return True
        return any(len(node.inputs) > 1 for node in self._nodes) or len(self._layers) != len(self._nodes)

    # ----- weights and configuration -----------------------------------------------------------

    @exclusive
    def get_weights(self) -> list[np.ndarray]:
        """Copies of every layer's weights, in layer order."""
        return [w for layer in self._layers for w in layer.get_weights()]

    @exclusive
    def set_weights(self, weights: list[Any]) -> None:
        """Overwrite every layer's weights from a list shaped like :meth:`get_weights`'s; every
        array is checked before any is copied, so a refused list changes nothing."""
        set_weights_of(self._layers, weights, f"Model {self.name!r}")

    @exclusive
    def save(self, filepath, overwrite: bool = True) -> None:
        """Write the whole model (architecture, compile settings, weights, optimiser and training
        state) to one file, atomically; :func:`axonal.models.load_model` reads it back.

        Example:
            >>> model.save("mlp.axonal")  # doctest: +SKIP
        """
        saving.save_model(self, filepath, overwrite)

    @exclusive
    def save_weights(self, filepath, overwrite: bool = True) -> None:
        """Write only the weights to one file, atomically (see :meth:`load_weights`)."""
        saving.save_weights(self, filepath, overwrite)

    @exclusive
    def load_weights(self, filepath) -> None:
        """Copy weights saved by :meth:`save_weights` or :meth:`save` into this model; every shape
        must match (weights are matched by position, so layer names may differ)."""
        saving.load_weights(self, filepath)

    @exclusive
    def export(self, filepath, format: str | None = None, verbose: bool | None = None, input_signature=None,
               **kwargs) -> None:
        """Write the inference graph for another runtime, as Keras 3's ``export``: ``format="onnx"``
        (the one axonal writes; None takes it from a ``.onnx`` path), ``opset_version=`` optional.
        Needs the ``onnx`` package (``pip install 'axonal[onnx]'``); see :mod:`axonal.export`.

        Example:
            >>> model.export("mlp.onnx", format="onnx")  # doctest: +SKIP
        """
        from axonal.export import export_model  # onnx is optional: imported only when exporting

        export_model(self, filepath, format, verbose, input_signature, **kwargs)

    def to_json(self, **kwargs) -> str:
        """The architecture as Keras' JSON model config (``axonal.models.model_from_json`` and Keras'
        own read it back); ``kwargs`` go to ``json.dumps``. Weights are not included."""
        from axonal.saving.json_config import model_to_json  # saving imports models

        return model_to_json(self, **kwargs)

    def get_config(self) -> dict:
        """Name, layers and the calls between them (:mod:`axonal.models.graph_config`);
        :meth:`from_config` rebuilds the model."""
        return graph_config.config_of(self)

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "Model":
        """A new model (fresh weights) from :meth:`get_config`'s output; ``custom_objects`` maps
        class names to user layer classes."""
        model = cls.__new__(cls)
        model._init_state(config.get("name"))
        model._graph_from_config(config, graph_config.layer_maker(custom_objects))
        return model

    def _graph_from_config(self, config: dict, make_layer) -> None:
        """Build this model's graph from ``config`` (with the seed it holds now: ``load_model``
        sets the saved one first); ``make_layer(index, record)`` makes each layer."""
        inputs, outputs = graph_config.replay(config, make_layer)
        self._init_graph(inputs, outputs)
        if not config.get("trainable", True):
            self.trainable = False


class Functional:
    """Stands for the class name Keras gives functional models (``functional``, ``functional_1``...)."""


def one_or_list(tensors: list):
    """A single tensor alone, several as a list (Keras' ``model.input``/``model.output``)."""
    return tensors[0] if len(tensors) == 1 else list(tensors)
