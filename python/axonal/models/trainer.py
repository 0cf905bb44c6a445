"""Trainer: the compile/fit/evaluate/predict half of a model, as Keras splits it.

A model class mixes this in and provides ``_layers`` (built), ``ops``, ``buffers``, ``steps``,
``shuffle_rng``, ``output_shape``, ``build`` and ``_forward``; the batch loops are in
:mod:`axonal.models.loops` and the once-per-call argument checks in :mod:`axonal.models.data`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from axonal import losses, metrics as metrics_module, optimizers
from axonal._validation import check_positive_int
from axonal.callbacks import History
from axonal.layers import Layer
from axonal.layers.base import ActivationOutputMixin
from axonal.models import data, loops


class Trainer:
    """Training and inference for a stack of layers (see :class:`axonal.models.Sequential`)."""

    def __init__(self):
        self.optimizer: optimizers.Optimizer | None = None
        self.loss: losses.Loss | None = None
        self.metrics: list[metrics_module.Metric] = []
        self.history: History | None = None
        self.stop_training = False
        self._metric_identifiers: Any = None
        # Set for each run by _configure_output and _prepare_optimizer.
        self._absorbed_activation: str | None = None
        self._parameters: list[np.ndarray] = []
        self._gradients: list[np.ndarray] = []
        self._backprop_layers: list[Layer] = []

    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, metrics: Any = None) -> None:
        """Choose the optimiser, loss and metrics.

        Args:
            optimizer: name (``"sgd"``, ``"rmsprop"``, ``"adagrad"``, ``"adadelta"``, ``"adam"``) or instance.
            loss: ``"categorical_crossentropy"``, ``"sparse_categorical_crossentropy"``,
                ``"binary_crossentropy"``, ``"mse"``, or a Loss instance.
            metrics: e.g. ``["accuracy"]``.
        """
        self.optimizer = optimizers.get(optimizer)
        self.loss = losses.get(loss)
        self._metric_identifiers = metrics
        if self.built:
            self.build()  # run on the backend active now
            self._configure_output()

    def fit(self, x: Any, y: Any, batch_size: int | None = 32, epochs: int = 1, verbose: Any = "auto",
            validation_data: tuple | None = None, validation_split: float = 0.0, shuffle: bool = True,
            callbacks: list | None = None) -> History:
        """Train on ``x``, ``y`` for ``epochs`` epochs of mini-batches.

        Args:
            x: inputs (N, ...) convertible to float32 (integers and booleans are converted).
            y: labels in the form the loss expects (one-hot rows, class ids, 0/1 or targets).
            batch_size: samples per gradient step.
            epochs: passes over the data.
            verbose: ``"auto"``/1 progress bar, 2 one line per epoch, 0 silent.
            validation_data: ``(x_val, y_val)`` evaluated after each epoch.
            validation_split: fraction of the data, taken from the end before shuffling, held out
                for validation (ignored when ``validation_data`` is given).
            shuffle: reshuffle the training samples every epoch (with the model's seeded generator).
            callbacks: :class:`axonal.callbacks.Callback` instances.

        Returns:
            A History whose ``history`` maps ``loss``, each metric and their ``val_`` versions to
            per-epoch values.
        """
        self._require_compiled("fit")
        batch_size, verbose = data.resolve_batch_size(batch_size), data.resolve_verbose(verbose)
        epochs = check_positive_int(epochs, "epochs")
        inputs, targets = self._prepare_data(x, y)
        if validation_data is not None:
            x_val, y_val = data.unpack_validation_data(validation_data)
            validation = self._prepare_data(x_val, y_val, "validation_data[0]", "validation_data[1]")
        elif validation_split:
            (inputs, targets), validation = data.split_validation(inputs, targets, validation_split)
        else:
            validation = None
        self._prepare_optimizer()
        return loops.fit_loop(self, inputs, targets, batch_size, epochs, verbose,
                              data.check_callbacks(callbacks), validation, bool(shuffle))

    def evaluate(self, x: Any, y: Any, batch_size: int | None = 32, verbose: Any = "auto",
                 callbacks: list | None = None) -> float | list[float]:
        """Loss and metrics on ``x``, ``y`` in inference mode (dropout off).

        Returns:
            ``[loss, metric_1, ...]`` in compile order, or the loss alone when there are no metrics.
        """
        self._require_compiled("evaluate")
        batch_size, verbose = data.resolve_batch_size(batch_size), data.resolve_verbose(verbose)
        inputs, targets = self._prepare_data(x, y)
        logs = loops.evaluate_loop(self, inputs, targets, batch_size, verbose,
                                   data.check_callbacks(callbacks))
        results = [logs["loss"]] + [logs[metric.name] for metric in self.metrics]
        return results[0] if len(results) == 1 else results

    def predict(self, x: Any, batch_size: int | None = 32, verbose: Any = "auto",
                callbacks: list | None = None) -> np.ndarray:
        """The model's outputs for ``x`` (probabilities for softmax/sigmoid outputs), shape (N, K)."""
        batch_size, verbose = data.resolve_batch_size(batch_size), data.resolve_verbose(verbose)
        inputs = data.prepare_inputs(self, x)
        self._configure_output()
        return loops.predict_loop(self, inputs, batch_size, verbose, data.check_callbacks(callbacks))

    def train_step(self, x: np.ndarray, y: np.ndarray) -> float:
        """One gradient step on a prepared batch; updates the metrics and returns the batch loss."""
        outputs = self._forward(x, training=True)
        doutputs = self.buffers.get("doutputs", outputs.shape)
        loss = self.loss.compute(self.ops, doutputs, outputs, y)
        for layer in self._backprop_layers:
            doutputs = layer.backward(doutputs)
        self.optimizer.apply(self._gradients, self._parameters)
        self.steps.value += 1
        self._update_metrics(y, outputs)
        return loss

    def test_step(self, x: np.ndarray, y: np.ndarray) -> float:
        """Loss of a prepared batch in inference mode; updates the metrics."""
        outputs = self._forward(x, training=False)
        loss = self.loss.compute(self.ops, self.buffers.get("doutputs", outputs.shape), outputs, y)
        self._update_metrics(y, outputs)
        return loss

    def predict_step(self, x: np.ndarray) -> np.ndarray:
        """Predictions for a prepared batch, in a buffer reused by the next call."""
        return self._predictions(self._forward(x, training=False))

    # ----- internals ---------------------------------------------------------------------------

    def _predictions(self, outputs: np.ndarray) -> np.ndarray:
        """Outputs as predict returns them: the activation a fused loss absorbed is applied here."""
        if self._absorbed_activation is None:
            return outputs
        predictions = self.buffers.get("predictions", outputs.shape)
        self.ops.activation_forward(predictions, outputs, self._absorbed_activation, 0.0)
        return predictions

    def _update_metrics(self, y: np.ndarray, outputs: np.ndarray) -> None:
        if self.metrics:
            predictions = self._predictions(outputs)
            for metric in self.metrics:
                metric.update_state(y, predictions)

    def _prepare_data(self, x: Any, y: Any, x_argument: str = "x", y_argument: str = "y"):
        """Inputs and labels converted and checked once per call (building the model if needed)."""
        inputs = data.prepare_inputs(self, x, x_argument)
        self._configure_output()
        return inputs, data.prepare_targets(self, y, inputs, y_argument, x_argument)

    def _require_compiled(self, method: str) -> None:
        if self.optimizer is None or self.loss is None:
            raise RuntimeError(f"Model {self.name!r} must be compiled before {method}(). Fix: call "
                               "model.compile(optimizer='rmsprop', loss='categorical_crossentropy', "
                               "metrics=['accuracy']) first.")

    def _configure_output(self) -> None:
        """Fuse the output activation into the loss where exact, and resolve the metrics."""
        output_layer = self._layers[-1]
        for layer in self._layers:
            if isinstance(layer, ActivationOutputMixin):
                layer.activation_in_loss = False
        self._absorbed_activation = None
        if self.loss is None:
            return
        fused = self.loss.fused_activation
        if fused is not None and not self.loss.from_logits:
            if output_layer.output_activation != fused:
                ending = output_layer.output_activation or "no activation"
                raise ValueError(
                    f"Loss {self.loss.name!r} expects the output layer {output_layer.name!r} to end in a "
                    f"{fused} activation, but it ends in {ending}. "
                    f"Fix: use activation='{fused}' on the last layer, or pass "
                    f"{type(self.loss).__name__}(from_logits=True) if it outputs logits.")
            output_layer.activation_in_loss = True
            self._absorbed_activation = fused
        self.metrics = metrics_module.get_list(self._metric_identifiers, self.loss.sparse_labels,
                                               self.output_shape[-1])

    def _prepare_optimizer(self) -> None:
        """Collect the trainable weights and their gradients, and build the optimiser's slots once."""
        self._parameters = [w for layer in self._layers for w in layer.trainable_weights]
        self._gradients = [g for layer in self._layers for g in layer.gradients]
        trainable = [i for i, layer in enumerate(self._layers) if layer.trainable_weights]
        first = trainable[0] if trainable else len(self._layers)
        for position, layer in enumerate(self._layers):
            layer.needs_input_gradient = position != first
        # Layers before the first trainable one need no backward pass at all.
        self._backprop_layers = self._layers[first:][::-1]
        self.optimizer.ops = self.ops
        if not self.optimizer.built:
            self.optimizer.build(self._parameters)
        elif not self.optimizer.is_built_for(self._parameters):
            raise RuntimeError(f"The trainable weights of model {self.name!r} changed since its optimizer "
                               "was built (a layer was added, removed or frozen). Fix: call compile() "
                               "again with a new optimizer, e.g. model.compile(optimizer='rmsprop', ...).")
