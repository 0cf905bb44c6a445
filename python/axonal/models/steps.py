"""The per-batch half of training: one train, test or predict step, and what they depend on.

``Trainer`` (the per-call half: compile, fit, evaluate, predict, the ``*_on_batch`` methods)
derives from :class:`Steps`. A step runs the model's plan (:mod:`axonal.models.plan`) on a batch
already converted and checked: ``xs`` holds one array per model input, ``ys`` one target array
per output. It allocates nothing once the model's buffers exist.

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

from axonal.layers.base import configuration_version
from axonal.models.guards import InterruptGuard
from axonal.models.numerics import NumericsChecker
from axonal.models.objective import Objective, predictions_of


class Steps:
    """One step of training, evaluation or prediction on a prepared batch.

    The model provides ``plan``, ``runner``, ``_layers``, ``ops``, ``buffers``, ``steps`` and
    ``weights``; :class:`~axonal.models.trainer.Trainer` sets ``optimizer`` and ``objective``
    (the losses, loss weights and metrics of the outputs).
    """

    def __init__(self):
        self.objective: Objective | None = None
        self._parameters: list[np.ndarray] = []
        self._gradients: list[np.ndarray] = []
        self._prepared_for: int | None = None  # the configuration version the lists above describe
        self._interrupts = InterruptGuard()  # active while fit/train_on_batch run
        self._numerics: NumericsChecker | None = None  # set by compile(check_numerics=True)

    @property
    def metrics(self) -> list:
        """Every metric the logs report (per-output losses of a multi-output model included)."""
        return self.objective.metrics if self.objective is not None else []

    def train_step(self, xs: list, ys: list, sample_weight: np.ndarray | None = None) -> float:
        """One gradient step on a prepared batch; updates the metrics and returns the batch loss
        (loss weights and regularisation penalties included, as Keras reports it)."""
        if self._prepared_for != configuration_version():
            self._prepare_optimizer()
        numerics = self._numerics
        outputs = self.runner.forward(xs, True) if numerics is None else numerics.forward(xs)
        doutputs = [self.buffers.get(f"doutputs/{k}", output.shape) for k, output in enumerate(outputs)]
        loss = self.objective.compute(self.ops, doutputs, outputs, ys, sample_weight) + self._regularization_loss()
        if numerics is not None:
            numerics.check_loss(loss, outputs, doutputs)
        self.runner.backward(doutputs, None if numerics is None else numerics.check_backward)
        self._apply_update(numerics)
        self._update_metrics(ys, outputs, sample_weight)
        return loss

    def test_step(self, xs: list, ys: list, sample_weight: np.ndarray | None = None) -> float:
        """Loss of a prepared batch in inference mode (penalties included); updates the metrics."""
        outputs = self.runner.forward(xs, False)
        doutputs = [self.buffers.get(f"doutputs/{k}", output.shape) for k, output in enumerate(outputs)]
        loss = self.objective.compute(self.ops, doutputs, outputs, ys, sample_weight) + self._regularization_loss()
        self._update_metrics(ys, outputs, sample_weight)
        return loss

    def predict_step(self, xs: list) -> list:
        """Predictions for a prepared batch (one array per output), in buffers reused by the next call."""
        return self._predictions(self.runner.forward(xs, False))

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

    def _predictions(self, outputs: list) -> list:
        """Outputs as predict returns them: the activation a fused loss absorbed is applied here."""
        return predictions_of(self.objective, self.ops, self.buffers, outputs)

    def _update_metrics(self, ys: list, outputs: list, sample_weight: np.ndarray | None) -> None:
        if self.objective.has_output_metrics:
            self.objective.update_metrics(ys, self._predictions(outputs), sample_weight)

    def _configure_output(self) -> None:
        """Fuse each output activation into its loss where exact, and resolve the metrics (the
        objective is made from ``compile``'s arguments for the model's outputs as they are now)."""
        arguments = getattr(self, "_compile_args", None)
        if arguments is None:
            return
        if self.objective is None or self.objective.output_names != self.output_names:
            self.objective = Objective(self.output_names, *arguments)
        self.objective.configure(self)

    def _prepare_optimizer(self) -> None:
        """Mark what the backward pass runs, collect the trainable weights and their gradients and
        give the optimiser their slots.

        Frozen weights are left out (the optimiser keeps their slots); the slots of weights no
        longer in the model (a popped layer's) are dropped.
        """
        self.plan.prepare_backward()
        self._parameters = [w for layer in self._layers for w in layer.trainable_weights]
        self._gradients = [g for layer in self._layers for g in layer.gradients]
        self.optimizer.ops = self.ops
        if not self.optimizer.built:
            self.optimizer.build(self._parameters)
        else:
            self.optimizer.retain(self.weights)
        self._prepared_for = configuration_version()
