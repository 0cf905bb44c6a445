"""Sequential: a stack of layers, each feeding the next: the one-chain case of :class:`Model`."""
from __future__ import annotations

from axonal.layers import InputLayer, Layer, deserialize, serialize
from axonal.layers import graph
from axonal.layers.base import configuration_changed
from axonal.models import nesting
from axonal.models.guards import structural
from axonal.models.model import Model
from axonal.models.plan import Plan


class Sequential(Model):
    """A linear stack of layers: a :class:`Model` whose graph is one chain.

    The model draws its seed when created (from ``axonal.set_seed`` when called, else at random)
    and uses it for weight initialisation, shuffling and dropout masks, so a seeded script is
    repeatable. It runs on the backend active when it is built or compiled.

    Args:
        layers: layers to add in order; the first may be an :func:`axonal.layers.Input`.
        name: model name; ``sequential``, ``sequential_1``... when None.

    Example:
        >>> model = Sequential([Input(shape=(784,)), Dense(512, activation="relu"), Dropout(0.2),
        ...                     Dense(10, activation="softmax")])
        >>> model.compile(optimizer=RMSprop(), loss="categorical_crossentropy", metrics=["accuracy"])
        >>> history = model.fit(x_train, y_train, batch_size=128, epochs=5, validation_split=0.1)
        >>> loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    """

    def __init__(self, layers: list[Layer] | None = None, name: str | None = None):
        self._init_state(name)
        self.input_shape: tuple | None = None
        self._stack: list[Layer] = []
        self._input_layer: InputLayer | None = None  # the Input given first, or one made at build
        self._tensors: tuple[list, list] | None = None  # (inputs, outputs) of the layers' symbolic calls
        for layer in layers or []:
            self.add(layer)

    # ----- structure ---------------------------------------------------------------------------

    @property
    def layers(self) -> list[Layer]:
        """The layers, in order (an :func:`Input` is not a layer of the list, as in Keras 3; a nested
        model is one entry)."""
        return list(self._stack)

    @property
    def _layers(self) -> list[Layer]:
        """The layers that compute, nested models expanded (:mod:`axonal.models.nesting`)."""
        return nesting.leaves(self._stack)

    @property
    def inputs(self) -> list:
        """Its Input tensor, once built: as in Keras, a built Sequential calls its layers on it, so
        ``Model(model.inputs, [layer.output for layer in model.layers])`` extracts features."""
        return list(self._symbolic_tensors()[0])

    @property
    def outputs(self) -> list:
        """Its last layer's output tensor, once built (see :attr:`inputs`)."""
        return list(self._symbolic_tensors()[1])

    def _symbolic_tensors(self) -> tuple[list, list]:
        if self._tensors is None:
            raise AttributeError(f"Sequential model {self.name!r} is not built, so it has no symbolic tensors yet. "
                                 "Fix: start it with Input(shape=...), or call build() or fit() first.")
        return self._tensors

    @property
    def input_names(self) -> list[str]:
        return [self._stack[0].name] if self._stack else []

    @property
    def output_names(self) -> list[str]:
        return [self._stack[-1].name] if self._stack else []

    @structural("add()")
    def add(self, layer: Layer) -> None:
        """Append ``layer``; the model is (re)built when its input shape is known (a layer that
        cannot be built is not added)."""
        if isinstance(layer, graph.KerasTensor) and layer.node.is_input:
            layer = layer.node.layer  # Input(shape=...) as the first element, as in Keras 3
        if isinstance(layer, InputLayer):
            if self._stack or self.input_shape is not None:
                raise ValueError(f"Input {layer.name!r} can only be the first element of a Sequential "
                                 "model. Fix: move it to the front, or remove it.")
            self.input_shape = (None,) + layer.shape
            self._input_layer = layer
            return
        if nesting.is_model(layer):
            nesting.check_nestable(layer, f"Sequential model {self.name!r}")
        elif not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a Layer, received {layer!r} of type "
                            f"{type(layer).__name__}. Fix: add e.g. Dense(10).")
        if any(existing.name == layer.name for existing in self._stack):
            raise ValueError(f"Model {self.name!r} already has a layer named {layer.name!r}; "
                             "layer names must be unique. Fix: give the new layer another name.")
        if not self._stack and self.input_shape is None and layer.input_shape_arg is not None:
            self.input_shape = (None,) + layer.input_shape_arg
        self._stack.append(layer)
        configuration_changed()
        if self.input_shape is not None:
            self.build()

    @structural("pop()")
    def pop(self) -> Layer:
        """Remove and return the last layer, as Keras does; the model may then be trained further
        without a new compile (the optimiser drops the removed layer's slots at the next step).

        Example:
            >>> head = model.pop()                       # transfer learning: replace the classifier
            >>> model.add(Dense(5, activation="softmax"))
        """
        if not self._stack:
            raise TypeError(f"Model {self.name!r} has no layers to pop. Fix: add a layer first.")
        layer = self._stack.pop()
        self.built = self.built and bool(self._stack)
        configuration_changed()
        if self.built:
            self.build()  # a new plan, ending at the new last layer
        return layer

    def build(self, input_shape: tuple | None = None) -> None:
        """Create every layer's weights for inputs of ``input_shape`` (batch first, e.g. ``(None, 784)``).

        Layers already built keep their weights. The model runs on the backend active now (on
        ``cuda``: its weights stay on the host, and fit/evaluate/predict run on a GPU copy).
        """
        if input_shape is not None:
            self.input_shape = (None,) + tuple(input_shape)[1:]
        if self.input_shape is None:
            raise ValueError(f"Model {self.name!r} cannot be built without an input shape. Fix: start it "
                             "with Input(shape=(784,)), call build((None, 784)), or call fit/predict.")
        if not self._stack:
            raise ValueError(f"Model {self.name!r} has no layers. Fix: add some, e.g. model.add(Dense(10)).")
        self._attach_backend()
        shape = self.input_shape
        for position, layer in enumerate(self._stack):
            layer.attach(self.ops, position, self.seed, self.steps)
            if not layer.built:
                layer.build(shape)
            elif tuple(layer.input_shape[1:]) != tuple(shape[1:]):
                raise ValueError(f"Layer {layer.name!r} was built for inputs {layer.input_shape} but "
                                 f"receives {shape} here. Fix: use a new layer.")
            shape = layer.compute_output_shape(shape)
        if any(nesting.is_model(layer) for layer in self._stack):
            source, result = nesting.FlatCall(None, [], object()), object()
            calls = nesting.inline(self, [source.output], result)
            self._set_plan(Plan.from_nodes([source], calls, [result]))
        else:
            self._set_plan(Plan.chain(self._stack))
        self._call_symbolically()

    def _call_symbolically(self) -> None:
        """Call the layers on a symbolic Input, as Keras' Sequential does when built: this gives the
        model its :attr:`inputs`/:attr:`outputs` and each layer its ``input``/``output`` tensors.
        (Each build after an add or pop calls them again; a layer's ``output`` stays its first.)"""
        if self._input_layer is None or self._input_layer.shape != tuple(self.input_shape[1:]):
            self._input_layer = InputLayer(self.input_shape[1:], name=f"{self.name}_input")
        tensor = source = self._input_layer.output
        for layer in self._stack:
            tensor = graph.call_symbolic(layer, tensor)
        self._tensors = ([source], [tensor])

    @property
    def output_shape(self) -> tuple:
        return self._stack[-1].output_shape

    @property
    def output_shapes(self) -> list[tuple]:
        return [self.output_shape]

    def connections(self, layer: Layer) -> None:
        return None  # a chain: the summary has no "Connected to" column

    def get_config(self) -> dict:
        """Name, layer configurations and input shape; ``Sequential.from_config`` rebuilds the model."""
        return {"name": self.name, "layers": [serialize(layer) for layer in self._stack],
                "build_input_shape": self.input_shape}

    @classmethod
    def from_config(cls, config: dict) -> "Sequential":
        """A new model (fresh weights) from :meth:`get_config`'s output."""
        model = cls(name=config.get("name"))
        if config.get("build_input_shape") is not None:
            model.input_shape = tuple(config["build_input_shape"])
        for layer_config in config["layers"]:
            model.add(nesting.deserialize(layer_config))
        return model
