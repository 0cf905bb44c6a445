"""What ``compile`` makes of ``loss``, ``loss_weights`` and ``metrics``: one loss per output.

Keras' rules: ``loss`` is one loss for every output, a list in output order, or a dict keyed by
output name (the name of the layer computing it); ``loss_weights`` likewise (default 1 each);
``metrics`` is a list for a one-output model, else a list of lists in output order or a dict by
output name. The model's loss is Σ weight·loss; a multi-output model also logs each output's own
(unweighted) loss as ``<output>_loss`` and its metrics as ``<output>_<metric>``, as Keras 3 does.
``metrics`` ignore sample and class weights; ``weighted_metrics`` (the same forms) use them, named
as the plain ones unless that name is taken, then ``weighted_<metric>`` (Keras 3's rules).

Each output's softmax (sigmoid) is fused into its categorical (binary) cross-entropy where exact:
the layer then outputs logits, the fused kernel applies the activation, and predictions and
metrics get it applied afterwards (``absorbed``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from axonal import losses as losses_module, metrics as metrics_module
from axonal._validation import check_same_length
from axonal.metrics.base import MeanMetric


def row_width(shape: tuple) -> int:
    """The values of one sample of an output of ``shape`` (batch first): the row the loss kernels and
    metrics read. An output of rank > 2 (an image, a sequence) is one row of all its values, which
    is exact for the element-wise losses (mean squared error, binary cross-entropy): Keras' mean over
    the last axis and then over the rest is the mean over all of them."""
    return int(np.prod(shape[1:], dtype=np.int64))


def sample_rows(array):
    """``array`` (N, ...) viewed as (N, values per sample)."""
    return array if array.ndim == 2 else array.reshape(len(array), -1)


def predictions_of(objective, ops, buffers, outputs: list) -> list:
    """Outputs as predict returns them: the activation a fused loss absorbed applied (into reused
    buffers of ``buffers``), the others as they are. ``objective`` may be None (not compiled)."""
    absorbed = objective.absorbed if objective is not None else [None] * len(outputs)
    predictions = []
    for k, (output, activation) in enumerate(zip(outputs, absorbed)):
        if activation is not None:
            buffer = buffers.get(f"predictions/{k}", output.shape)
            ops.activation_forward(sample_rows(buffer), sample_rows(output), activation, 0.0)
            output = buffer
        predictions.append(output)
    return predictions


class OutputLoss(MeanMetric):
    """The running mean of one output's loss (``<output>_loss`` in the logs)."""

    direction = "down"

    def add(self, value: float, rows: int) -> None:
        self.total += value * rows
        self.count += rows


class Objective:
    """The losses, loss weights and metrics of a model's outputs.

    Args:
        output_names: the model's output names, in order.
        loss: a loss for every output, or a list/dict of them (see the module docstring).
        loss_weights: None, a list or a dict of numbers.
        metrics: identifiers (see the module docstring), not weighted.
        weighted_metrics: identifiers of metrics weighted by the sample (or class) weights.
    """

    def __init__(self, output_names: list[str], loss: Any, loss_weights: Any = None, metrics: Any = None,
                 weighted_metrics: Any = None):
        self.output_names = list(output_names)
        self.losses = [losses_module.get(item) for item in self._per_output("loss", loss, single=True)]
        self._loss_keys = list(loss) if isinstance(loss, dict) else None  # the order Keras lists their losses in
        weights = self._per_output("loss_weights", loss_weights, single=False, default=1.0)
        for name, weight in zip(self.output_names, weights):
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not np.isfinite(weight):
                raise ValueError(f"loss_weights for output {name!r} must be a finite number, received {weight!r}.")
        self.weights = [float(weight) for weight in weights]
        self.metric_identifiers = self._metrics_per_output(metrics)
        self.weighted_metric_identifiers = self._metrics_per_output(weighted_metrics, "weighted_metrics")
        self._weighted: set[int] = set()  # ids of the weighted metrics among output_metrics
        self.absorbed: list[str | None] = [None] * len(self.output_names)
        self._absorbing: frozenset[int] = frozenset()  # the uids of the layers whose activation is absorbed
        self.output_metrics: list[list[metrics_module.Metric]] = [[] for _ in self.output_names]
        several = len(self.output_names) > 1
        self.loss_trackers = [OutputLoss(f"{name}_loss") for name in self.output_names] if several else []
        self.metrics: list[metrics_module.Metric] = list(self.loss_trackers)

    @property
    def has_output_metrics(self) -> bool:
        return bool(self.metrics)

    def _per_output(self, argument: str, value: Any, single: bool, default: Any = None) -> list:
        names = self.output_names
        if value is None:
            if default is None:
                raise ValueError(f"compile() needs a {argument}. Fix: e.g. loss='categorical_crossentropy'.")
            return [default] * len(names)
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(names))
            if unknown:
                raise ValueError(f"compile({argument}=...) names outputs {unknown} the model does not have; its "
                                 f"outputs are {names}. Fix: key {argument} by these names.")
            if default is None and len(value) < len(names):
                missing = [name for name in names if name not in value]
                raise ValueError(f"compile({argument}=...) gives no loss for outputs {missing}. Fix: add them "
                                 f"to the dict, e.g. {{{missing[0]!r}: 'mse'}}.")
            return [value.get(name, default) for name in names]
        if isinstance(value, (list, tuple)):
            if len(value) != len(names):
                raise ValueError(f"compile({argument}=...) is a list of {len(value)} but the model has "
                                 f"{len(names)} outputs {names}. Fix: give one per output, in order, or a dict.")
            return list(value)
        if single:
            return [value] * len(names)
        raise TypeError(f"compile({argument}=...) must be a list or a dict keyed by output name, received "
                        f"{value!r:.80}.")

    def _metrics_per_output(self, metrics: Any, argument: str = "metrics") -> list:
        names = self.output_names
        if metrics is None:
            return [None] * len(names)
        if len(names) == 1:
            if isinstance(metrics, dict):
                return [self._per_output(argument, metrics, single=False, default=[])[0]]
            return [metrics]
        if isinstance(metrics, dict):
            return self._per_output(argument, metrics, single=False, default=[])
        if isinstance(metrics, (list, tuple)) and len(metrics) == len(names) and all(
                item is None or isinstance(item, (list, tuple)) for item in metrics):
            return list(metrics)
        raise ValueError(f"For a model of several outputs {names}, {argument} must be a dict keyed by output name "
                         f"or a list of one list per output, received {argument}={metrics!r:.80}. Fix: e.g. "
                         f"{argument}={{{names[0]!r}: ['accuracy']}}.")

    # ----- resolved against the built model -------------------------------------------------------

    def check(self, model) -> tuple[list, list, list]:
        """Each output's absorbed activation, its resolved metrics and its weighted metrics, or raise
        where ``configure`` would, changing nothing (``compile`` checks everything before it sets
        anything)."""
        absorbed = [self._fusable(model, k, loss) for k, loss in enumerate(self.losses)]
        found = [[self._metrics_of(k, identifiers[k], loss, tuple(shape))
                  for k, (loss, shape) in enumerate(zip(self.losses, model.output_shapes))]
                 for identifiers in (self.metric_identifiers, self.weighted_metric_identifiers)]
        return absorbed, found[0], found[1]

    def _metrics_of(self, k: int, identifiers, loss, shape: tuple) -> list:
        """Output ``k``'s metrics. For an output of rank > 2, ``"accuracy"`` is chosen from its last
        axis, as Keras does (binary accuracy of each value when it is 1), and a metric that works
        along the last axis (categorical and top-k accuracies) is refused: the metrics read one row
        of all a sample's values."""
        if len(shape) <= 2:
            return metrics_module.get_list(identifiers, loss.sparse_labels, row_width(shape))
        found = metrics_module.get_list(identifiers, loss.sparse_labels, shape[-1])
        along_last_axis = (metrics_module.CategoricalAccuracy, metrics_module.SparseCategoricalAccuracy,
                           metrics_module.TopKCategoricalAccuracy, metrics_module.SparseTopKCategoricalAccuracy)
        for metric in found:
            if isinstance(metric, along_last_axis):
                raise ValueError(
                    f"Metric {metric.name!r} works along the last axis, but output {self.output_names[k]!r} has shape "
                    f"{shape}: a class per pixel or per step is not supported yet. Fix: use element-wise metrics "
                    "('mae', 'mse', 'accuracy' on a one-channel output, 'auc'), or end the model in one row per "
                    "sample.")
        return found

    def configure(self, model) -> None:
        """Fuse output activations into the losses where exact, and resolve the metrics (they need
        each output's width)."""
        self.absorbed, plain, weighted = self.check(model)
        self._absorbing = frozenset(model.plan.producer[model.plan.outputs[k]].owner.uid
                                    for k, activation in enumerate(self.absorbed) if activation is not None)
        several = len(self.output_names) > 1
        taken = set()
        for found, is_weighted in ((plain, False), (weighted, True)):
            for output, metrics in zip(self.output_names, found):
                for metric in metrics:
                    # From the name as given: a Metric object the program passed is renamed at every
                    # compile and fit.
                    prefix = f"{output}_" if several else ""
                    name = prefix + metric.given_name
                    metric.name = prefix + f"weighted_{metric.given_name}" if is_weighted and name in taken else name
                    taken.add(metric.name)
        self.output_metrics = [mine + theirs for mine, theirs in zip(plain, weighted)]
        self._weighted = {id(metric) for metrics in weighted for metric in metrics}
        # In the order evaluate() lists them: compile's for one output; for several, each output's
        # loss in output order, then the metrics by name (Keras 3's Trainer does the same).
        everything = [metric for metrics in plain + weighted for metric in metrics]
        self.metrics = (everything if not several
                        else self._trackers_in_keras_order(model) + sorted(everything, key=lambda metric: metric.name))

    def _trackers_in_keras_order(self, model) -> list:
        """The per-output losses as Keras 3 lists them: in output order, except for a model whose
        outputs are a dict, where the loss dict's order (or the outputs dict's, for one loss) counts."""
        keys = model._output_keys
        if keys:
            order = self._loss_keys if self._loss_keys and set(self._loss_keys) == set(keys) else keys
            return [self.loss_trackers[self.output_names.index(key)] for key in order]
        return list(self.loss_trackers)

    def absorbs(self, layer) -> bool:
        """Whether a loss absorbs ``layer``'s activation while the model compiled with it runs."""
        return layer.uid in self._absorbing

    def _fusable(self, model, k: int, loss) -> str | None:
        """The activation output ``k``'s loss absorbs (None: none), or raise why it cannot."""
        shape = tuple(model.output_shapes[k])
        if len(shape) > 2 and loss.fused_activation == "softmax":  # a softmax over each pixel: not one row
            raise ValueError(
                f"Loss {loss.name!r} takes outputs of shape (None, K), but output {self.output_names[k]!r} has shape "
                f"{shape}: a cross-entropy per pixel or per step is not supported yet (mean squared error and "
                "binary cross-entropy are). Fix: end the model with Flatten() or a global pooling and a Dense "
                "layer, so the output is one row per sample.")
        fused = loss.fused_activation
        if fused is None or loss.from_logits:
            return None
        call = model.plan.producer[model.plan.outputs[k]]
        layer = call.owner
        if layer.output_activation != fused:
            ending = layer.output_activation or "no activation"
            raise ValueError(
                f"Loss {loss.name!r} expects the output layer {layer.name!r} to end in a {fused} activation, but "
                f"it ends in {ending}. Fix: use activation='{fused}' on the last layer, or pass "
                f"{type(loss).__name__}(from_logits=True) if it outputs logits.")
        if model.plan.consumers[call.output] > 1 or sum(c.owner is layer for c in model.plan.calls) > 1:
            raise ValueError(
                f"Output layer {layer.name!r} ends in {fused} and also feeds other layers, so its {fused} cannot "
                f"be fused into the loss {loss.name!r}. Fix: end the output with its own "
                f"Activation('{fused}') layer, or use a linear layer and {type(loss).__name__}(from_logits=True).")
        return fused

    def prepare_targets(self, model, ys: list, first_input: np.ndarray, arguments: list[str],
                        x_argument: str) -> list:
        """Each output's labels converted once to what its loss takes, checked against the output
        and against the number of samples of ``first_input``."""
        targets = []
        for loss, y, name, shape, argument in zip(self.losses, ys, self.output_names, model.output_shapes, arguments):
            if y is None:
                raise ValueError(f"{argument} is None: output {name!r} needs labels to compute its loss. "
                                 f"Fix: pass them, e.g. model.fit(x, y).")
            target = loss.prepare_targets(self._as_rows_of(y, shape, name, argument), row_width(shape), name,
                                          argument)
            check_same_length(first_input, target, x_argument, argument)
            targets.append(target)
        return targets

    @staticmethod
    def _as_rows_of(y, shape: tuple, name: str, argument: str):
        """Labels of an output of rank > 2 as rows (N, values per sample), after checking that each
        sample's labels have the output's shape (a trailing axis of 1 may be left out, as Keras
        allows); ``y`` as it is for an output of rank 2."""
        if len(shape) <= 2 or y is None:
            return y
        labels = np.asarray(y)
        sample = tuple(labels.shape[1:])
        if sample != tuple(shape[1:]) and not (shape[-1] == 1 and sample == tuple(shape[1:-1])):
            raise ValueError(f"{argument} for output {name!r} must hold one target of the output's shape per sample, "
                             f"{(len(labels),) + tuple(shape[1:])}, received shape {labels.shape}. Fix: give "
                             f"{argument} the shape (N,) + {tuple(shape[1:])}.")
        return labels.reshape(len(labels), -1)

    def compute(self, ops, doutputs: list, outputs: list, ys: list, sample_weight) -> float:
        """The weighted sum of the outputs' losses; writes each output's weighted gradient."""
        total = 0.0
        for k, (loss, weight) in enumerate(zip(self.losses, self.weights)):
            value = loss.compute(ops, sample_rows(doutputs[k]), sample_rows(outputs[k]), ys[k], sample_weight)
            if weight != 1.0:
                ops.scale(doutputs[k], doutputs[k], weight)
            if self.loss_trackers:
                self.loss_trackers[k].add(value, len(outputs[k]))
            total += weight * value
        return total

    def is_weighted(self, metric) -> bool:
        """Whether ``metric`` is one of ``weighted_metrics`` (it sees the sample weights)."""
        return id(metric) in self._weighted

    def update_metrics(self, ys: list, predictions: list, sample_weight) -> None:
        """Update each output's metrics; only the weighted metrics see ``sample_weight``."""
        for metrics, y, prediction in zip(self.output_metrics, ys, predictions):
            for metric in metrics:
                weights = sample_weight if self.is_weighted(metric) else None
                metric.update_state(y, sample_rows(prediction), weights)

