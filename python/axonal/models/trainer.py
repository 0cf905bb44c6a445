"""Trainer: the compile/fit/evaluate/predict half of a model, as Keras splits it.

:class:`~axonal.models.model.Model` derives from it and provides ``plan``/``runner``, ``_layers``,
``ops``, ``buffers``, ``steps``, ``shuffle_rng``, ``weights``, ``output_shapes``, ``output_names``
and ``build``; the per-batch steps are in :mod:`axonal.models.steps`, the epochs in
:mod:`axonal.models.training` (run by :mod:`axonal.models.executors`), the losses and metrics of the outputs in
:mod:`axonal.models.objective` and the once-per-call argument checks in :mod:`axonal.models.data`.
Arrays travel as lists: one per model input (``xs``) and one per output (``ys``).

Every public method holds the model's lock (:mod:`axonal.models.guards`), so calls from several
threads on one model run one after the other, never interleaved; ``fit`` and ``train_on_batch``
also defer Ctrl-C to a step boundary.
"""
from __future__ import annotations

import threading
from typing import Any

import numpy as np

from axonal import optimizers
from axonal._legacy import renamed_arguments
from axonal._validation import check_positive_int
from axonal import distribution as _distribution
from axonal.callbacks import History
from axonal.distribution import layerwise as parallel_steps
from axonal.distribution.fitting import guarded, quiet_unless_chief, share_generator
from axonal.layers import graph
from axonal.models import batch_calls, data, nesting, numerics
from axonal.models.data_adapters import is_batch_source
from axonal.models.executors import quick_predict
from axonal.models.training import configure_for_prediction, evaluate_loop, fit_loop, make_logs, predict_loop
from axonal.models.guards import exclusive, training
from axonal.models.objective import Objective
from axonal.models.steps import Steps


class Trainer(Steps):
    """Training and inference for a stack of layers (see :class:`axonal.models.Sequential`)."""

    def __init__(self):
        super().__init__()
        self.optimizer: optimizers.Optimizer | None = None
        self.history: History | None = None
        self.stop_training = False
        self._lock = threading.RLock()  # one public call at a time on this model (guards.py)

    @exclusive
    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, metrics: Any = None,
                loss_weights: Any = None, check_numerics: bool | None = None, *,
                weighted_metrics: Any = None) -> None:
        """Choose the optimiser, the loss of each output and the metrics.

        Args:
            optimizer: name (``"sgd"``, ``"rmsprop"``, ``"adagrad"``, ``"adadelta"``, ``"adam"``) or instance.
            loss: ``"categorical_crossentropy"``, ``"sparse_categorical_crossentropy"``,
                ``"binary_crossentropy"``, ``"mse"``, or a Loss instance; for several outputs one
                for all, a list in output order, or a dict keyed by output name.
            metrics: e.g. ``["accuracy"]``; for several outputs a dict keyed by output name (or a
                list of lists in output order). As in Keras 3 they ignore sample and class weights.
            loss_weights: for several outputs, a list or dict of factors: the model minimises
                Σ weight·loss (each output's own loss is logged as ``<output>_loss``).
            check_numerics: debug option: check every training step for NaN/inf and raise a
                ``FloatingPointError`` naming the first layer where one appeared, before the step
                is applied (see :mod:`axonal.models.numerics`; slower). None reads
                ``$AXONAL_CHECK_NUMERICS`` (``1`` turns it on); not saved with the model.
            weighted_metrics: metrics in the forms ``metrics`` takes, weighted by ``sample_weight``
                or ``class_weight`` (named ``weighted_<metric>`` where a plain metric has the name).

        Example:
            >>> model.compile(optimizer="adam", loss="mse", check_numerics=True)
            >>> two_heads.compile("adam", loss={"label": "sparse_categorical_crossentropy", "box": "mse"},
            ...                   loss_weights={"label": 1.0, "box": 0.2}, metrics={"label": ["accuracy"]})
        """
        # Everything is resolved and checked first: a refused compile changes nothing.
        optimizer = optimizers.get(optimizer)
        check_numerics = numerics.resolve(check_numerics)
        objective = Objective(self.output_names if self.built else ["output"], loss, loss_weights, metrics,
                              weighted_metrics)
        if self.built:
            objective.check(self)
        self.optimizer, self.check_numerics = optimizer, check_numerics
        self._compile_args = (loss, loss_weights, metrics, weighted_metrics)
        self._metric_identifiers = metrics
        self.objective = None
        self._prepared_for = None  # the new optimiser gets its slots at the next step
        if self.built:
            self.build()  # run on the backend active now
            self._configure_output()

    @property
    def loss(self):
        """The compiled loss: one Loss for a model of one output, else the list, one per output
        (None before ``compile``)."""
        if getattr(self, "_compile_args", None) is None:
            return None
        if self.objective is None:
            self._configure_output()
        losses = self.objective.losses
        return losses[0] if len(losses) == 1 else list(losses)

    @property
    def check_numerics(self) -> bool:
        """Whether each training step is checked for NaN/inf (may be switched at any time)."""
        return self._numerics is not None

    @check_numerics.setter
    def check_numerics(self, value: bool) -> None:
        self._numerics = numerics.NumericsChecker(self) if value else None

    @renamed_arguments(nb_epoch="epochs")
    @guarded
    @training
    def fit(self, x: Any = None, y: Any = None, batch_size: int | None = None, epochs: int = 1, verbose: Any = "auto",
            callbacks: list | None = None, validation_split: float = 0.0, validation_data: Any = None,
            shuffle: bool = True, class_weight: dict | None = None, sample_weight: Any = None,
            initial_epoch: int = 0, steps_per_epoch: int | None = None, validation_steps: int | None = None,
            validation_batch_size: int | None = None, validation_freq: Any = 1) -> History:
        """Train on ``x``, ``y`` for ``epochs`` epochs of mini-batches (arguments in Keras' order).

        Args:
            x: inputs (N, ...) convertible to float32 (integers and booleans are converted); or
                data in batches: an :class:`axonal.utils.PyDataset` (``Sequence``), a generator or
                any iterable of ``(x, y)`` / ``(x, y, sample_weight)`` batches (then ``y``,
                ``sample_weight``, ``batch_size`` and ``validation_split`` stay unset; see
                :mod:`axonal.models.data_adapters`).
            y: labels in the form the loss expects (one-hot rows, class ids, 0/1 or targets).
            batch_size: samples per gradient step (None: 32; more than the data: one batch of all
                of it, as Keras).
            epochs: the epoch to train up to: epochs ``initial_epoch .. epochs - 1`` are run.
                (The legacy ``nb_epoch`` is accepted, with a DeprecationWarning.)
            verbose: ``"auto"``/1 progress bar, 2 one line per epoch, 0 silent.
            callbacks: :class:`axonal.callbacks.Callback` instances.
            validation_split: fraction of the data (and sample weights), taken from the end before
                shuffling, held out for validation (ignored when ``validation_data`` is given).
            validation_data: ``(x_val, y_val)`` or ``(x_val, y_val, sample_weight_val)``, or batches
                as ``x`` may be, evaluated after each epoch.
            shuffle: reshuffle the training samples every epoch (with the model's seeded generator);
                a PyDataset's batch order; ignored for generators (they choose their order).
            class_weight: ``{class id: weight}``; each training sample weighs its class's weight (1 for
                classes not listed). Classes come from the labels as in Keras: the argmax of one-hot
                rows, else the rounded label. Not applied to validation data.
            sample_weight: (N,) weights of the training samples (not with ``class_weight``).
            initial_epoch: the epoch to start from, to resume a run: epochs are numbered from it
                and the History holds ``epochs - initial_epoch`` entries.
            steps_per_epoch: batches per epoch from a batch source (None: its length, or until it
                ends); the next epoch goes on where the last stopped, as in Keras.
            validation_steps: batches per validation when ``validation_data`` is a batch source.
            validation_batch_size: rows per validation batch of arrays (None: ``batch_size``).
            validation_freq: validate after every n-th epoch (an int), or after the epochs listed
                (counted from 1), as in Keras.

        Returns:
            A History whose ``history`` maps ``loss``, each metric and their ``val_`` versions to
            per-epoch values.

        Raises:
            KeyboardInterrupt: on Ctrl-C, at the next step boundary (as Keras, it is not
                swallowed): the model then holds the weights of its last completed step, and
                ``model.history`` the epochs completed by this call.
            FloatingPointError: with ``check_numerics``, where NaN/inf first appears.

        Example:
            >>> model.fit(x, y, epochs=10, class_weight={0: 1.0, 1: 5.0}, validation_split=0.1)
        """
        self._require_compiled("fit")
        schedule = data.ValidationSchedule(validation_freq, validation_batch_size)
        if is_batch_source(x):
            # Under a distribution a PyDataset's batch order comes from rank 0's generator: shared
            # before anything (a validation check peeks at the first batch) draws from it.
            share_generator(self)
            return batch_calls.fit(self, x, y, batch_size, epochs, verbose, callbacks, validation_split,
                                   validation_data, shuffle, class_weight, sample_weight, initial_epoch,
                                   steps_per_epoch, validation_steps, schedule)
        batch_calls.check_array_steps("fit", steps_per_epoch=steps_per_epoch)
        batch_size, verbose = data.resolve_batch_size(batch_size), quiet_unless_chief(data.resolve_verbose(verbose))
        epochs = check_positive_int(epochs, "epochs")
        initial_epoch = data.check_initial_epoch(initial_epoch)
        inputs, targets = self._prepare_data(x, y)
        batch_size = data.clamp_batch_size(batch_size, inputs)
        weights = data.sample_weights(sample_weight, class_weight, targets, output_shape=self.output_shapes[0])
        if batch_calls.is_validation_source(validation_data):
            validation = batch_calls.validation_source(self, validation_data, validation_steps)
        elif validation_data is not None:
            batch_calls.check_array_steps("fit", validation_steps=validation_steps)
            x_val, y_val, weights_val = data.unpack_validation_data(validation_data)
            validation = self._prepare_data(x_val, y_val, "validation_data[0]", "validation_data[1]")
            validation += (data.sample_weights(weights_val, None, validation[1], "validation_data[2]"),)
        elif validation_split:
            (inputs, targets, weights), validation = data.split_validation(inputs, targets, weights,
                                                                          validation_split)
            if class_weight is not None:  # class weights apply to training only, as in Keras
                validation = validation[:2] + (None,)
        else:
            validation = None
        return fit_loop(self, inputs, targets, weights, batch_size, epochs, initial_epoch, verbose,
                        data.check_callbacks(callbacks), validation, bool(shuffle), schedule)

    @guarded
    @exclusive
    def evaluate(self, x: Any = None, y: Any = None, batch_size: int | None = None, verbose: Any = "auto",
                 sample_weight: Any = None, steps: int | None = None, callbacks: list | None = None,
                 return_dict: bool = False) -> float | list[float] | dict[str, float]:
        """Loss and metrics on ``x``, ``y`` in inference mode (dropout and augmentation off).

        Args:
            sample_weight: (N,) weights of the samples in the loss and the metrics.
            steps: batches to evaluate when ``x`` is a batch source (as in ``fit``; None: all).
            return_dict: return ``{"loss": ..., metric name: ...}`` instead of a list.

        Returns:
            ``[loss, metric_1, ...]`` in compile order, or the loss alone when there are no metrics.
        """
        self._require_compiled("evaluate")
        if is_batch_source(x):
            logs = batch_calls.evaluate(self, x, y, batch_size, verbose, sample_weight, steps, callbacks)
            return self._results(logs, return_dict)
        batch_calls.check_array_steps("evaluate", steps=steps)
        batch_size, verbose = data.resolve_batch_size(batch_size), quiet_unless_chief(data.resolve_verbose(verbose))
        inputs, targets = self._prepare_data(x, y)
        batch_size = data.clamp_batch_size(batch_size, inputs)
        weights = data.sample_weights(sample_weight, None, targets)
        logs = evaluate_loop(self, inputs, targets, weights, batch_size, verbose,
                                   data.check_callbacks(callbacks))
        return self._results(logs, return_dict)

    @guarded
    @exclusive
    def predict(self, x: Any, batch_size: int | None = None, verbose: Any = "auto", steps: int | None = None,
                callbacks: list | None = None, *, device_array: bool = False) -> np.ndarray:
        """The model's outputs for ``x`` (probabilities for softmax/sigmoid outputs), shape (N, K);
        a list of one array per output for a model of several outputs.

        Args:
            x: inputs, or batches of inputs (a PyDataset, generator or iterable, as ``fit`` takes).
            steps: batches to predict when ``x`` is a batch source (None: all).
            device_array: on the ``cuda`` backend, return the predictions as the cupy array they
                were computed in, without the copy to the host (ignored elsewhere).
        """
        if verbose == 0 and callbacks is None and steps is None and not device_array:
            quick = quick_predict.predict(self, x, batch_size)  # a server's repeated call
            if quick is not None:
                return quick
        if is_batch_source(x):
            return batch_calls.predict(self, x, batch_size, verbose, steps, callbacks)
        batch_calls.check_array_steps("predict", steps=steps)
        batch_size, verbose = data.resolve_batch_size(batch_size), quiet_unless_chief(data.resolve_verbose(verbose))
        inputs = data.prepare_inputs(self, x)
        batch_size = data.clamp_batch_size(batch_size, inputs)
        configure_for_prediction(self)
        return data.per_output(self, predict_loop(self, inputs, batch_size, verbose,
                                                        data.check_callbacks(callbacks), bool(device_array)))

    @guarded
    @training
    def train_on_batch(self, x: Any, y: Any, sample_weight: Any = None, class_weight: dict | None = None,
                       return_dict: bool = False) -> float | list[float] | dict[str, float]:
        """One gradient step on ``x``, ``y`` as a single batch; the metrics are reset first (as in
        Keras 3), so the results describe this batch.

        Example:
            >>> for x_batch, y_batch in batches:
            ...     loss, accuracy = model.train_on_batch(x_batch, y_batch)
        """
        self._require_compiled("train_on_batch")
        inputs, targets = self._prepare_data(x, y)
        weights = data.sample_weights(sample_weight, class_weight, targets, output_shape=self.output_shapes[0])
        if _distribution.active() is not None:  # the batch is the global batch: each rank steps on its shard
            return self._results(parallel_steps.train_on_batch(self, inputs, targets, weights), return_dict)
        self.reset_metrics()
        loss = self.train_step(inputs, targets, weights)
        return self._results(make_logs(loss, self.metrics), return_dict)

    @guarded
    @exclusive
    def test_on_batch(self, x: Any, y: Any, sample_weight: Any = None,
                      return_dict: bool = False) -> float | list[float] | dict[str, float]:
        """Loss and metrics of ``x``, ``y`` as a single batch, in inference mode (metrics reset first)."""
        self._require_compiled("test_on_batch")
        inputs, targets = self._prepare_data(x, y)
        weights = data.sample_weights(sample_weight, None, targets)
        if _distribution.active() is not None:  # each rank tests its shard; loss and metrics reduced
            return self._results(parallel_steps.test_on_batch(self, inputs, targets, weights), return_dict)
        self.reset_metrics()
        loss = self.test_step(inputs, targets, weights)
        return self._results(make_logs(loss, self.metrics), return_dict)

    @exclusive
    def predict_on_batch(self, x: Any) -> np.ndarray:
        """The model's outputs for ``x`` run as one batch (a new array)."""
        inputs = data.prepare_inputs(self, x)
        configure_for_prediction(self)
        return data.per_output(self, [p.copy() for p in self.predict_step(inputs)])

    @property
    def metrics_names(self) -> list[str]:
        """The names of what :meth:`evaluate` returns, in its order: ``["loss", "accuracy"]``
        (Keras 2's meaning, which programs zip with evaluate's list)."""
        return ["loss"] + [metric.name for metric in self.metrics]

    @exclusive
    def __call__(self, inputs: Any, training: bool = False):
        """The model's outputs for ``inputs`` run as one batch, as Keras' ``model(x)``: a new NumPy
        array (a list, or a dict keyed by output name, for several outputs). Called on ``Input``
        tensors, the model is a layer of the model being built (:mod:`axonal.models.nesting`).

        Args:
            inputs: an array (a list or dict of arrays for several inputs).
            training: run dropout and augmentation as a training step would (nothing is updated,
                the step count does not move); False: inference, as ``predict``.

        Example:
            >>> probabilities = model(x_test[:8])
        """
        if graph.is_symbolic(inputs):  # a model used as a layer of another (axonal.models.nesting)
            if not self.built and hasattr(self, "_stack") and isinstance(inputs, graph.KerasTensor):
                before = self.input_shape
                try:
                    self.build(inputs.shape)  # an Input-less Sequential is built by its first call, as in Keras
                except ValueError:
                    self.input_shape = before  # a layer refused the shape: the model stays as it was
                    raise
            nesting.check_nestable(self, "another model")
            return graph.call_symbolic(self, inputs)
        if not isinstance(training, (bool, np.bool_)) and training is not None:
            raise TypeError(f"training must be True, False or None, received {training!r}.")
        prepared = data.prepare_inputs(self, inputs)
        configure_for_prediction(self)
        outputs = self._predictions(self.runner.forward(prepared, bool(training)))
        return data.per_output(self, [output.copy() for output in outputs])

    # ----- internals ---------------------------------------------------------------------------

    def _results(self, logs: dict[str, float], return_dict: bool) -> float | list[float] | dict[str, float]:
        """Keras' return value: the logs, or ``[loss, metric_1, ...]`` in compile order (the loss
        alone without metrics)."""
        if return_dict:
            return logs
        results = [logs["loss"]] + [logs[metric.name] for metric in self.metrics]
        return results[0] if len(results) == 1 else results

    def _prepare_data(self, x: Any, y: Any, x_argument: str = "x", y_argument: str = "y"):
        """Inputs and labels converted and checked once per call (building the model if needed)."""
        inputs = data.prepare_inputs(self, x, x_argument)
        self._configure_output()
        return inputs, data.prepare_targets(self, y, inputs, y_argument, x_argument)

    def _require_compiled(self, method: str) -> None:
        if self.optimizer is None or getattr(self, "_compile_args", None) is None:
            raise RuntimeError(f"Model {self.name!r} must be compiled before {method}(). Fix: call "
                               "model.compile(optimizer='rmsprop', loss='categorical_crossentropy', "
                               "metrics=['accuracy']) first.")
