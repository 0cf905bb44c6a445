"""Losses, with Keras' names. Each is computed by one fused backend kernel that returns the mean
loss of a batch and writes its gradient.

Cross-entropies are fused with their output activation: when the output layer ends in softmax
(sigmoid) and the loss is a categorical (binary) cross-entropy, the model runs that layer without
its activation and hands the logits to ``softmax_cross_entropy`` (``sigmoid_binary_cross_entropy``).
That is exact (log-sum-exp, softplus) and needs none of Keras' probability clipping. Pass
``from_logits=True`` when the output layer is linear on purpose.

Example:
    >>> model.compile(optimizer="rmsprop", loss="categorical_crossentropy")
    >>> model.compile(optimizer="adam", loss=losses.BinaryCrossentropy(from_logits=True))
"""
from __future__ import annotations

import warnings
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from axonal import loss_functions
from axonal._validation import as_float_array, check_not_empty, check_numeric, lookup
from axonal.loss_functions import (binary_crossentropy, categorical_crossentropy, mae, mean_absolute_error,  # noqa: F401
                                   mean_squared_error, mse, sparse_categorical_crossentropy)


class LossKernel(NamedTuple):
    """How a loss is computed: one fused backend op that returns the loss and writes its gradient."""

    op: str                        # the backend op: softmax_cross_entropy, sigmoid_binary_cross_entropy...
    fused_activation: str | None   # the output activation the op absorbs (it takes the logits), or None
    sparse_labels: bool            # labels are class ids (N,) rather than rows (N, K)
    loop: str                      # its name in the native training loop (TrainingLoop's loss)


# The loss table, by Keras name (each class's ``table_name``): declared once, read by the classes
# below and by the training loops; tests/test_tables.py checks every op exists on every backend.
KERNELS: dict[str, LossKernel] = {
    "categorical_crossentropy": LossKernel("softmax_cross_entropy", "softmax", False, "softmax_cross_entropy"),
    "sparse_categorical_crossentropy": LossKernel("softmax_cross_entropy", "softmax", True,
                                                  "sparse_softmax_cross_entropy"),
    "binary_crossentropy": LossKernel("sigmoid_binary_cross_entropy", "sigmoid", False,
                                      "sigmoid_binary_cross_entropy"),
    "mean_squared_error": LossKernel("mean_squared_error", None, False, "mean_squared_error"),
}


class Loss:
    """Base class.

    Attributes:
        name: the name used in logs.
        fused_activation: the output activation this loss absorbs (``"softmax"``, ``"sigmoid"``),
            or None when the loss takes the output layer's activated output.
        from_logits: whether the output layer's values are already logits.
        sparse_labels: whether the labels are class ids of shape (N,) rather than rows (N, K).
        kernel: the name of the backend op computing the loss and its gradient.
    """

    fused_activation: str | None = None
    sparse_labels = False
    kernel: str

    def __init_subclass__(cls, table_name: str | None = None, **kwargs):
        """``class X(Loss, table_name="...")`` takes kernel, fused_activation and sparse_labels
        from that row of KERNELS."""
        super().__init_subclass__(**kwargs)
        if table_name is not None:
            row = KERNELS[table_name]
            cls.table_name, cls.kernel = table_name, row.op
            cls.fused_activation, cls.sparse_labels = row.fused_activation, row.sparse_labels

    def __init__(self, name: str, from_logits: bool = False):
        self.name = name
        self.from_logits = from_logits

    def prepare_targets(self, y: Any, output_width: int, layer_name: str, argument: str = "y") -> np.ndarray:
        """Check labels against the output layer and convert them once to what the kernel takes.

        The default suits float targets of shape (N, K); a 1-D ``y`` is accepted when K is 1.
        """
        targets = as_float_array(y, argument)
        if targets.ndim == 1 and output_width == 1:
            targets = targets.reshape(-1, 1)
        if targets.ndim != 2 or targets.shape[1] != output_width:
            raise self._shape_error(targets.shape, output_width, layer_name, argument,
                                    f"give {argument} the shape (N, {output_width}), one row per sample")
        return targets

    def compute(self, ops: ModuleType, doutputs: np.ndarray, outputs: np.ndarray, targets: np.ndarray,
                sample_weight: np.ndarray | None = None) -> float:
        """Return the batch's mean loss and write d loss / d outputs into ``doutputs``.

        ``sample_weight`` (N,) weights each sample's loss and gradient; the weighted sum is divided
        by N, Keras' ``sum_over_batch_size`` reduction.
        """
        return getattr(ops, self.kernel)(doutputs, outputs, targets, sample_weight)

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The loss of a batch as Keras computes it outside ``fit``: the per-sample losses of
        :mod:`axonal.loss_functions` (probabilities clipped unless ``from_logits``), weighted by
        ``sample_weight`` (N,), summed and divided by N. Returns a float32 scalar."""
        return loss_functions.reduce_over_batch(self.per_sample(y_true, y_pred), sample_weight)

    def per_sample(self, y_true, y_pred) -> np.ndarray:
        """The loss of each sample, shape (N,)."""
        return getattr(loss_functions, self.table_name)(y_true, y_pred, from_logits=self.from_logits)

    def get_config(self) -> dict:
        return {"name": self.name, "from_logits": self.from_logits}

    @classmethod
    def from_config(cls, config: dict) -> "Loss":
        return cls(**config)

    def _shape_error(self, shape: tuple, output_width: int, layer_name: str, argument: str,
                     fix: str) -> ValueError:
        return ValueError(
            f"Loss {self.name!r} cannot use labels {argument} of shape {shape}: the output layer "
            f"{layer_name!r} produces (None, {output_width}). Fix: {fix}.")


class CategoricalCrossentropy(Loss, table_name="categorical_crossentropy"):
    """Cross-entropy between one-hot (or probability) labels of shape (N, K) and a softmax output.

    Example:
        >>> model.compile(optimizer="rmsprop", loss=CategoricalCrossentropy(), metrics=["accuracy"])
    """

    def __init__(self, from_logits: bool = False, name: str = "categorical_crossentropy"):
        super().__init__(name, from_logits)

    def prepare_targets(self, y, output_width, layer_name, argument="y"):
        shape = np.shape(y)
        if output_width > 1 and (len(shape) == 1 or shape[1:] == (1,)):
            raise self._shape_error(shape, output_width, layer_name, argument,
                                    f"these look like class ids: one-hot encode them with {argument} = "
                                    f"to_categorical({argument}, {output_width}), or use "
                                    "loss='sparse_categorical_crossentropy'")
        targets = super().prepare_targets(y, output_width, layer_name, argument)
        _check_unit_interval(self, targets, argument, "one-hot rows or class probabilities",
                             f"one-hot encode class ids with to_categorical({argument}, {output_width}), "
                             "or scale the rows to probabilities")
        sums = targets.sum(axis=1)  # float32: a float64 sum would allocate a cast buffer of the whole array
        off = np.flatnonzero(np.abs(sums - 1, out=sums) > 1e-3)
        sums = targets.sum(axis=1) if off.size else sums
        if off.size:  # soft labels sum to 1 too; multi-hot or unnormalised rows do not
            warnings.warn(
                f"Loss {self.name!r}: {off.size} of {len(targets)} rows of {argument} do not sum to 1 (row "
                f"{off[0]} sums to {sums[off[0]]:.4g}: {np.array2string(targets[off[0]][:10], precision=3)}); "
                "the cross-entropy with a softmax output treats each row as a distribution. Fix: normalise "
                f"the rows ({argument} / {argument}.sum(axis=1, keepdims=True)), or for several labels per "
                "sample use a sigmoid output with loss='binary_crossentropy'.", UserWarning, stacklevel=2)
        return targets


class SparseCategoricalCrossentropy(Loss, table_name="sparse_categorical_crossentropy"):
    """Cross-entropy between integer class ids of shape (N,) or (N, 1) and a softmax output.

    Example:
        >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    """

    def __init__(self, from_logits: bool = False, name: str = "sparse_categorical_crossentropy"):
        super().__init__(name, from_logits)

    def prepare_targets(self, y, output_width, layer_name, argument="y"):
        labels = np.asarray(y)
        check_numeric(labels, argument)
        check_not_empty(labels, argument)
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels.reshape(-1)
        if labels.ndim != 1:
            raise self._shape_error(labels.shape, output_width, layer_name, argument,
                                    "pass one class id per sample; for one-hot rows use "
                                    "loss='categorical_crossentropy'")
        if labels.dtype.kind == "f" and not np.isfinite(labels).all():  # inf passes the integer test below
            bad = np.flatnonzero(~np.isfinite(labels))
            raise ValueError(f"Loss {self.name!r} expects integer class ids in [0, {output_width}) in {argument}, "
                             f"received {bad.size} NaN or infinite values (the first, {labels[bad[0]]}, at index "
                             f"{bad[0]}). Fix: drop those samples or give them their class id.")
        if labels.dtype.kind == "f" and not np.array_equal(labels, np.round(labels)):
            raise ValueError(f"Loss {self.name!r} expects integer class ids in {argument}, received "
                             f"non-integer values such as {labels[labels != np.round(labels)][0]}. "
                             "Fix: pass class ids (0, 1, 2, ...).")
        if labels.min() < 0 or labels.max() >= output_width:
            raise ValueError(f"Loss {self.name!r} expects class ids in [0, {output_width}) for output "
                             f"layer {layer_name!r}, received values from {labels.min()} to "
                             f"{labels.max()}. Fix: remap the labels, or give the output layer "
                             f"{int(labels.max()) + 1} units.")
        return np.ascontiguousarray(labels, dtype=np.int64)


class BinaryCrossentropy(Loss, table_name="binary_crossentropy"):
    """Cross-entropy between 0/1 labels of shape (N, K) (or (N,) when K is 1) and a sigmoid output.

    Example:
        >>> model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    """

    def __init__(self, from_logits: bool = False, name: str = "binary_crossentropy"):
        super().__init__(name, from_logits)

    def prepare_targets(self, y, output_width, layer_name, argument="y"):
        targets = super().prepare_targets(y, output_width, layer_name, argument)
        _check_unit_interval(self, targets, argument, "0/1 labels or probabilities",
                             "if they are class ids 0..K-1, use a softmax output of K units with "
                             "loss='sparse_categorical_crossentropy'; if they are -1/1, map them with "
                             f"{argument} = ({argument} + 1) / 2")
        return targets


class MeanSquaredError(Loss, table_name="mean_squared_error"):
    """Mean over samples and outputs of ``(prediction - target)²``.

    Example:
        >>> model.compile(optimizer=SGD(0.5), loss="mse")
    """

    def __init__(self, name: str = "mean_squared_error"):
        super().__init__(name)

    def per_sample(self, y_true, y_pred):
        return loss_functions.mean_squared_error(y_true, y_pred)

    def get_config(self):
        return {"name": self.name}


_ONE_BITS = int(np.float32(1).view(np.uint32))


def _check_unit_interval(loss: Loss, targets: np.ndarray, argument: str, expected: str, fix: str) -> None:
    """Refuse labels outside [0, 1] for a cross-entropy (a min and a max, once per call): its loss
    is unbounded below there, so training would diverge instead of failing."""
    # One reduction in the common case: float32 values in [0, 1] are the bit patterns 0..0x3F800000
    # (negative values, -0.0 included, have the sign bit set and so read as larger integers).
    if targets.dtype == np.float32 and targets.view(np.uint32).max() <= _ONE_BITS:
        return
    low, high = targets.min(), targets.max()
    if low >= 0 and high <= 1:
        return
    bad = np.flatnonzero((targets < 0) | (targets > 1))
    rows, values = np.unique(bad // targets.shape[1]), np.unique(targets.reshape(-1)[bad])
    shown = ", ".join(f"{value:g}" for value in values[:5]) + (" ..." if values.size > 5 else "")
    raise ValueError(f"Loss {loss.name!r} expects {expected} in [0, 1] in {argument}, received values from "
                     f"{low:g} to {high:g} ({shown} in {rows.size} of {len(targets)} rows, the first row "
                     f"{rows[0]}). Fix: {fix}.")


_BY_NAME = {
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    **{cls.__name__.lower(): cls for cls in (CategoricalCrossentropy, SparseCategoricalCrossentropy,
                                             BinaryCrossentropy, MeanSquaredError)},
}


def get(identifier: str | Loss) -> Loss:
    """A loss from its Keras name (``"categorical_crossentropy"``, ``"mse"``...), its Keras function
    (``losses.categorical_crossentropy``) or itself.

    Raises:
        ValueError: for an unknown name or None.
        TypeError: for anything else (custom Python loss functions cannot run in the fused kernels).
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        return lookup("loss", identifier, _BY_NAME)()
    name = getattr(identifier, "__name__", None)
    if callable(identifier) and getattr(loss_functions, str(name), None) is identifier and name in _BY_NAME:
        return _BY_NAME[name]()  # Keras' function, e.g. loss=keras.losses.categorical_crossentropy
    if identifier is None:
        raise ValueError("compile() needs a loss, received loss=None. "
                         "Fix: pass e.g. loss='categorical_crossentropy'.")
    raise TypeError(f"Unsupported loss {identifier!r}: expected one of {sorted(_BY_NAME)} or a "
                    "Loss instance from axonal.losses.")
