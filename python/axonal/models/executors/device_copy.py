"""A model's copy on a device (the GPU of the ``cuda`` backend), and the steps that run on it.

A model built while ``cuda`` is the backend keeps its weights as NumPy arrays on the host: that is
what ``get_weights``, saving and callbacks read. ``fit``, ``evaluate`` and ``predict`` run on a
:class:`DeviceModel`: device arrays mirroring the weights, their gradients and the optimiser slots,
and a clone of each layer and of the optimiser whose ``ops`` are the device backend's and whose
buffers are device arrays. The layers' own ``forward``/``backward`` and the optimiser's own
``update_step`` run unchanged on the clones, so the device executes the kernels the host path
would, in the same order.

Everything that changes from step to step lives in device memory, so a step can be captured once
as a CUDA graph and replayed (:mod:`axonal.models.executors.device`): the training step counter that
keys the dropout masks and the optimiser's 1-based iteration (``counters``, advanced by the last
kernel of each step), the learning rate (a float64 device scalar written between runs), the
running loss sums and the metric counts. Nothing in a step reads a value back to the host.

Shapes: ``x`` batches have the model's input shape (N, ...); targets are what the loss takes.
"""
from __future__ import annotations

import copy

import numpy as np

from axonal import metrics as metrics_module
from axonal._buffers import BufferCache
from axonal.layers.base import configuration_version
from axonal.models.executors.layerwise import make_logs
from axonal.models.objective import OutputLoss, predictions_of, sample_rows
from axonal.models.plan import PlanRunner

# The metric kernels' rule for each accuracy metric (the native loop's rule, cpp/training_loop.cpp).
METRIC_KINDS = {metrics_module.CategoricalAccuracy: "categorical",
                metrics_module.SparseCategoricalAccuracy: "sparse",
                metrics_module.BinaryAccuracy: "binary"}
FULL, LAST = 0, 1  # slots of the loss sums: full batches, and the epoch's smaller last batch


def scalar_view(array, index: int):
    """Element ``index`` of a 1-D device array as a 0-d array sharing its memory (a kernel argument
    read when the kernel runs; plain indexing would give NumPy a copied scalar)."""
    return array[index:index + 1].reshape(())


class _DeviceSteps:
    """What a layer clone sees as the model's step counter: ``value`` is a device int64 scalar;
    ``first_row`` the shard's place in its global batch while a data-parallel step is queued."""

    def __init__(self, value):
        self.value = value
        self.first_row = 0


class DeviceModel:
    """Device arrays and layer/optimiser clones for ``model`` (built, and compiled for training).

    Args:
        model: a built Sequential whose ``device`` is set.
        training: also mirror gradients and optimiser slots, and prepare the training step.
    """

    def __init__(self, model, training: bool, distribution=None):
        self.model, self.device = model, model.device
        self.ops, xp = self.device.ops, self.device.xp
        self._mirrors: dict[int, tuple[np.ndarray, object]] = {}  # id(host array) -> (host, device)
        objective = model.objective
        outputs = len(model.output_names)
        # [training steps so far, the coming update's 1-based iteration]: dropout and Adam read them.
        self.counters = xp.zeros(2, dtype=np.int64)
        self.learning_rate = xp.zeros((), dtype=np.float64)
        # Per output, sums of batch-mean losses: FULL batches and the epoch's smaller LAST batch.
        self.loss_sums = xp.zeros((outputs, 2), dtype=np.float64)
        self.batch_loss = xp.zeros((), dtype=np.float64)
        self._scratch_count = xp.zeros((), dtype=np.int64)  # metric counts of warm-up steps
        self.counted = [m for m in objective.metrics if not isinstance(m, OutputLoss)] if objective else []
        self.metric_counts = xp.zeros(max(len(self.counted), 1), dtype=np.int64)
        self._loss_sum_views = [[self.loss_sums[k, slot:slot + 1].reshape(()) for slot in (FULL, LAST)]
                                for k in range(outputs)]
        self._count_views = [scalar_view(self.metric_counts, m) for m in range(len(self.counted))]
        self.buffers = BufferCache(xp)
        if training and model._prepared_for != configuration_version():
            model._prepare_optimizer()
        # What the layer clones see as the model's step counter (and, under a distribution, the
        # shard's first row in its global batch, which numbers the dropout masks).
        self.steps = _DeviceSteps(scalar_view(self.counters, 0))
        # Under a DataParallel of several ranks: the gradients live in one flat buffer that NCCL
        # sums in buckets, each started during backward (axonal.distribution.nccl).
        self.gradients = self._flat_gradients(distribution) if training and distribution is not None else None
        self.layers = [self._clone_layer(call.layer, training) for call in model.plan.calls]
        self.runner = PlanRunner(model.plan, self.layers, self.ops)
        # Per output: its accuracy metrics as (output index, kernel rule, threshold).
        self.metrics = [(k, METRIC_KINDS[type(metric)], float(getattr(metric, "threshold", 0.5)))
                        for k, metrics in enumerate(objective.output_metrics if objective else [])
                        for metric in metrics]
        self.updates = self._clone_optimizer() if training else []
        self.upload()

    # ----- host <-> device -----------------------------------------------------------------------

    def _mirror(self, host: np.ndarray | None):
        """The device copy of a host array (one per array, however often it is asked for)."""
        if host is None:
            return None
        entry = self._mirrors.get(id(host))
        if entry is None:
            entry = self._mirrors[id(host)] = (host, self.device.xp.empty(host.shape, host.dtype))
        return entry[1]

    def upload(self) -> None:
        """Copy the host's weights, slots, counters and learning rate to the device (the host holds
        the truth between epochs: a callback may have changed any of them)."""
        for host, mirror in self._mirrors.values():
            self.device.upload(host, mirror)
        model = self.model
        iteration = model.optimizer.iterations + 1 if self.updates else 0
        self.device.upload(np.array([model.steps.value, iteration], dtype=np.int64), self.counters)
        self.set_learning_rate()

    def set_learning_rate(self) -> None:
        """Write the optimiser's current learning rate where the update kernels read it."""
        if self.updates:
            self.device.upload(np.array(self.model.optimizer.learning_rate, dtype=np.float64), self.learning_rate)

    def download(self) -> None:
        """Copy the trained weights and slots back into the host arrays (waits for the device)."""
        for host, mirror in self._mirrors.values():
            self.device.download(mirror, out=host)

    # ----- clones --------------------------------------------------------------------------------

    def _clone_layer(self, layer, training: bool):
        """A shallow copy of ``layer`` that runs on the device: its ops, buffers, weights and
        gradients (for training) are the device's; the dropout step is read from the device counter."""
        clone = copy.copy(layer)
        clone.ops = self.ops
        clone.buffers = BufferCache(self.device.xp)
        clone.steps = self.steps
        clone._weights = {name: self._mirror(weight) for name, weight in layer._weights.items()}
        clone._gradients = ({name: self._mirror(gradient) for name, gradient in layer._gradients.items()}
                            if training else {})
        for name, weight in layer._weights.items():
            if getattr(layer, name, None) is weight:  # Dense.kernel, Conv2D.bias...
                setattr(clone, name, clone._weights[name])
        if hasattr(layer, "feature_rows"):  # Rescaling, Normalization: per-feature constants, uploaded like weights
            for name, host in layer.feature_rows().items():
                setattr(clone, name, self._mirror(host))
        return clone

    def _flat_gradients(self, distribution):
        """The trainable gradients' device mirrors as views of one flat buffer, placed in the order
        backward finishes them (the last call's first; a shared layer's at its first call, which
        backward reaches last), as the cpu loop places them (``TrainingLoop::prepare_reduction``)."""
        from axonal.distribution.nccl import GradientBuckets

        model = self.model
        trainable = {id(g) for g in model._gradients}
        first_call: dict[int, tuple[int, int, np.ndarray]] = {}
        for index, call in enumerate(model.plan.calls):
            for position, gradient in enumerate(call.layer._gradients.values()):
                if id(gradient) in trainable and id(gradient) not in first_call:
                    first_call[id(gradient)] = (index, position, gradient)
        ordered = [g for _, _, g in sorted(first_call.values(), key=lambda e: (-e[0], e[1]))]
        ordered += [g for g in model._gradients if id(g) not in first_call]  # none expected; kept reduced
        buckets = GradientBuckets(distribution, self.device, ordered)
        for host, view in zip(ordered, buckets.views):
            self._mirrors[id(host)] = (host, view)
        return buckets

    def _clone_optimizer(self) -> list[tuple]:
        """(optimiser clone, param, grad, slots) per trainable weight, all on the device; the clone
        reads the learning rate and the iteration from device scalars."""
        model = self.model
        optimizer = model.optimizer
        if not optimizer.built:
            optimizer.build(model._parameters)
        clone = copy.copy(optimizer)
        clone.ops = self.ops
        clone._learning_rate = self.learning_rate
        clone.iterations = scalar_view(self.counters, 1)
        return [(clone, self._mirror(param), self._mirror(grad),
                 {name: self._mirror(slot) for name, slot in optimizer.slots_for(param).items()})
                for param, grad in zip(model._parameters, model._gradients)]

    # ----- steps (queued on the device's current stream; nothing waits) ---------------------------

    def train_step(self, xs: list, ys: list, loss_slot: int, shard: tuple[int, int] | None = None) -> None:
        """One training step: forward, fused losses (their means added to ``loss_sums[:, loss_slot]``),
        metric counts, backward, the optimiser's updates, then the counters advance.

        ``shard`` ``(first_row, global_rows)``, under a distribution: ``xs``/``ys`` are this rank's
        rows of a global batch of ``global_rows`` starting at ``first_row`` (dropout masks are
        drawn there); the loss gradient is scaled by ``rows / global_rows`` and the gradients are
        summed over the ranks (NCCL, queued here) before the update. A rank with no rows skips
        forward and backward and contributes zeros."""
        rows = len(xs[0])
        # Under a distribution each bucket's NCCL sum starts on the communication stream as soon as
        # backward has finished its gradients (after_layer), overlapping the earlier layers' backward;
        # finish() joins the streams before the update.
        buckets = self.gradients if shard is not None else None
        if buckets is not None:
            buckets.start()
        if shard is None or rows:
            share = 1.0 if shard is None else rows / shard[1]
            self.steps.first_row = 0 if shard is None else shard[0]
            try:
                outputs = self.forward(xs, training=True)
            finally:
                self.steps.first_row = 0
            self.runner.backward(self._loss(outputs, ys, [views[loss_slot] for views in self._loss_sum_views],
                                            self._count_views, share),
                                 after_layer=None if buckets is None else buckets.layer_done)
        else:
            buckets.zero()
        if buckets is not None:
            buckets.finish()
        for optimizer, param, grad, slots in self.updates:
            optimizer.update_step(param, grad, slots)
        self.ops.increment(self.counters)

    def warm_up(self, xs: list, ys: list) -> None:
        """A training step's forward, loss, metrics and backward, changing no state that outlives
        a step (no update, no counter, scratch sums). The first call of an op allocates its
        workspaces, which must not happen while a step is captured as a graph. State a training
        forward pass moves (BatchNormalization's moving statistics: a layer's ``training_state``)
        is put back afterwards."""
        saved = [(array, array.copy()) for layer in self.layers for array in getattr(layer, "training_state", ())]
        outputs = self.forward(xs, training=True)
        self.runner.backward(self._loss(outputs, ys, [None] * len(outputs),
                                        [self._scratch_count] * len(self.metrics)))
        for array, before in saved:
            array[...] = before

    def test_step(self, xs: list, ys: list, loss_slot: int) -> None:
        """Loss and metric counts of a batch in inference mode."""
        self._loss(self.forward(xs, training=False), ys, [views[loss_slot] for views in self._loss_sum_views],
                   self._count_views)

    def forward(self, xs: list, training: bool) -> list:
        """The model's outputs for batch inputs ``xs``, in device buffers (logits where a loss
        absorbs the output activation)."""
        return self.runner.forward(xs, training)

    def predictions(self, outputs: list) -> list:
        """Outputs as predict returns them: the absorbed activations applied."""
        return predictions_of(self.model.objective, self.ops, self.buffers, outputs)

    def _loss(self, outputs: list, ys: list, loss_sums: list, counts: list, share: float = 1.0) -> list:
        """The fused losses' gradients (each output's mean added to its ``loss_sums`` entry), each
        scaled by its loss weight (and by a shard's ``share`` of its global batch), and the metric counts."""
        objective = self.model.objective
        doutputs = []
        for k, (output, y, loss, weight) in enumerate(zip(outputs, ys, objective.losses, objective.weights)):
            doutput = self.buffers.get(f"doutputs/{k}", output.shape)
            getattr(self.ops, loss.kernel)(sample_rows(doutput), sample_rows(output), y, None, loss_out=self.batch_loss,
                                           loss_sum=loss_sums[k])
            if weight * share != 1.0:
                self.ops.scale(doutput, doutput, weight * share)
            doutputs.append(doutput)
        if self.metrics:
            predictions = self.predictions(outputs)
            for count, (k, kind, threshold) in zip(counts, self.metrics):
                self.ops.accuracy_count(count, sample_rows(predictions[k]), ys[k], kind, threshold)
        return doutputs

    # ----- running logs --------------------------------------------------------------------------

    def reset_sums(self) -> None:
        """Zero the loss sums and metric counts (at the start of an epoch or evaluation)."""
        self.loss_sums.fill(0)
        self.metric_counts.fill(0)

    def logs(self, full_batches: int, last_rows: int, batch_size: int, shard=None) -> dict[str, float]:
        """The running loss and metrics after ``full_batches`` batches of ``batch_size`` rows and a
        last batch of ``last_rows`` (0 when not reached yet); reads the device (waits for it).

        ``shard`` ``(full shard rows, last shard rows, reduce)``, under a distribution: the sums
        hold this rank's shard means, weighed by its shard rows, and ``reduce`` sums the loss
        totals and metric counts over the ranks (in rank order) so every rank logs the same."""
        sums = self.device.download(self.loss_sums)
        counts = self.device.download(self.metric_counts).astype(np.float64)
        seen = full_batches * batch_size + last_rows
        full_weight, last_weight = (batch_size, last_rows) if shard is None else shard[:2]
        totals = sums[:, FULL] * full_weight + sums[:, LAST] * last_weight
        if shard is not None:
            merged = shard[2](np.concatenate([totals, counts]))
            totals, counts = merged[:len(totals)], merged[len(totals):]
        for metric, count in zip(self.counted, counts):
            metric.total, metric.count = float(count), float(seen)
        objective = self.model.objective
        losses = [float(totals[k]) / seen for k in range(len(sums))]
        for tracker, loss in zip(objective.loss_trackers, losses):
            tracker.total, tracker.count = loss * seen, float(seen)
        return make_logs(sum(w * loss for w, loss in zip(objective.weights, losses)), objective.metrics)
