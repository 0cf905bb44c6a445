"""Sequential: a stack of layers, each feeding the next, trained and used as in Keras."""
from __future__ import annotations

import sys
from typing import Any

import numpy as np

from axonal import saving
from axonal._buffers import BufferCache
from axonal.backend import get_backend, host_backend
from axonal.backend.device import device_for
from axonal.layers import InputLayer, Layer, deserialize, serialize
from axonal.layers._weight_checks import set_weights_of
from axonal.layers.base import (SHUFFLE_STREAM, ActivationOutputMixin, StepCounter, configuration_changed,
                                unique_name)
from axonal.models import summary
from axonal.models.guards import exclusive, structural
from axonal.models.trainer import Trainer
from axonal.random import draw_seed


class Sequential(Trainer):
    """A linear stack of layers, trained with the methods of :class:`~axonal.models.trainer.Trainer`.

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
        super().__init__()
        self.name = name or unique_name(Sequential)
        self.seed = draw_seed()
        self.shuffle_rng = np.random.default_rng([self.seed, SHUFFLE_STREAM])
        self.steps = StepCounter()
        self.buffers = BufferCache()
        self.ops = None
        self.device = None  # the GPU a cuda model trains on (models/device_model.py)
        self.input_shape: tuple | None = None
        self.built = False
        self._trainable = True
        self._layers: list[Layer] = []
        for layer in layers or []:
            self.add(layer)

    # ----- structure ---------------------------------------------------------------------------

    @property
    def layers(self) -> list[Layer]:
        """The layers, in order (an :func:`Input` is not a layer of the list, as in Keras 3)."""
        return list(self._layers)

    @structural("add()")
    def add(self, layer: Layer) -> None:
        """Append ``layer``; the model is (re)built when its input shape is known (a layer that
        cannot be built is not added)."""
        if isinstance(layer, InputLayer):
            if self._layers or self.input_shape is not None:
                raise ValueError(f"Input {layer.name!r} can only be the first element of a Sequential "
                                 "model. Fix: move it to the front, or remove it.")
            self.input_shape = (None,) + layer.shape
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a Layer, received {layer!r} of type "
                            f"{type(layer).__name__}. Fix: add e.g. Dense(10).")
        if any(existing.name == layer.name for existing in self._layers):
            raise ValueError(f"Model {self.name!r} already has a layer named {layer.name!r}; "
                             "layer names must be unique. Fix: give the new layer another name.")
        if not self._layers and self.input_shape is None and layer.input_shape_arg is not None:
            self.input_shape = (None,) + layer.input_shape_arg
        self._layers.append(layer)
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
        if not self._layers:
            raise TypeError(f"Model {self.name!r} has no layers to pop. Fix: add a layer first.")
        layer = self._layers.pop()
        if isinstance(layer, ActivationOutputMixin):
            layer.activation_in_loss = False  # on its own again, it applies its own activation
        self.built = self.built and bool(self._layers)
        configuration_changed()
        return layer

    @property
    def trainable(self) -> bool:
        """The model's own flag; setting it sets every layer's, as in Keras (``model.trainable =
        False`` freezes the whole model, from the next training step)."""
        return self._trainable

    @trainable.setter
    @structural("Setting model.trainable", allowed_while_training=True)
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for layer in self._layers:
            layer.trainable = value

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
        if not self._layers:
            raise ValueError(f"Model {self.name!r} has no layers. Fix: add some, e.g. model.add(Dense(10)).")
        # On cuda, fit/evaluate/predict run on a device copy of the model (models/device_loop.py);
        # the layers themselves, and any step the device cannot run, use the host backend.
        self.device = device_for(get_backend())
        self.ops = host_backend()
        shape = self.input_shape
        for position, layer in enumerate(self._layers):
            layer.attach(self.ops, position, self.seed, self.steps)
            if not layer.built:
                layer.build(shape)
            elif tuple(layer.input_shape[1:]) != tuple(shape[1:]):
                raise ValueError(f"Layer {layer.name!r} was built for inputs {layer.input_shape} but "
                                 f"receives {shape} here. Fix: use a new layer.")
            shape = layer.compute_output_shape(shape)
        self.built = True

    @property
    def output_shape(self) -> tuple:
        return self._layers[-1].output_shape

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
        """Print the Keras-style table of layers, output shapes and parameter counts.

        Args:
            line_length: table width; Keras' default (88, or the terminal width less 4) when None.
            print_fn: called with the whole text instead of ``print``.
        """
        text = summary.summary_text(self, line_length or summary.default_line_length(), sys.stdout)
        (print_fn or print)(text)

    # ----- weights and configuration -----------------------------------------------------------

    @exclusive
    def get_weights(self) -> list[np.ndarray]:
        """Copies of every layer's weights, in layer order."""
        return [w for layer in self._layers for w in layer.get_weights()]

    @exclusive
    def set_weights(self, weights: list[Any]) -> None:
        """Overwrite every layer's weights from a list shaped like :meth:`get_weights`'s; every
        array is checked before any is copied, so a refused list changes nothing."""
        set_weights_of(self._layers, weights, f"Model {self.name!r}")  # all checked, then assigned

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

    def get_config(self) -> dict:
        """Name, layer configurations and input shape; ``Sequential.from_config`` rebuilds the model."""
        return {"name": self.name, "layers": [serialize(layer) for layer in self._layers],
                "build_input_shape": self.input_shape}

    @classmethod
    def from_config(cls, config: dict) -> "Sequential":
        """A new model (fresh weights) from :meth:`get_config`'s output."""
        model = cls(name=config.get("name"))
        if config.get("build_input_shape") is not None:
            model.input_shape = tuple(config["build_input_shape"])
        for layer_config in config["layers"]:
            model.add(deserialize(layer_config))
        return model

    def _forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        """Run every layer on batch ``x``; the result is the last layer's reused output buffer."""
        for layer in self._layers:
            x = layer.forward(x, training)
        return x
