"""The per-batch half of training: one train, test or predict step, and what they depend on.

``Trainer`` (the per-call half: compile, fit, evaluate, predict, the ``*_on_batch`` methods)
derives from :class:`Steps`. A step runs on a batch already converted and checked, and allocates
nothing once the model's buffers exist.

What a training step updates is prepared by :meth:`Steps._prepare_optimizer` from the layers'
``trainable`` flags, and prepared again at the first step after any layer is frozen, unfrozen,
added or removed (a counter in :mod:`axonal.layers.base` says so with one integer comparison per
step): ``layer.trainable = False`` takes effect at the next step, without a new ``compile``. The
optimiser skips frozen weights but keeps their slots, so unfreezing resumes from them.

The optimiser update and the step count form one unit that a Ctrl-C never splits
(:mod:`axonal.models.guards`); with ``check_numerics`` every stage of the step is checked for
NaN/inf (:mod:`axonal.models.numerics`).
"""
from __future__ import annotations

import numpy as np

from axonal import metrics as metrics_module
from axonal.layers import Layer
from axonal.layers.base import ActivationOutputMixin, configuration_version
from axonal.models import compile_args
from axonal.models.guards import InterruptGuard
from axonal.models.numerics import NumericsChecker


class Steps:
    """One step of training, evaluation or prediction on a prepared batch.

    The model provides ``_layers``, ``ops``, ``buffers``, ``steps``, ``weights``, ``output_shape``
    and ``_forward``; :class:`~axonal.models.trainer.Trainer` sets ``optimizer``, ``loss`` and the
    metric identifiers.
    """

    def __init__(self):
        self.metrics: list[metrics_module.Metric] = []
        self._metric_identifiers = None
        # Set by _configure_output and _prepare_optimizer.
        self._absorbed_activation: str | None = None
        self._parameters: list[np.ndarray] = []
        self._gradients: list[np.ndarray] = []
        self._backprop_layers: list[Layer] = []
        self._prepared_for: int | None = None  # the configuration version the lists above describe
        self._interrupts = InterruptGuard()  # active while fit/train_on_batch run
        self._numerics: NumericsChecker | None = None  # set by compile(check_numerics=True)

    def train_step(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """One gradient step on a prepared batch; updates the metrics and returns the batch loss
        (regularisation penalties included, as Keras reports it)."""
        if self._prepared_for != configuration_version():
            self._prepare_optimizer()
        numerics = self._numerics
        outputs = self._forward(x, training=True) if numerics is None else numerics.forward(x)
        doutputs = self.buffers.get("doutputs", outputs.shape)
        loss = self.loss.compute(self.ops, doutputs, outputs, y, sample_weight) + self._regularization_loss()
        if numerics is not None:
            numerics.check_loss(loss, outputs, doutputs)
        for layer in self._backprop_layers:
            doutputs = layer.backward(doutputs)
            layer.add_regularization_gradients()
            if numerics is not None:
                numerics.check_backward(layer, doutputs)
        self._apply_update(numerics)
        self._update_metrics(y, outputs, sample_weight)
        return loss

    def test_step(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """Loss of a prepared batch in inference mode (penalties included); updates the metrics."""
        outputs = self._forward(x, training=False)
        doutputs = self.buffers.get("doutputs", outputs.shape)
        loss = self.loss.compute(self.ops, doutputs, outputs, y, sample_weight) + self._regularization_loss()
        self._update_metrics(y, outputs, sample_weight)
        return loss

    def predict_step(self, x: np.ndarray) -> np.ndarray:
        """Predictions for a prepared batch, in a buffer reused by the next call."""
        return self._predictions(self._forward(x, training=False))

    def reset_metrics(self) -> None:
        """Forget what every metric has seen (fit does it each epoch, ``*_on_batch`` each call)."""
        for metric in self.metrics:
            metric.reset_state()

    # ----- internals ---------------------------------------------------------------------------

    def _apply_update(self, numerics: NumericsChecker | None) -> None:
        """The optimiser update and the step count, applied whole or not at all as far as a
        Ctrl-C is concerned: one that arrives earlier stops the step before the update, one that
        arrives during it stops the run right after it (see :mod:`axonal.models.guards`)."""
        interrupts = self._interrupts
        interrupts.check()
        if numerics is not None:
            numerics.save_state()
        interrupts.updating = True
        try:
            self.optimizer.apply(self._gradients, self._parameters)
            if numerics is not None:
                numerics.check_update()  # undoes the update before raising
            self.steps.value += 1
        finally:
            interrupts.updating = False
        interrupts.check()

    def _regularization_loss(self) -> float:
        """The penalties of the trainable layers' regularisers (0.0 for a model without any)."""
        return sum(layer.regularization_loss() for layer in self._layers)

    def _predictions(self, outputs: np.ndarray) -> np.ndarray:
        """Outputs as predict returns them: the activation a fused loss absorbed is applied here."""
        if self._absorbed_activation is None:
            return outputs
        predictions = self.buffers.get("predictions", outputs.shape)
        self.ops.activation_forward(predictions, outputs, self._absorbed_activation, 0.0)
        return predictions

    def _update_metrics(self, y: np.ndarray, outputs: np.ndarray, sample_weight: np.ndarray | None) -> None:
        if self.metrics:
            predictions = self._predictions(outputs)
            for metric in self.metrics:
                metric.update_state(y, predictions, sample_weight)

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
            compile_args.check_output_activation(self.loss, output_layer)
            output_layer.activation_in_loss = True
            self._absorbed_activation = fused
        self.metrics = metrics_module.get_list(self._metric_identifiers, self.loss.sparse_labels,
                                               self.output_shape[-1])

    def _prepare_optimizer(self) -> None:
        """Collect the trainable weights and their gradients and give the optimiser their slots.

        Frozen weights are left out (the optimiser keeps their slots); the slots of weights no
        longer in the model (a popped layer's) are dropped.
        """
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
        else:
            self.optimizer.retain(self.weights)
        self._prepared_for = configuration_version()
