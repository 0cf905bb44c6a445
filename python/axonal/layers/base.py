"""The Layer base class.

A layer follows Keras 3's life cycle: ``__init__`` stores the configuration, ``build(input_shape)``
creates the weights once the input width is known, and ``get_config``/``from_config`` round-trip
the configuration. Running it is split into ``forward(x, training)`` and ``backward(dy)``, each a
short call into the backend (``self.ops``) on buffers the layer owns and reuses between batches.
"""
from __future__ import annotations

import contextvars
import itertools
import re
from collections import defaultdict
from types import ModuleType
from typing import Any

import numpy as np

from axonal import activations, initializers, regularizers
from axonal._buffers import BufferCache
from axonal._legacy import renamed_arguments
from axonal._validation import as_float_array, check_feature_shape, check_shape
from axonal.backend import host_backend
from axonal.layers import graph
from axonal.layers._weight_checks import assign_weights, checked_replacement, checked_weights
from axonal.layers._weight_limit import charge_weight
from axonal.random import draw_seed

_name_counters: defaultdict[str, itertools.count] = defaultdict(itertools.count)
_layer_ids = itertools.count()

# The model one of whose calls (fit, evaluate, predict, model(x)...) runs now, in this thread: the
# loss it was compiled with may absorb its output layer's activation (models/objective.py). Every
# other use of that layer (another model holding it, a call of the layer on an array) applies the
# activation itself, so absorption is the compiled model's business, never a state of the layer.
running_model: contextvars.ContextVar = contextvars.ContextVar("running_model", default=None)

# Separate random streams drawn from one model seed (see Layer.attach and Sequential).
WEIGHTS_STREAM = 0
SHUFFLE_STREAM = 1

# Counts every change to what training updates: a layer frozen or unfrozen, a layer added to or
# removed from a model. A model compares it with the value it last prepared for at each step (an
# int comparison), so `layer.trainable = False` applies from the next step without a new compile.
_configuration_version = 0
# Every name add_weight was given, in any layer: the attributes Layer.__setattr__ has to check.
_weight_names: set[str] = set()


def configuration_changed() -> None:
    """Record that some layer's trainability or some model's layer list changed."""
    global _configuration_version
    _configuration_version += 1


def configuration_version() -> int:
    """The number of :func:`configuration_changed` calls so far."""
    return _configuration_version


def unique_name(cls: type) -> str:
    """``dense``, ``dense_1``, ``dense_2``... for successive objects of class ``Dense``, as in Keras."""
    base = re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", cls.__name__).lower()
    number = next(_name_counters[base])
    return base if number == 0 else f"{base}_{number}"


class StepCounter:
    """The number of training batches a model has run; stochastic layers key their random draws on it."""

    def __init__(self):
        self.value = 0


class Layer:
    """Base class of every layer.

    Args:
        name: unique name; generated from the class name (``dense``, ``dense_1``...) when None.
        trainable: whether training updates the weights; may be changed at any time, and a model
            then skips (or resumes) the layer's weights from its next step, without a new compile.
        input_shape: per-sample input shape, e.g. ``(784,)``, for the first layer of a Sequential.
            The legacy ``input_dim=784`` is accepted for ``input_shape=(784,)``, with a
            DeprecationWarning.

    Subclasses implement ``build`` (calling :meth:`add_weight`, then ``super().build``),
    ``compute_output_shape``, ``forward``, ``backward`` and ``get_config``. ``forward`` writes into
    a buffer from ``self.buffers`` and returns it; ``backward`` returns d loss / d input.

    Example:
        >>> class Scale(Layer):
        ...     def __init__(self, factor, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.factor = factor
        ...     def forward(self, x, training):
        ...         return np.multiply(x, self.factor, out=self.buffers.get("y", x.shape))
        ...     def backward(self, dy):
        ...         return np.multiply(dy, self.factor, out=self.buffers.get("dx", dy.shape))
        ...     def get_config(self):
        ...         return {**super().get_config(), "factor": self.factor}
    """

    @renamed_arguments(input_dim=("input_shape", lambda dim: (dim,)))
    def __init__(self, name: str | None = None, trainable: bool = True, input_shape: tuple | None = None):
        self.name = name or unique_name(type(self))
        self.uid = next(_layer_ids)  # shared by the copies a model runs (shared calls, device clones)
        self.trainable = trainable
        self.input_shape_arg = (None if input_shape is None else
                                check_shape(input_shape, "input_shape", f"Layer {self.name!r} ({type(self).__name__})"))
        self.built = False
        self.input_shape: tuple | None = None
        self.ops: ModuleType | None = None
        self.position = 0
        self.rng: np.random.Generator | None = None
        self.steps = StepCounter()
        # The model clears this on its first trainable layer: nobody needs that layer's dx.
        self.needs_input_gradient = True
        self.buffers = BufferCache()
        self._weights: dict[str, np.ndarray] = {}
        self._gradients: dict[str, np.ndarray] = {}
        self._regularizers: dict[str, regularizers.Regularizer] = {}
        self._inbound_nodes: list = []  # one graph.Node per call on symbolic tensors

    # Merge layers (Add, Concatenate...) take a list of tensors; every other layer takes one.
    takes_several_inputs = False

    # ----- life cycle --------------------------------------------------------------------------

    def attach(self, ops: ModuleType, position: int, seed: int, steps: StepCounter) -> None:
        """Give the layer the model's backend, its position, the model seed and step counter.

        Weights are drawn from a generator seeded by (seed, position), so a model rebuilt with the
        same seed gets the same weights on every backend.
        """
        self.ops = ops
        self.position = position
        self.rng = np.random.default_rng([seed, WEIGHTS_STREAM, position])
        self.steps = steps

    def build(self, input_shape: tuple) -> None:
        """Create the weights for inputs of ``input_shape`` (batch first, ``None`` for the batch)."""
        self.input_shape = tuple(input_shape)
        self.built = True

    def _unbuild(self) -> None:
        """Forget the weights ``build`` created (a load that built the layer and was then refused
        puts it back as it found it)."""
        for store in (self._weights, self._gradients, self._regularizers):
            store.clear()
        self.buffers = BufferCache()
        self.input_shape, self.built = None, False

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """The output shape for ``input_shape``; the identity unless a layer changes shapes."""
        return tuple(input_shape)

    def check_input_shape(self, input_shape: tuple, sources: list[str] | None = None) -> None:
        """Raise, naming the layer and the shapes, when the layer cannot take ``input_shape``.

        Called when the layer is wired into a graph, before any weight exists (``sources`` are
        the names of the layers that produce the inputs, for the message); ``build`` may call it.
        """

    @property
    def output_shape(self) -> tuple:
        if not self.built:
            raise ValueError(f"Layer {self.name!r} has not been built yet, so its output shape is unknown.")
        return self.compute_output_shape(self.input_shape)

    def add_weight(self, shape: tuple, initializer: Any, name: str, regularizer: Any = None) -> np.ndarray:
        """Create weight ``name`` from ``initializer`` and a zeroed gradient buffer of the same shape.

        ``regularizer`` (a :mod:`axonal.regularizers` name or object) adds its penalty to the loss
        while the layer is trainable.
        """
        charge_weight(self.name, name, shape)  # refuses, before allocating, beyond a weight_limit
        value = initializers.get(initializer)(shape, dtype=np.float32, rng=self.rng)
        self._weights[name] = value
        self._gradients[name] = np.zeros_like(value)
        _weight_names.add(name)
        regularizer = regularizers.get(regularizer)
        if regularizer is not None:
            self._regularizers[name] = regularizer
        return value

    # ----- running -----------------------------------------------------------------------------

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        """Compute the output for batch ``x`` into a buffer the layer owns, and return it."""
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        """Given d loss / d output, fill the weight gradients and return d loss / d input
        (None when :attr:`needs_input_gradient` is False)."""
        raise NotImplementedError

    @property
    def output_activation(self) -> str | None:
        """The activation ending this layer that a loss could absorb (``"softmax"``...), if any."""
        return None

    def __call__(self, x: Any, training: bool = False):
        """On symbolic tensors (from :func:`axonal.Input`): wire the layer into a functional graph
        and return its symbolic output. On an array: run the layer on its own (building it on
        first use) and return a copy of the result.

        Example:
            >>> Dense(3, activation="relu")(np.ones((2, 4), dtype="float32")).shape
            (2, 3)
            >>> outputs = Dense(3, activation="relu")(Input(shape=(4,)))  # a KerasTensor
        """
        if graph.is_symbolic(x):
            return graph.call_symbolic(self, x)
        if self.takes_several_inputs:
            raise TypeError(f"Layer {self.name!r} ({type(self).__name__}) can only be called on symbolic tensors "
                            "inside a functional model. Fix: e.g. Add()([Input(shape=(4,)), Input(shape=(4,))]).")
        inputs = as_float_array(x, "x")
        if not self.built:
            self.attach(host_backend(), 0, draw_seed(), self.steps)
            self.build((None,) + inputs.shape[1:])
        check_feature_shape(inputs, self.input_shape, self.name)
        alone = running_model.set(None)  # on its own, even from a callback of a running fit
        try:
            return self.forward(inputs, training).copy()
        finally:
            running_model.reset(alone)

    # ----- symbolic tensors (functional models) -------------------------------------------------

    @property
    def output(self):
        """The tensor the layer's first call on symbolic tensors made, as Keras' ``layer.output``
        (feature extraction: ``Model(model.inputs, [layer.output for layer in model.layers])``)."""
        return self._first_node("output").output

    @property
    def input(self):
        """The tensor (a list for a merge) the layer's first symbolic call read, as ``layer.input``."""
        node = self._first_node("input")
        if node.is_input:
            return node.output  # an InputLayer's input is its own tensor, as in Keras
        return list(node.inputs) if self.takes_several_inputs else node.inputs[0]

    def _first_node(self, attribute: str):
        if not self._inbound_nodes:
            raise AttributeError(f"Layer {self.name!r} has never been called on symbolic tensors, so it has no "
                                 f"{attribute} tensor. Fix: call it on an Input (or put it in a built model) first.")
        return self._inbound_nodes[0]

    # ----- weights -----------------------------------------------------------------------------

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        if hasattr(self, "_trainable"):  # not at construction: no model can hold the layer yet
            from axonal.models.guards import check_layer_change  # (models import layers: not at the top)
            check_layer_change(self, f"Setting {self.name}.trainable")
        self._trainable = bool(value)
        configuration_changed()

    def regularization_loss(self) -> float:
        """The summed penalties of the regularised weights (0.0 for a frozen layer, as in Keras)."""
        if not self.trainable:
            return 0.0
        return sum(regularizer(self._weights[name], self._regularization_scratch(name))
                   for name, regularizer in self._regularizers.items())

    def add_regularization_gradients(self) -> None:
        """Add each regulariser's gradient to its weight's gradient, after :meth:`backward`."""
        if not self.trainable:
            return
        for name, regularizer in self._regularizers.items():
            regularizer.add_gradient(self._gradients[name], self._weights[name],
                                     self._regularization_scratch(name))

    @property
    def weights(self) -> list[np.ndarray]:
        """Every weight array, in creation order (the arrays themselves, updated in place)."""
        return list(self._weights.values())

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        return self.weights if self.trainable else []

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        return [] if self.trainable else self.weights

    @property
    def gradients(self) -> list[np.ndarray]:
        """Gradient buffers, aligned with :attr:`trainable_weights`, filled by :meth:`backward`."""
        return list(self._gradients.values()) if self.trainable else []

    def _gradient_buffer(self, name: str) -> np.ndarray | None:
        """Where :meth:`backward` writes weight ``name``'s gradient: None for a frozen layer (or
        one without that weight), which tells the kernel to skip that gradient."""
        return self._gradients.get(name) if self.trainable else None

    def count_params(self) -> int:
        """Number of scalars in the weights."""
        if not self.built:
            raise ValueError(f"Layer {self.name!r} has not been built yet: call build() or add it to a "
                             "model with a known input shape before counting its parameters.")
        return int(sum(w.size for w in self._weights.values()))

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights, as NumPy arrays."""
        return [w.copy() for w in self._weights.values()]

    def set_weights(self, weights: list[Any]) -> None:
        """Overwrite the weights in place from arrays of the same shapes (see :meth:`get_weights`).

        Every array is checked (count, shape, numbers, finite) before any is copied, so a refused
        list leaves the layer as it was.

        Raises:
            ValueError, TypeError: naming the weight, the expected and the received value.
        """
        assign_weights(self, checked_weights(self, weights))

    def __setattr__(self, name: str, value: Any) -> None:
        """``layer.kernel = array`` (any weight attribute): the values are checked, then copied into
        the layer's own array, as Keras' ``kernel.assign(array)`` does; rebinding the attribute would
        leave the optimiser and the kernels with the old array."""
        # Forward passes set attributes at every step: names no layer gave a weight cost one set
        # lookup. (getattr, not self.__dict__, which would slow every later attribute access.)
        if name in _weight_names:
            weights = getattr(self, "_weights", None)
            if weights and name in weights and value is not weights[name]:
                np.copyto(weights[name], checked_replacement(self, name, value))
                return
        object.__setattr__(self, name, value)

    # ----- configuration -----------------------------------------------------------------------

    def _regularization_scratch(self, name: str) -> np.ndarray:
        weight = self._weights[name]
        return self.buffers.get(f"regularization/{name}", weight.shape, weight.dtype)

    def get_config(self) -> dict:
        """The constructor arguments; ``type(layer).from_config(config)`` makes an equivalent layer."""
        config = {"name": self.name, "trainable": self.trainable}
        if self.input_shape_arg is not None:
            config["input_shape"] = self.input_shape_arg
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Layer":
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"


class ActivationOutputMixin:
    """For layers ending in ``self.activation`` (Dense, Activation), which a loss may absorb.

    With softmax + categorical cross-entropy (or sigmoid + binary cross-entropy) the compiled model
    absorbs the activation into the loss: while that model runs, :attr:`activation_in_loss` is
    True, the layer outputs logits and the loss kernel applies the activation exactly, fused with
    the loss.
    """

    activation: str

    @property
    def activation_in_loss(self) -> bool:
        """True while a model whose loss absorbs this layer's activation runs (not in another model
        holding the layer, nor in a call of the layer on its own)."""
        objective = getattr(running_model.get(), "objective", None)
        return objective is not None and objective.absorbs(self)

    @property
    def output_activation(self) -> str:
        return self.activation

    @property
    def applied_activation(self) -> str:
        """The activation the layer's fused kernel applies: none when a loss absorbs it, or when
        its derivative needs the pre-activation (GELU, SiLU, Mish: :attr:`separate_activation`)."""
        if self.activation_in_loss or self.activation in activations.FROM_INPUT:
            return "linear"
        return self.activation

    @property
    def separate_activation(self) -> str | None:
        """An activation applied by its own op after the fused kernel, which keeps the kernel's
        output z for the backward pass (the derivative of GELU, SiLU, Mish is a function of z)."""
        return self.activation if self.activation in activations.FROM_INPUT else None

    def _activate(self, z: np.ndarray) -> np.ndarray:
        """The layer's output from its kernel's output ``z`` (the same array unless the activation
        is separate)."""
        activation = self.separate_activation
        if activation is None:
            return z
        y = self.buffers.get("activated", z.shape)
        self.ops.activation_forward(as_rows(y), as_rows(z), activation, self.alpha)
        return y

    def _deactivate(self, dy: np.ndarray, z: np.ndarray) -> np.ndarray:
        """d loss / d kernel output from d loss / d layer output (``dy`` itself unless the
        activation is separate)."""
        activation = self.separate_activation
        if activation is None:
            return dy
        dz = self.buffers.get("dactivated", dy.shape)
        self.ops.activation_backward(as_rows(dz), as_rows(dy), as_rows(z), activation, self.alpha)
        return dz


def as_rows(array: np.ndarray) -> np.ndarray:
    """A 2-D view (rows of the last axis) of a batch of any rank, for the kernels, which take 2-D
    arrays; elementwise results and softmax over the last axis are unchanged by it."""
    return array.reshape(-1, array.shape[-1])
